//! One phase of the room scenario: the sender sends at the phase's rate, deliveries are waited
//! for until the drain time runs out, then the phase is closed and reported.

use std::time::{Duration, Instant};

use super::report::PhaseReport;
use super::sender::send_phase;
use super::tally::{Shared, SlowState};
use super::{PhaseSpec, RoomArgs};
use crate::conn::{self, Ws};
use crate::stats::{self, CpuMark};

/// Runs phase number `pi`; its report's `late` is filled in at the end of the run.
pub(super) async fn run(
    sh: &Shared,
    args: &RoomArgs,
    sender: &Ws,
    pi: usize,
    spec: &PhaseSpec,
) -> PhaseReport {
    if spec.slow_stopped {
        sh.slow_state.send_replace(SlowState::Stopped);
    }
    let alive_normal = sh.ready_normal.get() - sh.gone_normal.get();
    let alive_slow = sh.ready_slow.get() - sh.gone_slow.get();
    let per_msg = alive_normal + if spec.slow_stopped { 0 } else { alive_slow };
    let mark = CpuMark::now(&args.server);
    let rate = spec.rate.max(1);
    let sent = send_phase(sender, args, pi, spec, rate).await;
    let expected = sent.sent * per_msg as u64;
    let t_drain = Instant::now();
    let drain_deadline = sent
        .deadline
        .max(t_drain + Duration::from_millis(100))
        .min(t_drain + args.drain);
    while Instant::now() < drain_deadline {
        let delivered = sh.phases.borrow()[pi].delivered;
        if delivered >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let drain_s = t_drain.elapsed().as_secs_f64();
    let cpu = mark.since(&args.server);
    let closed_at = conn::now_ns();
    let mut phases = sh.phases.borrow_mut();
    let acc = &mut phases[pi];
    acc.closed = true;
    let delivered = acc.delivered;
    let lost = expected.saturating_sub(delivered);
    let mut with_lost = acc.hist.clone();
    if lost > 0 {
        // A lost delivery's latency is at least the time from the last send to the cut-off.
        let _ = with_lost.record_n(closed_at.saturating_sub(sent.last_sched).max(1), lost);
    }
    PhaseReport {
        rate,
        secs: spec.secs,
        slow_stopped: spec.slow_stopped,
        receivers: per_msg,
        sent: sent.sent,
        send_stalled: sent.stalled,
        expected,
        delivered,
        lost,
        lost_ratio: if expected > 0 {
            lost as f64 / expected as f64
        } else {
            0.0
        },
        late: 0,
        latency: stats::summarize(&with_lost),
        latency_delivered: stats::summarize(&acc.hist),
        latency_read: stats::summarize(&acc.hist_read),
        deliveries_per_s: if cpu.wall_s > 0.0 {
            delivered as f64 / cpu.wall_s
        } else {
            0.0
        },
        drain_s,
        cpu,
    }
}
