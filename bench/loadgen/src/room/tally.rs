//! What the receivers count, shared with the scenario (one thread: cells, no locks): the
//! deliveries of each phase, connects and disconnects, and the cue of the slow receivers.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use tokio::sync::watch;

use super::PhaseSpec;
use crate::conn::Stamp;
use crate::stats;

/// What the slow receivers are told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlowState {
    Reading,
    Stopped,
    Resumed,
    Done,
}

/// The deliveries of one phase.
pub(super) struct PhaseAcc {
    pub(super) hist: Histogram<u64>,
    pub(super) hist_read: Histogram<u64>,
    pub(super) delivered: u64,
    pub(super) late: u64,
    pub(super) closed: bool,
    counts_slow: bool,
}

pub(super) struct Shared {
    pub(super) phases: RefCell<Vec<PhaseAcc>>,
    pub(super) other_frames: Cell<u64>,
    pub(super) ready_normal: Cell<usize>,
    pub(super) ready_slow: Cell<usize>,
    pub(super) failed: Cell<usize>,
    pub(super) first_error: RefCell<Option<String>>,
    pub(super) gone_normal: Cell<usize>,
    pub(super) gone_slow: Cell<usize>,
    pub(super) connect_open: Cell<bool>,
    pub(super) disconnects: RefCell<BTreeMap<String, u64>>,
    pub(super) slow_fate: RefCell<BTreeMap<String, u64>>,
    pub(super) slow_received: Cell<u64>,
    pub(super) slow_state: watch::Sender<SlowState>,
}

impl Shared {
    /// Nothing counted yet, for these phases; slow receivers reading.
    pub(super) fn new(phases: &[PhaseSpec]) -> Shared {
        let (slow_tx, _) = watch::channel(SlowState::Reading);
        Shared {
            phases: RefCell::new(
                phases
                    .iter()
                    .map(|p| PhaseAcc {
                        hist: stats::new_histogram(),
                        hist_read: stats::new_histogram(),
                        delivered: 0,
                        late: 0,
                        closed: false,
                        counts_slow: !p.slow_stopped,
                    })
                    .collect(),
            ),
            other_frames: Cell::new(0),
            ready_normal: Cell::new(0),
            ready_slow: Cell::new(0),
            failed: Cell::new(0),
            first_error: RefCell::new(None),
            gone_normal: Cell::new(0),
            gone_slow: Cell::new(0),
            connect_open: Cell::new(true),
            disconnects: RefCell::new(BTreeMap::new()),
            slow_fate: RefCell::new(BTreeMap::new()),
            slow_received: Cell::new(0),
            slow_state: slow_tx,
        }
    }

    /// One delivery: `arrived` when it reached the socket, `read` when this process read it.
    // Inlined into the receivers' read loop (another module): once per delivery.
    #[inline]
    pub(super) fn record(&self, st: Stamp, is_slow: bool, arrived: u64, read: u64) {
        let mut phases = self.phases.borrow_mut();
        let Some(acc) = phases.get_mut(st.phase as usize) else {
            self.other_frames.set(self.other_frames.get() + 1);
            return;
        };
        if is_slow && !acc.counts_slow {
            return;
        }
        if acc.closed {
            acc.late += 1;
        } else {
            acc.delivered += 1;
            acc.hist
                .saturating_record(arrived.saturating_sub(st.t).max(1));
            acc.hist_read
                .saturating_record(read.saturating_sub(st.t).max(1));
        }
    }

    pub(super) fn connect_failed(&self, err: String) {
        self.failed.set(self.failed.get() + 1);
        self.first_error.borrow_mut().get_or_insert(err);
    }
}

pub(super) fn bump(map: &RefCell<BTreeMap<String, u64>>, key: String) {
    *map.borrow_mut().entry(key).or_default() += 1;
}
