//! [`Conn`]: one connection's bounded queue of encoded frames, its state and its close
//! switch; [`Bounds`] say when it counts as a slow consumer. Only a socket that is full (the
//! client does not read fast enough) involves the connection's own task, which waits for the
//! socket to drain. A queue that grows past its bounds closes the connection as a slow
//! consumer (4008); nobody else waits for it. Writing to the socket is in `write`.

use super::event::Event;
use super::flusher::Flusher;
use super::frame::text_frame;
use super::pipe::Pipe;
use crate::metrics::Metrics;
use crate::util::lock;
use bytes::Bytes;
use shared::{CloseReason, ServerMessage};
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

pub type ConnId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing queued.
    Idle,
    /// Queued, and handed to the flusher.
    Scheduled,
    /// The socket is full: the connection's task writes when it drains.
    Blocked,
    /// Writing failed: the peer is gone; nothing more is queued.
    Dead,
}

/// Laid out so that what a direct write reads (`mode`, `sealed`, `close`) comes first: with
/// the lock word before it, it shares the connection's first cache line (see `Conn`).
#[repr(C)]
struct State {
    mode: Mode,
    /// The close frame is queued: nothing else may follow it.
    sealed: bool,
    /// The first queued frame is partly written (it must go out whole, even when closing).
    head_started: bool,
    close: Option<CloseReason>,
    bytes: usize,
    queue: VecDeque<Bytes>,
    /// Since when the socket has been full with no byte written.
    blocked_since: Option<Instant>,
    /// Bytes to write before the page reply queued last is out whole (0: none is waiting).
    /// Those bytes count against no bound (see [`Conn::reply_page`]): the frames before the
    /// page passed the bounds when they were queued, and the page has its own budget.
    page_until: usize,
}

impl State {
    /// Bytes of the queue that count against the bounds: those queued after a page reply.
    fn counted(&self) -> usize {
        self.bytes - self.page_until
    }

    /// Forgets the page reply (the queue was dropped).
    fn clear_page(&mut self) {
        self.page_until = 0;
    }

    /// Everything queued is written: the connection is idle again. The queue's buffer goes
    /// too: an idle connection would keep it for good, and most of them are idle.
    fn set_idle(&mut self) {
        self.mode = Mode::Idle;
        self.head_started = false;
        self.blocked_since = None;
        if self.queue.capacity() > 0 {
            self.queue = VecDeque::new();
        }
    }
}

/// Where a connection's frames go: a WebSocket's TCP socket, or a long-polling session's
/// [`Pipe`].
pub enum Sink {
    Tcp(TcpStream),
    Pipe(Arc<Pipe>),
}

/// The hub's handle on one connection (a WebSocket, or a long-polling session): its socket,
/// its outbound queue and its close switch. A fan-out to a big room touches one `Conn` per receiver, each of them cold in the
/// cache: everything a direct write reads (the socket's fd, the metrics handle, the lock and
/// the state it checks) sits in the first 64 bytes, so a delivery costs one cache miss here.
#[repr(C, align(64))]
pub struct Conn {
    pub(super) sink: Sink,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    pub id: ConnId,
    /// Wakes the connection's task: the socket filled up, writing failed, or a close was asked.
    event: Event,
    /// The same for every connection: shared, not copied into each.
    bounds: Arc<Bounds>,
    flusher: Arc<Flusher>,
    /// Mirrors `State::page_until != 0` for the read loop, which checks it without the lock.
    page_unsent: AtomicBool,
}

/// When a connection counts as a slow consumer.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Frames queued beyond what the socket holds.
    pub frames: usize,
    /// Bytes queued beyond what the socket holds.
    pub bytes: usize,
    /// How long the socket may stay full, with nothing written, while more frames arrive.
    pub stall: Duration,
}

impl Conn {
    /// The socket, for tests that check its options.
    #[cfg(test)]
    pub(crate) fn socket(&self) -> &TcpStream {
        match &self.sink {
            Sink::Tcp(s) => s,
            Sink::Pipe(_) => panic!("a long-polling session has no socket"),
        }
    }

