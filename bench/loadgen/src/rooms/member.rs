//! One user of the many-rooms scenario: connect into its rooms, then read and time every
//! delivery until the connection ends. What all of them count is `Tally`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use super::plan::Plan;
use crate::conn::{self, end_label, Step, Target, Ws};
use crate::stats;

/// What the users count (one thread: cells, no locks).
pub(super) struct Tally {
    /// Deliveries per phase (0: warm-up, 1: measured), not counting a sender's own messages.
    pub(super) delivered: [Cell<u64>; 2],
    /// Send-to-arrival times of the measured phase's deliveries.
    pub(super) hist: RefCell<Histogram<u64>>,
    /// Copies of its own message a sender got back (the typed protocol echoes to the sender).
    pub(super) self_echo: Cell<u64>,
    /// Frames that are no delivery: presence, acks, joins' side traffic.
    pub(super) other_frames: Cell<u64>,
    /// The first error frames (typed protocol), verbatim.
    pub(super) errors: RefCell<Vec<String>>,
    pub(super) error_count: Cell<u64>,
    pub(super) connected: Cell<usize>,
    pub(super) failed: Cell<usize>,
    pub(super) first_error: RefCell<Option<String>>,
    pub(super) disconnects: RefCell<BTreeMap<String, u64>>,
    /// The senders' connections, by user index.
    pub(super) senders: RefCell<Vec<(usize, Rc<Ws>)>>,
}

impl Tally {
    pub(super) fn new() -> Tally {
        Tally {
            delivered: [Cell::new(0), Cell::new(0)],
            hist: RefCell::new(stats::new_histogram()),
            self_echo: Cell::new(0),
            other_frames: Cell::new(0),
            errors: RefCell::new(Vec::new()),
            error_count: Cell::new(0),
            connected: Cell::new(0),
            failed: Cell::new(0),
            first_error: RefCell::new(None),
            disconnects: RefCell::new(BTreeMap::new()),
            senders: RefCell::new(Vec::new()),
        }
    }

    fn on_text(&self, me: u32, text: &[u8], arrived: u64) {
        let Some(st) = conn::find_stamp(text) else {
            self.other_frames.set(self.other_frames.get() + 1);
            if memchr::memmem::find(text, br#""type":"error""#).is_some() {
                self.error_count.set(self.error_count.get() + 1);
                let mut errors = self.errors.borrow_mut();
                if errors.len() < 5 {
                    errors.push(String::from_utf8_lossy(&text[..text.len().min(300)]).into());
                }
            }
            return;
        };
        if st.sender == me {
            self.self_echo.set(self.self_echo.get() + 1);
            return;
        }
        let Some(count) = self.delivered.get(st.phase as usize) else {
            return;
        };
        count.set(count.get() + 1);
        if st.phase == 1 {
            self.hist
                .borrow_mut()
                .saturating_record(arrived.saturating_sub(st.t).max(1));
        }
    }
}

/// User `user`: connects into its rooms (at most `sem`'s permits at once), hands its connection
/// to the scenario if it sends, then reads until the connection ends.
pub(super) async fn member(
    tally: Rc<Tally>,
    plan: Rc<Plan>,
    target: Target,
    user: usize,
    sem: Rc<Semaphore>,
    limit: std::time::Duration,
) {
    let names = plan.names(user);
    let rooms: Vec<&str> = names.iter().map(String::as_str).collect();
    let connected = {
        let Ok(_permit) = sem.acquire().await else {
            return;
        };
        let nick = format!("m{user}");
        tokio::time::timeout(limit, conn::connect_rooms(target, user, &nick, &rooms)).await
    };
    let ws = match connected {
        Ok(Ok(ws)) => Rc::new(ws),
        Ok(Err(e)) => return tally.connect_failed(format!("{e:#}")),
        Err(_) => return tally.connect_failed(format!("connect+login took over {limit:?}")),
    };
    tally.connected.set(tally.connected.get() + 1);
    if plan.is_sender(user) {
        tally.senders.borrow_mut().push((user, ws.clone()));
    }
    let me = user as u32;
    let end = 'read: loop {
        if let Err(e) = ws.ready().await {
            break format!("io error: {:?}", e.kind());
        }
        loop {
            match ws.try_step(|t| tally.on_text(me, t, ws.arrived_ns())) {
                Step::Text => {}
                Step::Pending => break,
                Step::Other(next) => {
                    if let Some(end) = end_label(next) {
                        break 'read end;
                    }
                }
            }
        }
    };
    *tally.disconnects.borrow_mut().entry(end).or_default() += 1;
}

impl Tally {
    fn connect_failed(&self, e: String) {
        self.failed.set(self.failed.get() + 1);
        self.first_error.borrow_mut().get_or_insert(e);
    }
}
