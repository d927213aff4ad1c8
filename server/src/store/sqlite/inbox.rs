//! The writer's inbox: appends, rewrites and flushes queue here for the writer thread, which
//! sleeps on it when there is nothing to do; the hub reports here when its deliveries are done.

use crate::error::StoreError;
use crate::store::{Appended, Rewrite, StoredMessage};
use crate::util::lock;
use shared::MessageId;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Release};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::oneshot;

pub(super) struct Append {
    pub(super) msg: StoredMessage,
    /// The outcome, and the message back: it is freed where it was allocated (the runtime),
    /// which keeps the allocator's per-thread caches warm on both sides.
    /// With the number of the group that committed it (what `wait_durable` waits for).
    pub(super) done: oneshot::Sender<(Result<Appended, StoreError>, StoredMessage, u64)>,
}

/// An edit or a deletion of message `id` of `channel`, applied after the appends queued
/// before it.
pub(super) struct Change {
    pub(super) channel: String,
    pub(super) id: MessageId,
    pub(super) change: Rewrite,
    pub(super) done: oneshot::Sender<Result<bool, StoreError>>,
}

pub(super) enum Op {
    Append(Append),
    Rewrite(Change),
    Flush(oneshot::Sender<()>),
}

/// Groups that senders committed themselves since the writer last woke.
#[derive(Debug, Default)]
pub(super) struct Inlined {
    pub(super) groups: usize,
    /// Some hold a stored message, which the hub delivers (the writer's fsync waits for that).
    pub(super) deliverable: bool,
}

/// The writer's inbox. Appends only wake the writer when it sleeps with nothing to do: while
/// it commits (an fsync, mostly), what arrives piles up here and becomes the next group. And
/// while it sleeps with nothing queued, one sender may commit its message itself (`claim`).
#[derive(Default)]
pub(super) struct Inbox {
    state: Mutex<InboxState>,
    wake: Condvar,
    /// The writer has put off an fsync until the hub's deliveries are done (see `writer`).
    wants_idle: AtomicBool,
}

#[derive(Default)]
struct InboxState {
    ops: Vec<Op>,
    /// The writer waits on `wake`.
    sleeping: bool,
    closed: bool,
    /// The hub went idle since the writer last asked (`expect_idle`).
    idle: bool,
    /// The writer sleeps and lets a sender commit by itself (`claim`); none has since.
    claimable: bool,
    /// The writer sleeps in a round: with an fsync put off, until a deadline, for the hub or
    /// for more groups (see `writer`).
    in_round: bool,
    inlined: Inlined,
}

impl InboxState {
    /// The writer is to wake for the groups senders committed themselves: at once, unless it
    /// sleeps in a round, which ends once the hub has delivered them (or at its deadline).
    fn inlined_wake(&self) -> bool {
        self.inlined.groups > 0 && (!self.in_round || self.idle)
    }
}

