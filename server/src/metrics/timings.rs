//! Histograms of how long things take, in seconds. Each is recorded once per ack, per store
//! group or per flusher pass (a lock and a few adds), never once per delivery.

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Timings {
    /// From reading a send to queueing its ack (which waits for the fsync).
    pub ack_latency: Histogram,
    /// One group commit: the transaction that stores a group of messages.
    pub store_commit: Histogram,
    /// One fsync of the store's write-ahead log.
    pub store_fsync: Histogram,
    /// One flusher pass: its rooms' fan-out and the connections it writes.
    pub flusher_pass: Histogram,
    /// From a room's first message waiting for a pass to the end of that room's step in it:
    /// one sample per room per pass.
    pub fanout_delay: Histogram,
}

/// 50 µs to about 1.6 s, doubling.
fn buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 16)
}

impl Timings {
    pub(super) fn register(r: &mut Registry) -> Timings {
        let mut one = |name: &str, help: &str| {
            let h = Histogram::new(buckets());
            r.register(name, help, h.clone());
            h
        };
        Timings {
            ack_latency: one(
                "ack_latency_seconds",
                "From reading a send to queueing its ack, which waits until the message is durable",
            ),
            store_commit: one(
                "store_commit_seconds",
                "Group commits of the SQLite store: one transaction per group of messages",
            ),
            store_fsync: one(
                "store_fsync_seconds",
                "fsyncs of the SQLite store's write-ahead log",
            ),
            flusher_pass: one(
                "flusher_pass_seconds",
                "Flusher passes: rooms' fan-out steps and the connections written",
            ),
            fanout_delay: one(
                "fanout_delay_seconds",
                "From a room's first message waiting for a pass to the end of its step in that pass (one sample per room and pass)",
            ),
        }
    }
}

/// Records `d` in `h`, in seconds.
pub fn observe(h: &Histogram, d: Duration) {
    h.observe(d.as_secs_f64());
}
