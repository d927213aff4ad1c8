//! One room, one transport: N receivers on WebSocket, long polling or short polling, one
//! WebSocket sender at a fixed rate; what each delivered message costs in bytes (both ways, at
//! the application layer), in server CPU, and in latency. Serves `bench/transports.sh`.
//!
//! The sender sends a warm-up phase, then the measured phase on the same schedule. While the
//! measured phase is sent, the window is open: the receivers' bytes, the server's CPU time and
//! the deliveries that arrive in it are counted, so each figure per delivery is a steady-state
//! ratio (short polls answer with what gathered over the last period). The latency of every
//! message of the measured phase is timed at its arrival, however late, up to the drain time.
//!
//! Layout:
//! - `wire`: HTTP responses and WebSocket frames, parsed and built by hand.
//! - `link`: a receiver's connection, counting what it writes and reads.
//! - `receiver`: one receiver on each transport.
//! - `tally`: what the receivers count.

mod link;
mod receiver;
mod tally;
pub mod wire;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::conn::{self, Proto, Stamp, Target, Ws};
use crate::stats::{self, CpuMark, ServerProc};
use receiver::RecvArgs;
use tally::{Tally, MEASURED};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// `/chat`: one WebSocket per receiver.
    Ws,
    /// `GET /poll` again as soon as the last one answered; the server holds it until there is
    /// something (up to its `--poll-wait`).
    Long,
    /// `GET /poll` once per `--period`, answered at once.
    Short,
}

#[derive(Debug, Clone, clap::Args)]
pub struct TransportArgs {
    #[arg(long, value_enum)]
    pub transport: Transport,
    #[arg(long, default_value_t = 100)]
    pub receivers: usize,
    /// Messages per second from the one sender.
    #[arg(long, default_value_t = 10)]
    pub rate: u32,
    /// Seconds of the warm-up phase (sent, not measured).
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Seconds of the measured phase.
    #[arg(long, default_value_t = 15.0)]
    pub secs: f64,
    /// Seconds after the last send that its deliveries are still waited for.
    #[arg(long, default_value_t = 5.0)]
    pub drain: f64,
    /// Seconds between two short polls of one receiver.
    #[arg(long, default_value_t = 2.0)]
    pub period: f64,
    /// A header line added to every short poll (e.g. `chat-wait: 0`), for a server that
    /// answers at once only when asked.
    #[arg(long, default_value = "")]
    pub short_header: String,
}

/// The options of the command line that apply here.
pub struct Common {
    pub addr: SocketAddr,
    pub server: ServerProc,
    pub connect_concurrency: usize,
    pub connect_timeout: Duration,
    pub connect_phase_max: Duration,
    pub settle_max: Duration,
}

