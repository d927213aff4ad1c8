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

/// How the writer sleeps, for a sender that commits its message itself (`Inbox::claim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nap {
    /// With nothing to fsync: the sender wakes it, for the fsync its group needs.
    Idle,
    /// Until a deadline, with an fsync put off (for the hub, or for more groups to share it):
    /// the writer wakes once the hub has delivered the sender's group too, or at its deadline.
    Round,
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
    /// The writer sleeps and no sender has claimed its connection since.
    nap: Option<Nap>,
    inlined: Inlined,
}

impl InboxState {
    /// The writer wakes for the groups senders committed themselves.
    fn inlined_wake(&self, nap: Nap) -> bool {
        self.inlined.groups > 0 && (nap == Nap::Idle || self.idle)
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

    /// Everything queued, waiting for something first (or, with a `nap`, for groups senders
    /// committed, as it says), or until `until` (then perhaps nothing); with the groups
    /// senders committed meanwhile. `None` once closed and empty.
    pub(super) fn take(
        &self,
        into: &mut Vec<Op>,
        until: Option<Instant>,
        nap: Option<Nap>,
    ) -> Option<Inlined> {
        let mut st = lock(&self.state);
        st.nap = nap;
        while st.ops.is_empty() && !nap.is_some_and(|nap| st.inlined_wake(nap)) {
            if st.closed {
                st.nap = None;
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

    /// `take`, but waiting only until `deadline` or until the hub goes idle; whatever is
    /// queued then (perhaps nothing). A sender may commit by itself meanwhile if `nap`.
    /// `None` once closed and empty.
    pub(super) fn take_until(
        &self,
        into: &mut Vec<Op>,
        deadline: Instant,
        nap: bool,
    ) -> Option<Inlined> {
        let mut st = lock(&self.state);
        st.nap = nap.then_some(Nap::Round);
        while st.ops.is_empty() && !st.idle {
            if st.closed {
                st.nap = None;
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
        st.sleeping = false;
        st.nap = None;
        std::mem::swap(into, &mut st.ops);
        std::mem::take(&mut st.inlined)
    }

    /// A sender may commit its message itself, on its own thread, when the writer sleeps with
    /// nothing queued: a lone message then costs neither the hop to the writer nor the wake-up
    /// back. One per nap, so that a burst still forms groups. With how the writer sleeps,
    /// for `inlined`; `None`: the message goes through the inbox.
    pub(super) fn claim(&self) -> Option<Nap> {
        let mut st = lock(&self.state);
        if !st.ops.is_empty() || st.closed {
            return None;
        }
        st.nap.take()
    }

    /// The sender that `claim`ed the writer's `nap` has committed its group, with a stored
    /// message in it (`deliverable`) or not; the writer fsyncs it in its turn.
    pub(super) fn inlined(&self, nap: Nap, deliverable: bool) {
        let mut st = lock(&self.state);
        st.inlined.groups += 1;
        if deliverable {
            st.inlined.deliverable = true;
            // Its fsync waits for the hub to deliver it, like an early-answered group's.
            st.idle = false;
            self.wants_idle.store(true, Release);
        }
        if nap == Nap::Idle || st.inlined_wake(nap) {
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
        lock(&self.state).idle = false;
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

    /// Whether the writer sleeps and a sender may commit by itself (`claim`).
    #[cfg(test)]
    pub(super) fn napping(&self) -> bool {
        let st = lock(&self.state);
        st.nap.is_some() && st.ops.is_empty()
    }

    pub(super) fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        self.wake.notify_one();
    }
}
