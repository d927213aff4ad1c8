//! [`Event`]: a flag that wakes a connection's task. The task polls it, so what it takes to
//! wake the task is kept here, once per connection, not in the task's future (a `Notify`'s
//! waiter sits in the future of whoever waits, and every idle connection waits).

use futures_util::task::AtomicWaker;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Release};
use std::task::{Context, Poll};

/// For one waiting task at a time (the connection's).
#[derive(Default)]
pub struct Event {
    waker: AtomicWaker,
    raised: AtomicBool,
}

impl Event {
    /// Wakes the waiting task; with none waiting, the next [`Event::poll`] is ready at once.
    pub fn raise(&self) {
        self.raised.store(true, Release);
        self.waker.wake();
    }

    /// Ready if raised since the last ready poll; else the task is woken by the next raise.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.raised.swap(false, AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        if self.raised.swap(false, AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Wakes the task at the next raise, for a condition it checks itself after this.
    pub fn register(&self, cx: &mut Context<'_>) {
        self.waker.register(cx.waker());
    }
}