pub async fn run(a: TransportArgs, c: Common) -> Result<Value> {
    let t = Rc::new(Tally::new());
    let (sender, sender_end) = connect_sender(&c, a.receivers).await?;

    let short_header = match a.short_header.trim() {
        "" => String::new(),
        h => format!("{h}\r\n"),
    };
    let rargs = Rc::new(RecvArgs {
        addr: c.addr,
        transport: a.transport,
        receivers: a.receivers,
        period: Duration::from_secs_f64(a.period),
        short_header,
        connect_timeout: c.connect_timeout,
    });
    let t_connect = Instant::now();
    let sem = Rc::new(Semaphore::new(c.connect_concurrency.max(1)));
    for slot in 0..a.receivers {
        tokio::task::spawn_local(receiver::run(t.clone(), rargs.clone(), slot, sem.clone()));
    }
    let deadline = Instant::now() + c.connect_phase_max;
    while t.ready.get() + t.failed.get() < a.receivers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_s = t_connect.elapsed().as_secs_f64();
    // Short polls bring side traffic once per period: quiet means a period without any.
    let quiet = match a.transport {
        Transport::Short => Duration::from_secs_f64(a.period + 0.5),
        _ => Duration::from_millis(500),
    };
    let settle_s = settle(&t, quiet, c.settle_max).await;

    let warm = send_phase(&sender, 0, a.rate, a.warmup, None).await;
    let alive = t.ready.get() - t.ended.borrow().values().sum::<u64>() as usize;
    let bytes0 = t.counts.snapshot();
    let cpu0 = CpuMark::now(&c.server);
    t.window_open.set(true);
    let mut send_times = Vec::new();
    let sent = send_phase(&sender, MEASURED, a.rate, a.secs, Some(&mut send_times)).await;
    t.window_open.set(false);
    let cpu = cpu0.since(&c.server);
    let bytes1 = t.counts.snapshot();

    let expected = sent.sent * alive as u64;
    let drain_end = Instant::now() + Duration::from_secs_f64(a.drain);
    while t.measured.get() < expected && Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cutoff = conn::now_ns();
    // A delivery still missing enters the percentiles as the wait until the cut-off: a lower
    // bound of its latency.
    let lost = {
        let per = t.per_seq.borrow();
        let mut hist = t.hist.borrow_mut();
        let mut lost = 0u64;
        for (i, &sent_at) in send_times.iter().enumerate() {
            let missing =
                (alive as u64).saturating_sub(u64::from(per.get(i).copied().unwrap_or(0)));
            if missing > 0 {
                lost += missing;
                let _ = hist.record_n(cutoff.saturating_sub(sent_at).max(1), missing);
            }
        }
        lost
    };
    let deliveries = t.window_deliveries.get();
    let per = |x: u64| (deliveries > 0).then(|| x as f64 / deliveries as f64);
    let (down, up, requests) = (
        bytes1.0 - bytes0.0,
        bytes1.1 - bytes0.1,
        bytes1.2 - bytes0.2,
    );
    let payload = t.window_payload.get();
    let latency = stats::summarize(&t.hist.borrow());
    let ended = t.ended.borrow().clone();
    Ok(json!({
        "scenario": "transports",
        "report": {
            "transport": a.transport,
            "receivers": a.receivers,
            "rate": a.rate,
            "ready": t.ready.get(),
            "alive": alive,
            "connect_failed": t.failed.get(),
            "first_connect_error": t.first_error.borrow().clone(),
            "connect_s": connect_s,
            "settle_s": settle_s,
            "warmup_sent": warm.sent,
            "sent": sent.sent,
            "send_stalled": warm.stalled || sent.stalled,
            "window_s": cpu.wall_s,
            "deliveries": deliveries,
            "bytes_down": down,
            "bytes_up": up,
            "payload_down": payload,
            "requests": requests,
            "bytes_down_per_delivery": per(down),
            "bytes_up_per_delivery": per(up),
            "overhead_down_per_delivery": per(down.saturating_sub(payload)),
            "requests_per_delivery": per(requests),
            "server_cpu_us_per_delivery": cpu.server_cpu_s.and_then(|s| per(1).map(|p| s * p * 1e6)),
            "cpu": cpu,
            "expected": expected,
            "measured_deliveries": t.measured.get(),
            "lost": lost,
            "duplicates": t.duplicates.get(),
            "latency": latency,
            "other_texts": t.other.get(),
            "ended": ended,
            "sender_end": sender_end.borrow().clone(),
        }
    }))
}

/// How the sender's connection ended, if it did.
type SenderEnd = Rc<RefCell<Option<String>>>;

/// The sender, client number `slot` (after the receivers'), on the typed WebSocket protocol;
/// a task reads what comes back to it (acks, its own messages) so it never backs up.
async fn connect_sender(c: &Common, slot: usize) -> Result<(Rc<Ws>, SenderEnd)> {
    let target = Target {
        addr: c.addr,
        proto: Proto::Typed,
    };
    let ws = Rc::new(conn::connect_timeout(target, slot, "s0", None, c.connect_timeout).await?);
    let end: SenderEnd = Rc::new(RefCell::new(None));
    let (reader, ended) = (ws.clone(), end.clone());
    tokio::task::spawn_local(async move {
        loop {
            if let Some(label) = conn::end_label(reader.next().await) {
                *ended.borrow_mut() = Some(label);
                break;
            }
        }
    });
    Ok((ws, end))
}

/// Waits until the joins' side traffic (presence) has stopped for `quiet`; the seconds waited.
async fn settle(t: &Tally, quiet: Duration, max: Duration) -> f64 {
    let start = Instant::now();
    let mut last = t.other.get();
    let mut since = Instant::now();
    while start.elapsed() < max {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = t.other.get();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            break;
        }
    }
    start.elapsed().as_secs_f64()
}

struct Sent {
    sent: u64,
    stalled: bool,
}

/// Sends `secs × rate` stamped messages of `phase` on a fixed schedule; their send times go to
/// `times`. A send more than 2 ms late keeps its scheduled time (waiting counts as latency).
async fn send_phase(
    ws: &Ws,
    phase: u32,
    rate: u32,
    secs: f64,
    mut times: Option<&mut Vec<u64>>,
) -> Sent {
    let n = (f64::from(rate) * secs).round() as u64;
    let period = 1_000_000_000 / u64::from(rate.max(1));
    let start = conn::now_ns() + 2_000_000;
    let mut sent = 0;
    for seq in 0..n {
        let sched = start + seq * period;
        let t = conn::paced(sched).await;
        let msg = conn::outgoing(
            Proto::Typed,
            Stamp {
                t,
                phase,
                sender: 0,
                seq,
            },
        );
        match tokio::time::timeout(Duration::from_secs(5), ws.send(msg)).await {
            Ok(Ok(())) => {
                sent += 1;
                if let Some(v) = times.as_deref_mut() {
                    v.push(t);
                }
            }
            _ => {
                return Sent {
                    sent,
                    stalled: true,
                }
            }
        }
    }
    Sent {
        sent,
        stalled: false,
    }
}
