//! What the room scenario reports: the whole run, and each phase.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::conn::Proto;
use crate::stats::{CpuUse, LatencySummary};

#[derive(Debug, Serialize)]
pub struct PhaseReport {
    pub rate: u32,
    pub secs: f64,
    pub slow_stopped: bool,
    /// Receivers each message should reach (those connected and counted in this phase).
    pub receivers: usize,
    pub sent: u64,
    /// The sender could not write for the whole phase (the server stopped reading it).
    pub send_stalled: bool,
    pub expected: u64,
    pub delivered: u64,
    /// Deliveries that had not arrived when the phase's drain time ran out.
    pub lost: u64,
    pub lost_ratio: f64,
    /// Deliveries of this phase that arrived after it was closed (counted as lost).
    pub late: u64,
    /// Over every expected delivery; a lost one counts as (drain end - last send): a lower bound.
    pub latency: LatencySummary,
    /// Over the deliveries that arrived only.
    pub latency_delivered: LatencySummary,
    /// The same deliveries, timed when this process read them instead of when they reached its
    /// sockets (`latency` uses the kernel's receive timestamps): the difference is the load
    /// generator's own backlog.
    pub latency_read: LatencySummary,
    pub deliveries_per_s: f64,
    pub drain_s: f64,
    pub cpu: CpuUse,
}

#[derive(Debug, Serialize)]
pub struct RoomReport {
    pub proto: Proto,
    pub receivers: usize,
    pub slow: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub first_connect_error: Option<String>,
    pub connect_s: f64,
    /// Time until frames other than benchmark messages (presence, history) stopped arriving.
    pub settle_s: f64,
    pub rss_before_kib: Option<u64>,
    pub rss_idle_kib: Option<u64>,
    /// (RSS with every receiver connected and idle - RSS before) / receivers connected.
    pub idle_bytes_per_conn: Option<f64>,
    /// The warm-up phase, if one was asked for: not part of `phases`.
    pub warmup: Option<PhaseReport>,
    pub phases: Vec<PhaseReport>,
    /// (seconds since the first phase started, server RSS in KiB), every 250 ms.
    pub rss_samples: Vec<(f64, u64)>,
    /// How receivers that were reading lost their connection during the run, by cause.
    pub disconnects: BTreeMap<String, u64>,
    /// What became of the slow receivers once they read again: a close code, an error, or `open`.
    pub slow_fate: BTreeMap<String, u64>,
    /// Messages the slow receivers got in all (while stopped, these waited in buffers).
    pub slow_received: u64,
    pub other_frames: u64,
    /// How the sender's connection ended, if it did during the run.
    pub sender_end: Option<String>,
    /// The first error frames the sender got (typed protocol), verbatim.
    pub sender_errors: Vec<String>,
    /// Acks the sender got (typed protocol; one per message sent is expected).
    pub sender_acks: u64,
}
