//! Many rooms: U users in R rooms, each user in K of them, and 1% of the users each sending
//! one message a second, in turn to each of its rooms. Measured: the send-to-arrival time of
//! every delivery, and the server's CPU per delivery.
//!
//! Ours speaks the typed protocol here (a `join` per room). The demo protocol has one room, so
//! the multi-room peers take `rooms=` in the upgrade's query and `{"room","msg"}` messages
//! (Bun: `subscribe` per topic, `publish` to one); Socket.IO joins each room of the query and
//! takes the `msg` event with `{room,text}`.
//!
//! Layout:
//! - `plan`: who is in which room, who sends.
//! - `member`: one user's task (connect, read, time), and what they all count.

mod member;
mod plan;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::conn::{self, Proto, Stamp};
use crate::stats::{self, CpuMark, CpuUse, LatencySummary};
use member::Tally;
use plan::Plan;

#[derive(Debug, clap::Args)]
pub struct RoomsArgs {
    #[arg(long, default_value_t = 10_000)]
    pub users: usize,
    #[arg(long, default_value_t = 1_000)]
    pub rooms: usize,
    /// Rooms each user is in.
    #[arg(long, default_value_t = 5)]
    pub per_user: usize,
    /// Share of the users that send, in percent.
    #[arg(long, default_value_t = 1.0)]
    pub senders_pct: f64,
    /// Messages per second of each sender.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,
    /// Seconds of sending before the measured phase, reported apart.
    #[arg(long, default_value_t = 1.0)]
    pub warmup: f64,
    /// Seconds of the measured phase.
    #[arg(long, default_value_t = 10.0)]
    pub secs: f64,
    /// Seconds after the last send that deliveries are still waited for.
    #[arg(long, default_value_t = 3.0)]
    pub drain: f64,
}

pub use crate::scenario::Common;

#[derive(Debug, Serialize)]
pub struct RoomsReport {
    pub proto: Proto,
    pub users: usize,
    pub rooms: usize,
    pub per_user: usize,
    pub senders: usize,
    /// Members of the smallest and the largest room.
    pub members: (u32, u32),
    pub connected: usize,
    pub connect_failed: usize,
    pub first_connect_error: Option<String>,
    pub connect_s: f64,
    pub settle_s: f64,
    pub idle_rss_kib: Option<u64>,
    pub warmup_sent: u64,
    pub warmup_delivered: u64,
    /// Messages sent in the measured phase.
    pub sent: u64,
    /// Their deliveries if every other member of the room got each.
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    /// A send did not finish in time: the phase stopped sending there.
    pub stalled: bool,
    /// Send-to-arrival time of the measured phase's deliveries.
    pub latency: LatencySummary,
    /// Server (and load generator) CPU from the measured phase's first send until its last
    /// delivery arrived (or the drain ran out).
    pub cpu: CpuUse,
    pub server_cpu_us_per_delivery: Option<f64>,
    pub self_echo: u64,
    pub other_frames: u64,
    pub error_frames: u64,
    pub first_errors: Vec<String>,
    pub disconnects: BTreeMap<String, u64>,
}

/// What one phase's sending did.
struct Sent {
    sent: u64,
    expected: u64,
    stalled: bool,
}

/// Sends phase `phase` (`secs` long): the senders take turns, evenly spaced, so that each sends
/// `rate` a second, each message to the next of the sender's rooms.
async fn send_phase(
    tally: &Tally,
    plan: &Plan,
    proto: Proto,
    phase: u32,
    rate: f64,
    secs: f64,
    drain: Duration,
) -> Sent {
    let senders = tally.senders.borrow().clone();
    let total_rate = rate * senders.len() as f64;
    let n = (total_rate * secs).round() as u64;
    let period = (1e9 / total_rate.max(1e-9)) as u64;
    let start = conn::now_ns() + 2_000_000;
    let deadline = Instant::now() + Duration::from_secs_f64(secs) + drain;
    let mut out = Sent {
        sent: 0,
        expected: 0,
        stalled: false,
    };
    for i in 0..n {
        let (user, ws) = &senders[i as usize % senders.len()];
        let seq = i / senders.len() as u64;
        let room = plan.room_of(*user, seq as usize % plan.per_user());
        let t = conn::paced(start + i * period).await;
        let stamp = Stamp {
            t,
            phase,
            sender: *user as u32,
            seq,
        };
        let msg = conn::outgoing_to(proto, &plan::name(room), stamp);
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.send(msg)).await {
            Ok(Ok(())) => {
                out.sent += 1;
                out.expected += u64::from(plan.members(room).saturating_sub(1));
            }
            _ => {
                out.stalled = true;
                break;
            }
        }
    }
    out
}