    pub fn new(
        id: ConnId,
        sink: Sink,
        bounds: Arc<Bounds>,
        flusher: Arc<Flusher>,
        metrics: Arc<Metrics>,
    ) -> Conn {
        Conn {
            id,
            sink,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                head_started: false,
                mode: Mode::Idle,
                close: None,
                sealed: false,
                blocked_since: None,
                page_until: 0,
            }),
            event: Event::default(),
            bounds,
            flusher,
            metrics,
            page_unsent: AtomicBool::new(false),
        }
    }

    /// Queues an encoded frame without waiting. A queue over its bounds means the client is
    /// not reading: it is closed as a slow consumer. False when the frame was not queued.
    pub fn push(self: &Arc<Self>, frame: Bytes) -> bool {
        self.push_all(std::iter::once(&frame))
    }

    /// Queues several frames under one lock (a burst of messages to the same receiver).
    /// False when they were not all queued.
    pub fn push_all<'a>(self: &Arc<Self>, frames: impl Iterator<Item = &'a Bytes>) -> bool {
        let st = lock(&self.state);
        if st.sealed || st.close.is_some() || st.mode == Mode::Dead {
            return false;
        }
        self.queue_frames(st, frames)
    }

    fn queue_frames<'a>(
        self: &Arc<Self>,
        mut st: MutexGuard<'_, State>,
        frames: impl Iterator<Item = &'a Bytes>,
    ) -> bool {
        let mut queued = false;
        for frame in frames {
            if !self.fits(&st, frame) {
                drop(st);
                Metrics::inc(&self.metrics.drops_slow_consumer);
                self.close(CloseReason::SlowConsumer);
                return false;
            }
            st.bytes += frame.len();
            st.queue.push_back(frame.clone());
            queued = true;
        }
        if queued {
            self.schedule(st);
        }
        true
    }

    /// Hands the connection to the flusher if nothing had been queued before.
    fn schedule(self: &Arc<Self>, mut st: MutexGuard<'_, State>) {
        if st.mode == Mode::Idle {
            st.mode = Mode::Scheduled;
            drop(st);
            self.flusher.schedule(self.clone());
        }
    }

    /// Sends a room's fan-out (the flusher's pass): `frames` in order; `pieces`, when the
    /// caller has them, hold the same bytes in fewer buffers. With nothing queued they go to
    /// the socket at once, from the caller's buffers, with one syscall; what the socket does
    /// not take (or everything, when frames are already waiting) joins the queue as
    /// `push_all` would. False when they were not all sent or queued.
    pub fn send_batch(self: &Arc<Self>, frames: &[&Bytes], pieces: Option<&[Bytes]>) -> bool {
        let mut st = lock(&self.state);
        if st.sealed || st.close.is_some() || st.mode == Mode::Dead {
            return false;
        }
        let sent = match st.mode {
            Mode::Idle => match pieces {
                Some(p) => self.write_direct(p),
                None => self.write_direct(frames),
            },
            // Frames wait for this pass (a reply, an ack): they and the batch go out in one
            // write, the batch from the caller's buffers rather than copied into the queue.
            Mode::Scheduled => {
                let r = match pieces {
                    Some(p) => self.write_queue_then(&mut st, p),
                    None => self.write_queue_then(&mut st, frames),
                };
                match r {
                    Ok(Some(n)) => Ok(n),
                    Ok(None) => return self.queue_frames(st, frames.iter().copied()),
                    Err(e) => Err(e),
                }
            }
            _ => return self.queue_frames(st, frames.iter().copied()),
        };
        let Ok(mut sent) = sent else {
            self.fail(&mut st);
            return false;
        };
        let mut rest = frames;
        while let Some((first, tail)) = rest.split_first() {
            if sent < first.len() {
                break;
            }
            sent -= first.len();
            rest = tail;
        }
        let done = frames.len() - rest.len();
        if done > 0 {
            self.metrics.messages_out.inc_by(done as u64);
        }
        let Some((first, tail)) = rest.split_first() else {
            return true;
        };
        // The socket is full: the rest waits in the queue, and the connection's task writes
        // it when the socket drains. A frame already started goes out whole, bounds or not.
        self.block(&mut st);
        if sent > 0 {
            let head = first.slice(sent..);
            st.bytes += head.len();
            st.queue.push_back(head);
            st.head_started = true;
            rest = tail;
        }
        self.queue_frames(st, rest.iter().copied())
    }

    /// A direct write left frames waiting for a full socket: the connection's task takes
    /// over (it waits for room and writes the rest).
    fn block(&self, st: &mut State) {
        st.mode = Mode::Blocked;
        st.blocked_since.get_or_insert_with(Instant::now);
        self.event.raise();
    }

    /// Whether `frame` may join the queue: within its bounds, and the socket has not been
    /// full for longer than the stall limit.
    fn fits(&self, st: &State, frame: &Bytes) -> bool {
        let b = &*self.bounds;
        st.queue.len() < b.frames.max(1)
            && st.counted() + frame.len() <= b.bytes.max(1)
            && st.blocked_since.is_none_or(|t| t.elapsed() <= b.stall)
    }

    /// Queues a message to this connection alone.
    pub fn reply(self: &Arc<Self>, msg: &ServerMessage) -> bool {
        self.push(text_frame(&msg.to_json()))
    }

    /// Queues a page reply (`joined`, `history`, `rooms`): a page is bounded by its own byte
    /// budget, so it does not count against the slow-consumer bounds, and the connection
    /// reads nothing more until it is written whole (`Conn::page_unsent`): one page at a
    /// time, however many a client asks for without reading.
    pub fn reply_page(self: &Arc<Self>, msg: &ServerMessage) -> bool {
        self.reply_page_json(&msg.to_json())
    }

    /// [`Conn::reply_page`] for a page already encoded to JSON.
    pub fn reply_page_json(self: &Arc<Self>, json: &str) -> bool {
        let frame = text_frame(json);
        let mut st = lock(&self.state);
        if st.sealed || st.close.is_some() || st.mode == Mode::Dead {
            return false;
        }
        st.bytes += frame.len();
        st.page_until = st.bytes;
        self.page_unsent.store(true, Release);
        st.queue.push_back(frame);
        self.schedule(st);
        true
    }

    /// A page reply is queued and not yet written whole: the connection reads no more frames.
    pub(crate) fn page_unsent(&self) -> bool {
        self.page_unsent.load(Acquire)
    }

    /// The page reply went out whole: reading resumes (the connection's task is woken, as the
    /// flusher may have been the one writing it).
    fn page_written(&self, st: &mut State) {
        st.clear_page();
        self.page_unsent.store(false, Release);
        self.event.raise();
    }

    /// Asks the connection to close with `reason`; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut st = lock(&self.state);
        if st.close.is_none() {
            st.close = Some(reason);
            drop(st);
            self.event.raise();
        }
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        lock(&self.state).close
    }

    pub(crate) fn is_blocked(&self) -> bool {
        lock(&self.state).mode == Mode::Blocked
    }

    pub(crate) fn is_dead(&self) -> bool {
        lock(&self.state).mode == Mode::Dead
    }

    /// Ready when the connection's task has something to look at (see `event`).
    pub(crate) fn poll_event(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.event.poll(cx)
    }

    /// Writes what is queued, if the flusher still owns this connection.
    pub(super) fn flush_scheduled(&self) {
        let mut st = lock(&self.state);
        if st.mode == Mode::Scheduled {
            self.write(&mut st);
        }
    }

    /// Once the socket reports room: writes what is queued (the connection's task). Polled,
    /// so that waiting for room takes no room in the task's future.
    pub(crate) fn poll_flush_writable(&self, cx: &mut Context<'_>) -> Poll<()> {
        match &self.sink {
            Sink::Tcp(sock) => match sock.poll_write_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => {
                    self.fail(&mut lock(&self.state));
                    return Poll::Ready(());
                }
            },
            Sink::Pipe(pipe) => {
                if pipe.poll_writable(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        }
        let mut st = lock(&self.state);
        if st.mode == Mode::Blocked {
            self.write(&mut st);
        }
        Poll::Ready(())
    }

    pub(crate) async fn flush_when_writable(&self) {
        std::future::poll_fn(|cx| self.poll_flush_writable(cx)).await
    }

    fn fail(&self, st: &mut State) {
        st.mode = Mode::Dead;
        st.queue.clear();
        st.bytes = 0;
        st.clear_page();
        self.event.raise();
    }

    /// Queues the close frame as the last one. For a slow consumer, what it has not started
    /// to receive is dropped first. Nothing is queued after this.
    pub(crate) fn seal(self: &Arc<Self>, close: Option<Bytes>, drop_queued: bool) {
        let mut st = lock(&self.state);
        if st.sealed {
            return;
        }
        st.sealed = true;
        if st.mode == Mode::Dead {
            return;
        }
        if drop_queued {
            let keep = usize::from(st.head_started);
            st.queue.truncate(keep);
            st.bytes = st.queue.iter().map(Bytes::len).sum();
            st.page_until = st.page_until.min(st.bytes);
        }
        if let Some(f) = close {
            st.bytes += f.len();
            st.queue.push_back(f);
        }
        if st.mode == Mode::Idle && !st.queue.is_empty() {
            st.mode = Mode::Scheduled;
        }
    }

    /// Holds back whatever is written next until the socket closes (at most 200 ms, by the
    /// kernel's rule), so that the close frame and the end of the stream go out in one segment
    /// instead of two. At shutdown every connection ends at once, and on loopback each segment
    /// also costs the sender's core the receiver's processing and its acknowledgement.
    pub(crate) fn cork(&self) {
        if let Sink::Tcp(sock) = &self.sink {
            let _ = socket2::SockRef::from(sock).set_tcp_cork(true);
        }
    }

    /// Writes everything queued (the close frame last); false if the peer is gone first.
    pub(crate) async fn drain(&self) -> bool {
        loop {
            {
                let mut st = lock(&self.state);
                match st.mode {
                    Mode::Idle => return true,
                    Mode::Dead => return false,
                    Mode::Scheduled => self.write(&mut st),
                    Mode::Blocked => {}
                }
                match st.mode {
                    Mode::Idle => return true,
                    Mode::Dead => return false,
                    _ => {}
                }
            }
            self.flush_when_writable().await;
        }
    }

    /// Drops whatever is still queued (the connection is gone).
    pub(crate) fn discard(&self) {
        let mut st = lock(&self.state);
        st.sealed = true;
        st.queue.clear();
        st.bytes = 0;
        st.clear_page();
        if st.mode != Mode::Dead {
            st.mode = Mode::Idle;
        }
    }
}

mod write;

#[cfg(test)]
mod tests;
