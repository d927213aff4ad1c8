//! [`Pending`]: a connection's sends waiting for the store, driven beside its reading.

#[cfg(doc)]
use crate::protocol::Flow;
use futures_util::stream::FuturesUnordered;
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What [`Flow::Pending`] carries.
type Sending = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The sends under way. The set is allocated with the first and freed with the last: most
/// connections send nothing most of the time, and every idle one would hold it.
#[derive(Default)]
pub struct Pending(Option<FuturesUnordered<Sending>>);

impl Pending {
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, FuturesUnordered::len)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Drives `f` (from [`Flow::Pending`]) with the others until it ends.
    pub fn push(&mut self, f: Sending) {
        self.0.get_or_insert_with(FuturesUnordered::new).push(f);
    }
}

impl Stream for Pending {
    type Item = ();

    /// A send ended (`Some`), or none is under way (`None`).
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let Some(set) = &mut self.0 else {
            return Poll::Ready(None);
        };
        let polled = set.poll_next_unpin(cx);
        if set.is_empty() {
            self.0 = None;
        }
        polled
    }
}
