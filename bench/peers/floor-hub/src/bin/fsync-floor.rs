//! The floor under any store that makes each message durable before it acks it: the CPU one
//! append and its `fdatasync` cost on a filesystem, and nothing else (no SQL, no pages, no
//! threads to wake). A server that commits each message on its own pays at least this much per
//! message on top of its fan-out; at N receivers, this ÷ N per delivery.
//!
//! It writes a file of zeros first and fsyncs it (as the server writes its WAL out to its
//! working size when it opens), so the appends overwrite blocks the file has: no block
//! allocation and no size change per append, only the data, the inode's times and the cache
//! flush. Then `COUNT` times, `RATE` per second: `BYTES` at the next offset, `fdatasync`.
//!
//! Usage: `fsync-floor DIR [COUNT] [RATE] [BYTES]` (defaults 400, 50, 200). Prints one JSON
//! line: the appends, their size, this thread's CPU per append (µs) and its context switches per
//! append (the waits for the disk).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: fsync-floor DIR [COUNT] [RATE] [BYTES]");
        std::process::exit(2);
    };
    let num = |i: usize, default: u64| -> u64 {
        args.get(i).map_or(default, |s| {
            s.parse().unwrap_or_else(|_| {
                eprintln!("fsync-floor: not a number: {s}");
                std::process::exit(2)
            })
        })
    };
    let (count, rate, bytes) = (num(1, 400).max(1), num(2, 50).max(1), num(3, 200).max(1));
    if let Err(e) = run(&dir, count, rate, bytes) {
        eprintln!("fsync-floor: {e}");
        std::process::exit(1);
    }
}

fn run(dir: &Path, count: u64, rate: u64, bytes: u64) -> std::io::Result<()> {
    let path = dir.join("fsync-floor.dat");
    let file = prepared(&path, count * bytes)?;
    let record = vec![b'm'; bytes as usize];
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let (cpu0, switches0) = (thread_cpu_ns()?, thread_switches()?);
    let start = Instant::now();
    for i in 0..count {
        file.write_all_at(&record, i * bytes)?;
        file.sync_data()?;
        let next = start + period * (i as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let (cpu, switches) = (thread_cpu_ns()? - cpu0, thread_switches()? - switches0);
    drop(file);
    std::fs::remove_file(&path)?;
    println!(
        "{{\"appends\":{count},\"bytes\":{bytes},\"cpu_us_per_append\":{:.1},\
         \"switches_per_append\":{:.2}}}",
        cpu as f64 / 1e3 / count as f64,
        switches as f64 / count as f64
    );
    Ok(())
}

/// A new file of `len` zeros, on disk (data and size) before the first append.
fn prepared(path: &Path, len: u64) -> std::io::Result<File> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    Ok(file)
}

/// This thread's time on a CPU so far (ns): the first field of its `schedstat`.
fn thread_cpu_ns() -> std::io::Result<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    field(s.split_whitespace().next(), "schedstat")
}

/// This thread's context switches so far, voluntary and not.
fn thread_switches() -> std::io::Result<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/status")?;
    let mut total = 0;
    for line in s.lines() {
        if let Some(v) = line
            .strip_prefix("voluntary_ctxt_switches:")
            .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
        {
            total += field(Some(v.trim()), "status")?;
        }
    }
    Ok(total)
}

fn field(v: Option<&str>, file: &str) -> std::io::Result<u64> {
    v.and_then(|v| v.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unreadable /proc/thread-self/{file}")))
}