impl Inbox {
    pub(super) fn send(&self, op: Op) -> Result<(), StoreError> {
        let mut st = lock(&self.state);
        if st.closed {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        st.ops.push(op);
        self.wake_writer(st);
        Ok(())
    }

    /// Everything queued, waiting for something first (or for groups senders committed, see
    /// `inlined_wake`), or until `until` (then perhaps nothing); with the groups senders
    /// committed meanwhile. In a round or not (`in_round`), letting a sender commit by itself
    /// or not (`claimable`). `None` once closed and empty.
    pub(super) fn take(
        &self,
        into: &mut Vec<Op>,
        until: Option<Instant>,
        in_round: bool,
        claimable: bool,
    ) -> Option<Inlined> {
        let mut st = lock(&self.state);
        (st.in_round, st.claimable) = (in_round, claimable);
        while st.ops.is_empty() && !st.inlined_wake() {
            if st.closed {
                st.claimable = false;
                return None;
            }
            let left = match until {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => Some(left),
                    None => break,
                },
            };
            st.sleeping = true;
            st = match left {
                None => self.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(left) => {
                    self.wake
                        .wait_timeout(st, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        Some(Self::woke(st, into))
    }

    /// `take` in a round, but waiting only until `deadline` or until the hub goes idle;
    /// whatever is queued then (perhaps nothing). `None` once closed and empty.
    pub(super) fn take_until(
        &self,
        into: &mut Vec<Op>,
        deadline: Instant,
        claimable: bool,
    ) -> Option<Inlined> {
        let mut st = lock(&self.state);
        (st.in_round, st.claimable) = (true, claimable);
        while st.ops.is_empty() && !st.idle {
            if st.closed {
                st.claimable = false;
                return None;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            st.sleeping = true;
            st = self
                .wake
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Some(Self::woke(st, into))
    }

    /// The writer is awake: no sender may commit by itself; it takes what is queued.
    fn woke(mut st: MutexGuard<'_, InboxState>, into: &mut Vec<Op>) -> Inlined {
        (st.sleeping, st.in_round, st.claimable) = (false, false, false);
        std::mem::swap(into, &mut st.ops);
        std::mem::take(&mut st.inlined)
    }

    /// A sender may commit its message itself, on its own thread, when the writer sleeps with
    /// nothing queued: a lone message then costs neither the hop to the writer nor the wake-up
    /// back. One per nap, so that a burst still forms groups. False: the message goes
    /// through the inbox.
    pub(super) fn claim(&self) -> bool {
        let mut st = lock(&self.state);
        if !st.ops.is_empty() || st.closed {
            return false;
        }
        std::mem::take(&mut st.claimable)
    }

    /// A sender that `claim`ed the writer's nap has committed its group, with a stored message
    /// in it (`deliverable`) or not; the writer fsyncs it in its turn. The writer may have
    /// woken since the claim, and may sleep otherwise by now: whichever way, it wakes for the
    /// group as `inlined_wake` says.
    pub(super) fn inlined(&self, deliverable: bool) {
        let mut st = lock(&self.state);
        st.inlined.groups += 1;
        if deliverable {
            st.inlined.deliverable = true;
            // Its fsync waits for the hub to deliver it, like an early-answered group's.
            self.expect_idle_in(&mut st);
        }
        if st.inlined_wake() {
            self.wake_writer(st);
        }
    }

    /// How many ops are queued.
    pub(super) fn queued(&self) -> usize {
        lock(&self.state).ops.len()
    }

    /// Adds whatever is queued to `into`, without waiting.
    pub(super) fn take_queued(&self, into: &mut Vec<Op>) {
        into.append(&mut lock(&self.state).ops);
    }

    /// From now on, `idle` reports whether the hub went idle.
    pub(super) fn expect_idle(&self) {
        self.expect_idle_in(&mut lock(&self.state));
    }

    /// `expect_idle`, with the state's lock held.
    fn expect_idle_in(&self, st: &mut InboxState) {
        st.idle = false;
        self.wants_idle.store(true, Release);
    }

    pub(super) fn no_idle_wanted(&self) {
        self.wants_idle.store(false, Release);
    }

    /// Whether the hub went idle since `expect_idle`.
    pub(super) fn idle(&self) -> bool {
        lock(&self.state).idle
    }

    /// The hub's deliveries are done: wakes a writer that waits for that.
    pub(super) fn hub_idle(&self) {
        if !self.wants_idle.swap(false, AcqRel) {
            return;
        }
        let mut st = lock(&self.state);
        st.idle = true;
        self.wake_writer(st);
    }

    /// Lets go of the lock, then wakes the writer if it sleeps. In that order: on a shared core
    /// the woken writer would otherwise run at once, find the lock held, and sleep again until
    /// it is released.
    fn wake_writer(&self, mut st: MutexGuard<'_, InboxState>) {
        let sleeping = std::mem::take(&mut st.sleeping);
        drop(st);
        if sleeping {
            self.wake.notify_one();
        }
    }

    /// Whether the writer sleeps and a sender may commit by itself (`claim`): if so, whether
    /// it sleeps in a round.
    #[cfg(test)]
    pub(super) fn napping(&self) -> Option<bool> {
        let st = lock(&self.state);
        (st.claimable && st.ops.is_empty()).then_some(st.in_round)
    }

    pub(super) fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, Receiver};
    use std::sync::Arc;
    use std::time::Duration;

    /// Waits (5 s at most) until `f` holds of the inbox's state.
    fn until(inbox: &Inbox, f: impl Fn(&InboxState) -> bool) {
        for _ in 0..5000 {
            if f(&lock(&inbox.state)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("the writer never got there");
    }

    /// A writer thread taking as `takes` say, one after the other (`until`, `in_round`,
    /// `claimable`); each take's ops and inlined groups come back on the receiver.
    fn writer(
        inbox: &Arc<Inbox>,
        takes: Vec<(Option<Instant>, bool, bool)>,
    ) -> Receiver<(usize, usize)> {
        let (tx, rx) = channel();
        let inbox = inbox.clone();
        std::thread::spawn(move || {
            for (until, in_round, claimable) in takes {
                let mut ops = Vec::new();
                let inlined = inbox.take(&mut ops, until, in_round, claimable);
                let _ = tx.send((ops.len(), inlined.map_or(0, |i| i.groups)));
            }
        });
        rx
    }

    const LONG: Duration = Duration::from_secs(5);

    #[test]
    fn a_group_committed_after_the_writer_moved_on_still_wakes_it() {
        let inbox = Arc::new(Inbox::default());
        // A light load (a sender may commit by itself), then a heavier one (none may).
        let rx = writer(&inbox, vec![(None, false, true), (None, false, false)]);
        until(&inbox, |st| st.claimable);
        assert!(inbox.claim(), "the writer sleeps with nothing queued");
        assert!(!inbox.claim(), "one sender per nap");
        // Before the claimant has committed, a send wakes the writer, which goes on.
        let (flush, _done) = oneshot::channel();
        inbox.send(Op::Flush(flush)).expect("send");
        assert_eq!(rx.recv_timeout(LONG).expect("first take"), (1, 0));
        until(&inbox, |st| st.sleeping);
        assert!(!inbox.claim(), "no sender may now");
        // The group committed under the earlier claim still needs its fsync.
        inbox.inlined(true);
        assert_eq!(rx.recv_timeout(LONG).expect("woken for the group"), (0, 1));
    }

    #[test]
    fn in_a_round_a_committed_group_wakes_the_writer_once_the_hub_delivered_it() {
        let inbox = Arc::new(Inbox::default());
        let deadline = Instant::now() + Duration::from_secs(60);
        let rx = writer(&inbox, vec![(Some(deadline), true, true)]);
        until(&inbox, |st| st.claimable && st.sleeping);
        assert!(inbox.claim());
        inbox.inlined(true);
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "woken before the hub delivered the group"
        );
        inbox.hub_idle();
        assert_eq!(rx.recv_timeout(LONG).expect("woken once delivered"), (0, 1));
    }
}