/// Waits until `want` deliveries of `phase` arrived, or `limit` is up.
async fn drain(tally: &Tally, phase: usize, want: u64, limit: Duration) {
    let t0 = Instant::now();
    while tally.delivered[phase].get() < want && t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn run(args: RoomsArgs, c: Common) -> Result<serde_json::Value> {
    let Some(plan) = Plan::new(args.users, args.rooms, args.per_user, args.senders_pct) else {
        bail!("no such plan: each user needs --per-user different rooms, and someone must send");
    };
    if args.rate.is_nan() || args.rate <= 0.0 {
        bail!("--rate must be above 0");
    }
    // One message of about 200 bytes per read here.
    conn::set_read_buffer(4 * 1024);
    conn::stamp_arrivals();
    let plan = Rc::new(plan);
    let tally = Rc::new(Tally::new());

    let t_connect = Instant::now();
    let sem = Rc::new(Semaphore::new(c.connect_concurrency.max(1)));
    for user in 0..args.users {
        tokio::task::spawn_local(member::member(
            tally.clone(),
            plan.clone(),
            c.target,
            user,
            sem.clone(),
            c.connect_timeout,
        ));
    }
    while tally.connected.get() + tally.failed.get() < args.users
        && t_connect.elapsed() < c.connect_phase_max
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    let settle_s =
        crate::settle::settle(|| tally.other_frames.get(), &c.server, c.settle_max).await;
    let idle_rss_kib = c.server.rss_kib();
    tally.senders.borrow_mut().sort_by_key(|(user, _)| *user);
    if tally.senders.borrow().is_empty() {
        bail!(
            "no sender connected ({} of {} users; first error: {:?})",
            tally.connected.get(),
            args.users,
            tally.first_error.borrow()
        );
    }

    let drain_max = Duration::from_secs_f64(args.drain.max(0.0));
    let proto = c.target.proto;
    let warm = send_phase(&tally, &plan, proto, 0, args.rate, args.warmup, drain_max).await;
    drain(&tally, 0, warm.expected, drain_max).await;
    let mark = CpuMark::now(&c.server);
    let sent = send_phase(&tally, &plan, proto, 1, args.rate, args.secs, drain_max).await;
    drain(&tally, 1, sent.expected, drain_max).await;
    let cpu = mark.since(&c.server);

    let delivered = tally.delivered[1].get();
    let report = RoomsReport {
        proto,
        users: args.users,
        rooms: args.rooms,
        per_user: args.per_user,
        senders: tally.senders.borrow().len(),
        members: plan.member_range(),
        connected: tally.connected.get(),
        connect_failed: tally.failed.get(),
        first_connect_error: tally.first_error.borrow().clone(),
        connect_s,
        settle_s,
        idle_rss_kib,
        warmup_sent: warm.sent,
        warmup_delivered: tally.delivered[0].get(),
        sent: sent.sent,
        expected: sent.expected,
        delivered,
        lost: sent.expected.saturating_sub(delivered),
        stalled: sent.stalled || warm.stalled,
        latency: stats::summarize(&tally.hist.borrow()),
        server_cpu_us_per_delivery: cpu
            .server_cpu_s
            .filter(|_| delivered > 0)
            .map(|s| s * 1e6 / delivered as f64),
        cpu,
        self_echo: tally.self_echo.get(),
        other_frames: tally.other_frames.get(),
        error_frames: tally.error_count.get(),
        first_errors: tally.errors.borrow().clone(),
        disconnects: tally.disconnects.borrow().clone(),
    };
    Ok(serde_json::json!({"scenario": "rooms", "report": report}))
}
