//! What the receivers count, shared with the scenario (one thread: cells, no locks).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use hdrhistogram::Histogram;

use super::link::Counts;
use crate::conn::Stamp;
use crate::stats;

/// The sender's phases: warm-up, then the measured one.
pub const MEASURED: u32 = 1;

pub struct Tally {
    pub counts: Rc<Counts>,
    pub ready: Cell<usize>,
    pub failed: Cell<usize>,
    pub first_error: RefCell<Option<String>>,
    /// How receivers' connections ended, by label.
    pub ended: RefCell<BTreeMap<String, u64>>,
    /// Texts without a marker (welcome, presence, history...).
    pub other: Cell<u64>,
    /// The measurement window is open: arrivals count towards the per-delivery figures.
    pub window_open: Cell<bool>,
    /// Deliveries that arrived while the window was open, and the bytes of their messages
    /// (the JSON text alone: what the transport adds is the rest).
    pub window_deliveries: Cell<u64>,
    pub window_payload: Cell<u64>,
    /// Send-to-arrival of the measured phase's messages (ns).
    pub hist: RefCell<Histogram<u64>>,
    /// Receptions per sequence number of the measured phase (for the ones lost at the end).
    pub per_seq: RefCell<Vec<u32>>,
    /// Deliveries of the measured phase.
    pub measured: Cell<u64>,
    /// A marker seen twice by one receiver would be a duplicate (a re-sent poll response).
    pub duplicates: Cell<u64>,
}

impl Tally {
    pub fn new() -> Tally {
        Tally {
            counts: Rc::new(Counts::default()),
            ready: Cell::new(0),
            failed: Cell::new(0),
            first_error: RefCell::new(None),
            ended: RefCell::new(BTreeMap::new()),
            other: Cell::new(0),
            window_open: Cell::new(false),
            window_deliveries: Cell::new(0),
            window_payload: Cell::new(0),
            hist: RefCell::new(stats::new_histogram()),
            per_seq: RefCell::new(Vec::new()),
            measured: Cell::new(0),
            duplicates: Cell::new(0),
        }
    }

    /// One received text (a WebSocket message or one line of a poll response), `arrived` when
    /// the read that completed it returned; `last` is the receiver's last (phase, seq) seen.
    pub fn text(&self, text: &[u8], arrived: u64, last: &mut Option<(u32, u64)>) {
        let Some(st) = crate::conn::find_stamp(text) else {
            self.other.set(self.other.get() + 1);
            return;
        };
        if last.is_some_and(|l| l >= (st.phase, st.seq)) {
            self.duplicates.set(self.duplicates.get() + 1);
            return;
        }
        *last = Some((st.phase, st.seq));
        self.record(st, text.len(), arrived);
    }

    fn record(&self, st: Stamp, len: usize, arrived: u64) {
        if self.window_open.get() {
            self.window_deliveries.set(self.window_deliveries.get() + 1);
            self.window_payload
                .set(self.window_payload.get() + len as u64);
        }
        if st.phase == MEASURED {
            self.measured.set(self.measured.get() + 1);
            self.hist
                .borrow_mut()
                .saturating_record(arrived.saturating_sub(st.t).max(1));
            let mut per = self.per_seq.borrow_mut();
            let i = st.seq as usize;
            if per.len() <= i {
                per.resize(i + 1, 0);
            }
            per[i] += 1;
        }
    }

    pub fn connect_failed(&self, e: String) {
        self.failed.set(self.failed.get() + 1);
        self.first_error.borrow_mut().get_or_insert(e);
    }

    pub fn end(&self, label: String) {
        *self.ended.borrow_mut().entry(label).or_insert(0) += 1;
    }
}
