//! Measurements around the load: latency histograms, the server's CPU time (its process CPU
//! clock) and RSS (from `/proc/<pid>`), this process's own CPU time (getrusage), and the
//! open-files limit.

use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use nix::sys::resource::{getrlimit, getrusage, setrlimit, Resource, UsageWho};
use serde::Serialize;

/// Latencies in nanoseconds, 3 significant digits, up to an hour.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("constant, valid bounds")
}

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    LatencySummary {
        samples: h.len(),
        p50_us: us(h.value_at_quantile(0.50)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        max_us: us(h.max()),
    }
}

/// Raises the soft open-files limit to the hard one (20000 on these machines).
pub fn raise_nofile() -> Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit")?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).context("setrlimit")?;
    }
    Ok(hard)
}

/// CPU time (user + system) this process has used.
pub fn self_cpu() -> Duration {
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                    + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// The server process being measured, if its pid was given.
#[derive(Debug, Clone, Copy)]
pub struct ServerProc {
    pub pid: Option<u32>,
}

/// Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux of this kind).
const TICKS_PER_SEC: f64 = 100.0;

impl ServerProc {
    /// CPU time of all the server's threads, those that ended included, in seconds: its process
    /// CPU clock (nanoseconds), or where that cannot be read utime + stime from /proc (10 ms
    /// ticks, too coarse for a phase that costs the server a tenth of a second).
    pub fn cpu_secs(&self) -> Option<f64> {
        let pid = self.pid?;
        let clock = nix::time::clock_getcpuclockid(nix::unistd::Pid::from_raw(pid as i32));
        match clock.and_then(nix::time::clock_gettime) {
            Ok(t) => Some(t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9),
            Err(_) => proc_stat_cpu_secs(pid),
        }
    }

    /// Resident set size in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.pid?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_ascii_whitespace().next())
            .and_then(|v| v.parse().ok())
    }
}

/// utime + stime of all the threads of `pid`, from `/proc/<pid>/stat`.
fn proc_stat_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after its closing ')'.
    let after = &stat[stat.rfind(')')? + 2..];
    let mut fields = after.split_ascii_whitespace();
    // After ')' the fields start at 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// The one CPU a process is pinned to (`Cpus_allowed_list` of `/proc/<pid>/status`), if one.
fn pinned_cpu(pid: &str) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
        .trim();
    list.parse().ok()
}

/// Busy time (everything but idle and iowait) of one CPU since boot, in seconds.
fn cpu_busy_secs(cpu: usize) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let prefix = format!("cpu{cpu} ");
    let line = stat.lines().find(|l| l.starts_with(&prefix))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    let busy: u64 = v
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, x)| x)
        .sum();
    Some(busy as f64 / TICKS_PER_SEC)
}

/// Server and load-generator CPU over one measured interval, and how busy their two CPUs were
/// with anything else (another build on the machine moves every figure).
#[derive(Debug, Clone, Copy)]
pub struct CpuMark {
    at: std::time::Instant,
    server: Option<f64>,
    me: Duration,
    server_cpu: Option<(usize, f64)>,
    my_cpu: Option<(usize, f64)>,
}

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct CpuUse {
    pub wall_s: f64,
    pub server_cpu_s: Option<f64>,
    pub loadgen_cpu_s: f64,
    /// Share of one core the load generator used: near 1.0 means it may be the bottleneck.
    pub loadgen_busy: f64,
    /// Share of the server's (pinned) CPU used by other processes meanwhile.
    pub others_on_server_cpu: Option<f64>,
    /// Share of the load generator's (pinned) CPU used by other processes meanwhile.
    pub others_on_loadgen_cpu: Option<f64>,
}

impl CpuMark {
    pub fn now(server: &ServerProc) -> Self {
        let busy = |cpu: Option<usize>| cpu.and_then(|c| Some((c, cpu_busy_secs(c)?)));
        CpuMark {
            at: std::time::Instant::now(),
            server: server.cpu_secs(),
            me: self_cpu(),
            server_cpu: busy(server.pid.and_then(|p| pinned_cpu(&p.to_string()))),
            my_cpu: busy(pinned_cpu("self")),
        }
    }

    pub fn since(&self, server: &ServerProc) -> CpuUse {
        let wall = self.at.elapsed().as_secs_f64();
        let me = (self_cpu().saturating_sub(self.me)).as_secs_f64();
        let server_cpu = match (self.server, server.cpu_secs()) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let others = |mark: Option<(usize, f64)>, own: Option<f64>| {
            let (cpu, before) = mark?;
            let used = cpu_busy_secs(cpu)? - before;
            let own = own?;
            (wall > 0.0).then(|| ((used - own) / wall).clamp(0.0, 1.0))
        };
        CpuUse {
            others_on_server_cpu: others(self.server_cpu, server_cpu),
            others_on_loadgen_cpu: others(self.my_cpu, Some(me)),
            wall_s: wall,
            server_cpu_s: server_cpu,
            loadgen_cpu_s: me,
            loadgen_busy: if wall > 0.0 { me / wall } else { 0.0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_proc_entry() {
        let me = ServerProc {
            pid: Some(std::process::id()),
        };
        assert!(me.rss_kib().unwrap_or(0) > 0);
        let ticks = proc_stat_cpu_secs(std::process::id()).expect("/proc/self/stat");
        assert!(ticks >= 0.0);
    }

    /// A phase that costs the server a few milliseconds must show them: /proc's 10 ms ticks
    /// would round them to 0 or 10.
    #[test]
    fn server_cpu_is_read_to_the_millisecond() {
        let me = ServerProc {
            pid: Some(std::process::id()),
        };
        let before = me.cpu_secs().expect("cpu");
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(3) {
            std::hint::black_box(start.elapsed());
        }
        // Other tests' threads may add theirs: only the lower bound, and no whole ticks.
        let spent = me.cpu_secs().expect("cpu") - before;
        assert!(spent > 0.0025, "{spent}");
        let ticks = spent * TICKS_PER_SEC;
        assert!(
            (ticks - ticks.round()).abs() > 1e-6,
            "{spent} s: whole ticks"
        );
    }

    #[test]
    fn summary_of_known_values() {
        let mut h = new_histogram();
        for v in 1..=100u64 {
            h.saturating_record(v * 1000);
        }
        let s = summarize(&h);
        assert_eq!(s.samples, 100);
        assert!((s.p50_us - 50.0).abs() < 0.1);
        assert!((s.p99_us - 99.0).abs() < 0.1);
    }
}
