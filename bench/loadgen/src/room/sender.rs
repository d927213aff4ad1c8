//! The room's one sender: its connection, what it reads back (acks, errors), and the paced
//! sending of a phase.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio_tungstenite::tungstenite::Message;

use super::{PhaseSpec, RoomArgs};
use crate::conn::{self, end_label, Stamp, Ws};

/// What the sender read back during the run.
#[derive(Default)]
pub(super) struct SenderLog {
    /// How its connection ended, if it did.
    pub(super) end: RefCell<Option<String>>,
    /// The first error frames it got (typed protocol), verbatim.
    pub(super) errors: RefCell<Vec<String>>,
    /// Acks it got (typed protocol).
    pub(super) acks: Cell<u64>,
}

/// Connects the sender (client number `args.receivers`) and starts its reading task: a sender
/// that never reads (acks, presence) would be a slow consumer.
pub(super) async fn connect(args: &RoomArgs) -> Result<(Rc<Ws>, Rc<SenderLog>)> {
    let sender = conn::connect_timeout(
        args.target,
        args.receivers,
        "s0",
        None,
        args.connect_timeout,
    )
    .await?;
    let sender = Rc::new(sender);
    let log = Rc::new(SenderLog::default());
    {
        let log = log.clone();
        let sender_in = sender.clone();
        tokio::task::spawn_local(async move {
            loop {
                let msg = sender_in.next().await;
                if let Some(Ok(Message::Text(t))) = &msg {
                    if t.as_str().contains("\"type\":\"ack\"") {
                        log.acks.set(log.acks.get() + 1);
                    }
                    let mut errors = log.errors.borrow_mut();
                    if errors.len() < 5 && t.as_str().contains("\"type\":\"error\"") {
                        errors.push(t.as_str().chars().take(300).collect());
                    }
                }
                if let Some(end) = end_label(msg) {
                    *log.end.borrow_mut() = Some(end);
                    break;
                }
            }
        });
    }
    Ok((sender, log))
}

/// What the sending of one phase did.
pub(super) struct Sent {
    pub(super) sent: u64,
    /// A send did not finish by `deadline`: the phase stopped sending there.
    pub(super) stalled: bool,
    /// The scheduled time (`now_ns` clock) of the last message sent.
    pub(super) last_sched: u64,
    /// The end of the phase's sending time plus its drain time.
    pub(super) deadline: Instant,
}

/// Sends phase `pi`'s messages at `rate` per second for `spec.secs`, each stamped with its
/// send time.
pub(super) async fn send_phase(
    sender: &Ws,
    args: &RoomArgs,
    pi: usize,
    spec: &PhaseSpec,
    rate: u32,
) -> Sent {
    let n = (f64::from(rate) * spec.secs).round() as u64;
    let period = 1_000_000_000 / u64::from(rate);
    let start = conn::now_ns() + 2_000_000;
    let send_deadline = Instant::now() + Duration::from_secs_f64(spec.secs) + args.drain;
    let mut sent = 0u64;
    let mut stalled = false;
    let mut last_sched = start;
    for i in 0..n {
        let sched = start + i * period;
        let t = conn::paced(sched).await;
        let msg = conn::outgoing(
            args.target.proto,
            Stamp {
                t,
                phase: pi as u32,
                sender: 0,
                seq: i,
            },
        );
        let left = send_deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, sender.send(msg)).await {
            Ok(Ok(())) => {
                sent += 1;
                last_sched = sched;
            }
            _ => {
                stalled = true;
                break;
            }
        }
    }
    Sent {
        sent,
        stalled,
        last_sched,
        deadline: send_deadline,
    }
}
