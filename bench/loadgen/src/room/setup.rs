//! What comes before the phases: the receivers connect (the server then settles, `crate::settle`,
//! and the idle RSS is taken); and the sampling of the server's RSS during the phases.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::receiver::receiver;
use super::tally::Shared;
use super::RoomArgs;
use crate::stats::ServerProc;

/// Starts every receiver (the slow ones spread evenly among them), and waits until each has
/// connected or failed, or the connect phase's time is up (those still connecting then count
/// as failed).
pub(super) async fn connect_receivers(sh: &Rc<Shared>, args: &Rc<RoomArgs>) {
    let sem = Rc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let slow_every = args
        .receivers
        .checked_div(args.slow)
        .map_or(usize::MAX, |n| n.max(1));
    let mut slow_left = args.slow;
    for slot in 0..args.receivers {
        let is_slow = slow_left > 0 && slot % slow_every == slow_every / 2;
        if is_slow {
            slow_left -= 1;
        }
        tokio::task::spawn_local(receiver(
            sh.clone(),
            args.clone(),
            slot,
            is_slow,
            sem.clone(),
        ));
    }
    let connect_deadline = Instant::now() + args.connect_phase_max;
    loop {
        let done = sh.ready_normal.get() + sh.ready_slow.get() + sh.failed.get();
        if done >= args.receivers || Instant::now() >= connect_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sh.connect_open.set(false);
    let pending = args
        .receivers
        .saturating_sub(sh.ready_normal.get() + sh.ready_slow.get() + sh.failed.get());
    if pending > 0 {
        sh.failed.set(sh.failed.get() + pending);
        sh.first_error.borrow_mut().get_or_insert_with(|| {
            format!(
                "{pending} still connecting after {:?}",
                args.connect_phase_max
            )
        });
    }
}

/// The server's RSS, sampled every 250 ms by a task of its own until `stop`.
pub(super) struct RssSampler {
    samples: Rc<RefCell<Vec<(f64, u64)>>>,
    sampling: Rc<Cell<bool>>,
}

impl RssSampler {
    pub(super) fn start(server: ServerProc) -> RssSampler {
        let samples: Rc<RefCell<Vec<(f64, u64)>>> = Rc::new(RefCell::new(Vec::new()));
        let sampling = Rc::new(Cell::new(true));
        {
            let (samples, sampling) = (samples.clone(), sampling.clone());
            let t0 = Instant::now();
            tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                while sampling.get() {
                    tick.tick().await;
                    if let Some(rss) = server.rss_kib() {
                        samples.borrow_mut().push((t0.elapsed().as_secs_f64(), rss));
                    }
                }
            });
        }
        RssSampler { samples, sampling }
    }

    /// Ends the sampling; (seconds since `start`, RSS in KiB) of every sample taken.
    pub(super) fn stop(self) -> Vec<(f64, u64)> {
        self.sampling.set(false);
        self.samples.borrow().clone()
    }
}
