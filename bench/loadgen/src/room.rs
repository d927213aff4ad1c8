//! Fan-out in one room: N receivers and one sender at a fixed rate, in phases. Serves the
//! fan-out latency scenario (phases at 10 and 100 msg/s), the idle-memory figure (RSS before and
//! after the receivers connect, before anything is sent) and the slow-consumer scenario (a
//! baseline phase, then a phase in which some receivers stop reading).
//!
//! Layout:
//! - `tally`: what the receivers count, shared with the scenario.
//! - `receiver`: one receiver's task, reading or (slow ones) stopped on cue.
//! - `sender`: the sender's connection, what it reads back, and its paced sending.
//! - `setup`: what comes before the phases: receivers connect; the server's RSS meanwhile.
//! - `phase`: one phase, from its first send to its report.
//! - `report`: what the scenario reports.

mod phase;
mod receiver;
mod report;
mod sender;
mod setup;
mod tally;

use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::conn::{self, Target};
use crate::stats::ServerProc;

use report::RoomReport;
use tally::{Shared, SlowState};

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PhaseSpec {
    pub rate: u32,
    pub secs: f64,
    /// The slow receivers stop reading for this phase (and are not counted in it).
    pub slow_stopped: bool,
    /// Run like the others, reported apart (`RoomReport::warmup`): the first messages after
    /// the receivers connect are slower for every server (first writes to each socket).
    pub warmup: bool,
}

#[derive(Debug, Clone)]
pub struct RoomArgs {
    pub target: Target,
    pub server: ServerProc,
    pub receivers: usize,
    pub slow: usize,
    pub slow_rcvbuf: Option<u32>,
    pub phases: Vec<PhaseSpec>,
    pub drain: Duration,
    pub resume: Duration,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
    pub connect_phase_max: Duration,
    pub settle_max: Duration,
}

pub async fn run(args: RoomArgs) -> Result<RoomReport> {
    // One message of about 130 bytes per read here.
    conn::set_read_buffer(4 * 1024);
    let args = Rc::new(args);
    let sh = Rc::new(Shared::new(&args.phases));

    conn::stamp_arrivals();
    // The sender connects first: its connection doubles as the server's warm-up.
    let t_connect = Instant::now();
    let (sender, sender_log) = sender::connect(&args).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = args.server.rss_kib();
    setup::connect_receivers(&sh, &args).await;
    let connect_s = t_connect.elapsed().as_secs_f64();

    let settle_s =
        crate::settle::settle(|| sh.other_frames.get(), &args.server, args.settle_max).await;
    let rss_idle = args.server.rss_kib();
    let connected = sh.ready_normal.get() + sh.ready_slow.get();
    let idle_bytes_per_conn = match (rss_before, rss_idle) {
        (Some(a), Some(b)) if connected > 0 => {
            Some((b as f64 - a as f64) * 1024.0 / connected as f64)
        }
        _ => None,
    };

    // Server RSS over the whole run, for the slow-consumer scenario's "memory stays flat".
    let rss = setup::RssSampler::start(args.server);
    let mut reports = Vec::new();
    for (pi, spec) in args.phases.iter().enumerate() {
        reports.push(phase::run(&sh, &args, &sender, pi, spec).await);
    }

    if sh.ready_slow.get() > 0 {
        // The slow receivers read again: what is waiting for them tells what the server did.
        sh.slow_state.send_replace(SlowState::Resumed);
        tokio::time::sleep(args.resume).await;
        sh.slow_state.send_replace(SlowState::Done);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_samples = rss.stop();
    let phases = sh.phases.borrow();
    for (r, acc) in reports.iter_mut().zip(phases.iter()) {
        r.late = acc.late;
    }
    let mut warmup = None;
    let mut measured = Vec::new();
    for (r, spec) in reports.into_iter().zip(&args.phases) {
        if spec.warmup {
            warmup = Some(r);
        } else {
            measured.push(r);
        }
    }
    let report = RoomReport {
        proto: args.target.proto,
        receivers: args.receivers,
        slow: args.slow,
        connected,
        connect_failed: sh.failed.get(),
        first_connect_error: sh.first_error.borrow().clone(),
        connect_s,
        settle_s,
        rss_before_kib: rss_before,
        rss_idle_kib: rss_idle,
        idle_bytes_per_conn,
        warmup,
        phases: measured,
        rss_samples,
        disconnects: sh.disconnects.borrow().clone(),
        slow_fate: sh.slow_fate.borrow().clone(),
        slow_received: sh.slow_received.get(),
        other_frames: sh.other_frames.get(),
        sender_end: sender_log.end.borrow().clone(),
        sender_errors: sender_log.errors.borrow().clone(),
        sender_acks: sender_log.acks.get(),
    };
    Ok(report)
}
