//! [`WriteDeadline`]: a socket whose writes fail once they make no progress for a while.
//!
//! hyper writes a response until the client has taken it all; a client that asks for the wasm
//! and never reads would hold its connection (and its place under the HTTP cap) forever. The
//! deadline runs only while a write is blocked and restarts at every byte the socket takes,
//! so a slow reader that keeps reading is served, and one that stops is dropped.

use crate::metrics::Metrics;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct WriteDeadline<T> {
    io: T,
    limit: Duration,
    /// Armed when a write is blocked; cleared when one makes progress. Boxed once, lazily:
    /// most connections (every WebSocket's handshake, small responses) never block.
    timer: Option<Pin<Box<Sleep>>>,
    blocked: bool,
    metrics: Arc<Metrics>,
}

impl<T> WriteDeadline<T> {
    pub fn new(io: T, limit: Duration, metrics: Arc<Metrics>) -> WriteDeadline<T> {
        WriteDeadline {
            io,
            limit,
            timer: None,
            blocked: false,
            metrics,
        }
    }

    pub fn into_inner(self) -> T {
        self.io
    }

    /// Called with the result of a write: progress clears the deadline; a blocked write
    /// starts it (if it is not running) and fails once it has passed.
    fn check<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.blocked = false;
            return polled;
        }
        let deadline = Instant::now() + self.limit;
        if !self.blocked {
            self.blocked = true;
            match &mut self.timer {
                Some(t) => t.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        if let Some(t) = &mut self.timer {
            ready!(t.as_mut().poll(cx));
            Metrics::inc(&self.metrics.http_write_timeouts);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for the write deadline",
            )));
        }
        Poll::Pending
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.check(cx, polled)
    }

    /// Forwarded, with `is_write_vectored`: hyper then queues a response body as the shared
    /// bytes it is, instead of copying it into a per-connection buffer (up to 400 KB each).
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.check(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.check(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.check(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_blocked_write_fails_at_the_deadline_and_progress_restarts_it() {
        let (a, mut b) = tokio::io::duplex(64);
        let metrics = Arc::new(Metrics::default());
        let mut w = WriteDeadline::new(a, Duration::from_secs(2), metrics.clone());
        w.write_all(&[1; 64]).await.expect("fits the pipe");
        // The pipe is full: the next write blocks; reading a little within the deadline lets
        // it progress, which restarts the clock.
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let mut buf = [0u8; 32];
            b.read_exact(&mut buf).await.expect("read");
            b
        });
        w.write_all(&[2; 32]).await.expect("progress in time");
        let _b = reader.await.expect("reader");
        let started = Instant::now();
        let err = w.write_all(&[3; 32]).await.expect_err("nobody reads");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(metrics.http_write_timeouts.get(), 1);
    }
}
