//! The standard `process_*` metrics (CPU time, memory, file descriptors, threads, start
//! time), read from `/proc/self` at each scrape. Elsewhere than Linux there are none.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

pub(super) fn register(r: &mut Registry) {
    r.register_collector(Box::new(Process));
}

#[derive(Debug)]
struct Process;

/// What one scrape read; a figure that could not be read is left out.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Sample {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<i64>,
    pub virtual_bytes: Option<i64>,
    pub threads: Option<i64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<i64>,
    pub max_fds: Option<i64>,
}

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = sample();
        if let Some(v) = s.cpu_seconds {
            let help = "User and system CPU time spent, in seconds.";
            emit(
                &mut encoder,
                "process_cpu_seconds",
                help,
                ConstCounter::new(v),
            )?;
        }
        let gauges: [(&str, &str, Option<i64>); 5] = [
            (
                "process_resident_memory_bytes",
                "Resident memory size, in bytes.",
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size, in bytes.",
                s.virtual_bytes,
            ),
            ("process_threads", "OS threads in the process.", s.threads),
            ("process_open_fds", "Open file descriptors.", s.open_fds),
            (
                "process_max_fds",
                "The limit on open file descriptors.",
                s.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                emit(&mut encoder, name, help, ConstGauge::new(v))?;
            }
        }
        if let Some(v) = s.start_time_seconds {
            let help = "Start time of the process since the Unix epoch, in seconds.";
            emit(
                &mut encoder,
                "process_start_time_seconds",
                help,
                ConstGauge::new(v),
            )?;
        }
        Ok(())
    }
}

/// Writes one metric, with its name and help, to the scrape. (Unlike `Registry::register`,
/// the descriptor takes the help as it is: the full stop is ours.)
fn emit(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: impl EncodeMetric,
) -> Result<(), std::fmt::Error> {
    let m = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(m)
}

/// Clock ticks per second in `/proc`'s times: USER_HZ, which Linux fixes at 100 for user
/// space on every architecture it runs this on (sysconf(_SC_CLK_TCK) would need `unsafe`).
#[cfg(target_os = "linux")]
const USER_HZ: f64 = 100.0;

#[cfg(target_os = "linux")]
pub(super) fn sample() -> Sample {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let stat = read("/proc/self/stat");
    // The command name (field 2) may hold spaces: the fields that follow start after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    // Numbered as in proc(5), from field 3 (the state) on.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let status = read("/proc/self/status");
    // `VmRSS:   1234 kB`
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let boot = read("/proc/stat")
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    // `Max open files            1024                 4096                 files`
    let max_fds = read("/proc/self/limits")
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<i64>().ok());
    Sample {
        cpu_seconds: field(14)
            .zip(field(15))
            .map(|(u, s)| (u + s) as f64 / USER_HZ),
        resident_bytes: kib("VmRSS:").map(|k| k * 1024),
        virtual_bytes: kib("VmSize:").map(|k| k * 1024),
        threads: kib("Threads:"),
        start_time_seconds: field(22)
            .zip(boot)
            .map(|(start, boot)| boot as f64 + start as f64 / USER_HZ),
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as i64),
        max_fds,
    }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn sample() -> Sample {
    Sample::default()
}
