//! A connection's outbound side: a bounded queue of encoded frames, written to the socket by
//! whoever has something to send, never by a task per connection.
//!
//! A room's broadcasts reach the [`Flusher`] as a [`Job`]: its pass sends each member
//! everything posted since the last pass with one `send` (`Conn::send_batch`), straight from
//! the shared bytes when the member has nothing queued. Anything else for one connection (a
//! reply, a direct message) is queued, and the connection is handed to the flusher when its
//! queue goes from empty to non-empty; the pass then writes the queue with one `sendmsg`. At
//! low rates that is one syscall per delivery and no task wake-up per receiver; under load,
//! everything for a receiver since its last write goes out together, so the cost per delivery
//! falls as the rate rises. Only a socket that is full (the client does not read fast enough)
//! involves the connection's own task, which waits for the socket to drain. A queue that grows
//! past its bounds closes the connection as a slow consumer (4008); nobody else waits for it.

use crate::metrics::Metrics;
use crate::util::lock;
use bytes::{Buf, Bytes, BytesMut};
use shared::{CloseReason, ServerMessage};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

pub type ConnId = u64;

/// Most frames handed to one `writev`.
const MAX_IOV: usize = 64;

/// The header of an unmasked final frame (RFC 6455 §5.2) with a payload of `len` bytes, in
/// the shortest length form: the first `n` bytes of the array.
fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if len <= usize::from(u16::MAX) {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

/// Encodes one unmasked server frame: the same bytes serve every receiver.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let (h, n) = header(opcode, payload.len());
    let mut b = BytesMut::with_capacity(n + payload.len());
    b.extend_from_slice(&h[..n]);
    b.extend_from_slice(payload);
    b.freeze()
}

/// A text frame of `value` as JSON, serialized straight into the frame's buffer (one
/// allocation, no copy): the header is written in front once the length is known.
pub fn json_frame<T: serde::Serialize>(value: &T) -> Bytes {
    const ROOM: usize = 10;
    let mut b = BytesMut::with_capacity(ROOM + 128);
    b.extend_from_slice(&[0; ROOM]);
    let mut w = bytes::BufMut::writer(b);
    // Serializing our message types cannot fail: every map key is a string.
    if serde_json::to_writer(&mut w, value).is_err() {
        return text_frame("{}");
    }
    let mut b = w.into_inner();
    let (h, n) = header(0x1, b.len() - ROOM);
    b[ROOM - n..ROOM].copy_from_slice(&h[..n]);
    b.advance(ROOM - n);
    b.freeze()
}

pub fn text_frame(text: &str) -> Bytes {
    frame(0x1, text.as_bytes())
}

pub fn ping_frame() -> Bytes {
    frame(0x9, b"")
}

pub fn close_frame(reason: CloseReason) -> Bytes {
    let mut payload = reason.code().to_be_bytes().to_vec();
    payload.extend_from_slice(reason.label().as_bytes());
    payload.truncate(125);
    frame(0x8, &payload)
}

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
}

/// The hub's handle on one WebSocket connection: its socket, its outbound queue and its close
/// switch. A fan-out to a big room touches one `Conn` per receiver, each of them cold in the
/// cache: everything a direct write reads (the socket's fd, the metrics handle, the lock and
/// the state it checks) sits in the first 64 bytes, so a delivery costs one cache miss here,
/// not four (the fd used to sit behind a second `Arc`).
#[repr(C, align(64))]
pub struct Conn {
    sock: TcpStream,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    pub id: ConnId,
    /// Wakes the connection's task: the socket filled up, writing failed, or a close was asked.
    event: Notify,
    max_frames: usize,
    max_bytes: usize,
    max_stall: Duration,
    flusher: Arc<Flusher>,
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
    pub fn new(
        id: ConnId,
        sock: TcpStream,
        bounds: Bounds,
        flusher: Arc<Flusher>,
        metrics: Arc<Metrics>,
    ) -> Conn {
        Conn {
            id,
            sock,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                head_started: false,
                mode: Mode::Idle,
                close: None,
                sealed: false,
                blocked_since: None,
            }),
            event: Notify::new(),
            max_frames: bounds.frames.max(1),
            max_bytes: bounds.bytes.max(1),
            max_stall: bounds.stall,
            flusher,
            metrics,
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
        if queued && st.mode == Mode::Idle {
            st.mode = Mode::Scheduled;
            drop(st);
            self.flusher.schedule(self.clone());
        }
        true
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
            self.metrics.messages_out.fetch_add(done as u64, Relaxed);
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

    /// Writes the queue and then `batch`, together; the bytes of `batch` written, or `None`
    /// when the socket did not take the whole queue (the connection is then blocked).
    fn write_queue_then<B: AsRef<[u8]>>(
        &self,
        st: &mut State,
        batch: &[B],
    ) -> io::Result<Option<usize>> {
        let queued = st.bytes;
        let sent = {
            let parts: Vec<&[u8]> = st
                .queue
                .iter()
                .map(|f| &f[..])
                .chain(batch.iter().map(AsRef::as_ref))
                .collect();
            self.write_direct(&parts)?
        };
        let mut done = 0;
        consume(st, sent.min(queued), &mut done);
        if done > 0 {
            self.metrics.messages_out.fetch_add(done, Relaxed);
        }
        if sent < queued {
            self.block(st);
            return Ok(None);
        }
        st.mode = Mode::Idle;
        st.head_started = false;
        st.blocked_since = None;
        Ok(Some(sent - queued))
    }

    /// A direct write left frames waiting for a full socket: the connection's task takes
    /// over (it waits for room and writes the rest).
    fn block(&self, st: &mut State) {
        st.mode = Mode::Blocked;
        st.blocked_since.get_or_insert_with(Instant::now);
        self.event.notify_one();
    }

    /// Writes `parts` until done or the socket is full; the bytes written.
    fn write_direct<B: AsRef<[u8]>>(&self, parts: &[B]) -> io::Result<usize> {
        let (mut idx, mut off, mut total) = (0usize, 0usize, 0usize);
        while idx < parts.len() {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            let mut want = 0;
            for (slot, p) in iov.iter_mut().zip(&parts[idx..]) {
                let p = p.as_ref();
                let b: &[u8] = if n == 0 { &p[off..] } else { p };
                *slot = IoSlice::new(b);
                want += b.len();
                n += 1;
            }
            let w = match self.send_now(&iov[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => w,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(total),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += w;
            let short = w < want;
            let mut w = w;
            while w > 0 {
                let left = parts[idx].as_ref().len() - off;
                if w >= left {
                    w -= left;
                    idx += 1;
                    off = 0;
                } else {
                    off += w;
                    w = 0;
                }
            }
            if short {
                return Ok(total);
            }
        }
        Ok(total)
    }

    /// One `send`/`sendmsg` (no `writev`: sockets skip the VFS layer that way). A full
    /// socket clears Tokio's readiness, so the connection's task can wait for room.
    fn send(&self, iov: &[IoSlice<'_>]) -> io::Result<usize> {
        self.sock
            .try_io(tokio::io::Interest::WRITABLE, || self.send_now(iov))
    }

    /// `send` without asking Tokio first whether the socket is writable: the flusher's
    /// direct writes, where that check is a cache miss per receiver. Readiness left stale by
    /// a full socket costs the connection's task one extra try (`send` then clears it).
    fn send_now(&self, iov: &[IoSlice<'_>]) -> io::Result<usize> {
        let s = socket2::SockRef::from(&self.sock);
        match iov {
            [one] => s.send(one),
            _ => s.send_vectored(iov),
        }
    }

    /// Whether `frame` may join the queue: within its bounds, and the socket has not been
    /// full for longer than the stall limit.
    fn fits(&self, st: &State, frame: &Bytes) -> bool {
        st.queue.len() < self.max_frames
            && st.bytes + frame.len() <= self.max_bytes
            && st
                .blocked_since
                .is_none_or(|t| t.elapsed() <= self.max_stall)
    }

    /// Queues a message to this connection alone.
    pub fn reply(self: &Arc<Self>, msg: &ServerMessage) -> bool {
        self.push(text_frame(&msg.to_json()))
    }

    /// Asks the connection to close with `reason`; the first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut st = lock(&self.state);
        if st.close.is_none() {
            st.close = Some(reason);
            drop(st);
            self.event.notify_one();
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

    /// Resolves when the connection's task has something to look at (see `event`).
    pub(crate) fn event(&self) -> tokio::sync::futures::Notified<'_> {
        self.event.notified()
    }

    /// Writes what is queued, if the flusher still owns this connection.
    fn flush_scheduled(&self) {
        let mut st = lock(&self.state);
        if st.mode == Mode::Scheduled {
            self.write(&mut st);
        }
    }

    /// After the socket reported room: writes what is queued (the connection's task).
    pub(crate) async fn flush_when_writable(&self) {
        if self.sock.writable().await.is_err() {
            self.fail(&mut lock(&self.state));
            return;
        }
        let mut st = lock(&self.state);
        if st.mode == Mode::Blocked {
            self.write(&mut st);
        }
    }

    /// Writes the queue until it is empty or the socket is full.
    fn write(&self, st: &mut State) {
        let mut done = 0u64;
        self.write_queue(st, &mut done);
        if done > 0 {
            self.metrics.messages_out.fetch_add(done, Relaxed);
        }
    }

    fn write_queue(&self, st: &mut State, done: &mut u64) {
        let was_blocked = st.mode == Mode::Blocked;
        loop {
            if st.queue.is_empty() {
                st.mode = Mode::Idle;
                st.head_started = false;
                st.blocked_since = None;
                return;
            }
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut n = 0;
            for (slot, f) in iov.iter_mut().zip(st.queue.iter()) {
                *slot = IoSlice::new(f);
                n += 1;
            }
            match self.send(&iov[..n]) {
                Ok(0) => return self.fail(st),
                Ok(written) => {
                    st.blocked_since = None;
                    consume(st, written, done);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    st.mode = Mode::Blocked;
                    st.blocked_since.get_or_insert_with(Instant::now);
                    if !was_blocked {
                        self.event.notify_one();
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(st),
            }
        }
    }

    fn fail(&self, st: &mut State) {
        st.mode = Mode::Dead;
        st.queue.clear();
        st.bytes = 0;
        self.event.notify_one();
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
        }
        if let Some(f) = close {
            st.bytes += f.len();
            st.queue.push_back(f);
        }
        if st.mode == Mode::Idle && !st.queue.is_empty() {
            st.mode = Mode::Scheduled;
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
        if st.mode != Mode::Dead {
            st.mode = Mode::Idle;
        }
    }
}

/// Work a flusher pass runs before it writes the connections handed to it: a room's
/// fan-out of what was posted since the last pass.
pub trait Job: Send + Sync {
    /// Does one step; `true` asks for another once the runtime's other tasks had their turn
    /// (what they post meanwhile joins that step).
    fn run(&self) -> bool;
}

/// Takes `written` bytes off the front of the queue: whole frames leave it (counted in
/// `done`), a frame written in part stays, started.
fn consume(st: &mut State, mut written: usize, done: &mut u64) {
    st.bytes -= written;
    while written > 0 {
        let Some(head) = st.queue.front_mut() else {
            break;
        };
        if written >= head.len() {
            written -= head.len();
            st.queue.pop_front();
            st.head_started = false;
            *done += 1;
        } else {
            head.advance(written);
            st.head_started = true;
            written = 0;
        }
    }
}

/// Writes the queues of connections that have frames waiting, one pass at a time: a pass
/// runs the jobs handed to it (rooms sending what was posted since the last pass, straight to
/// sockets that have nothing queued), then writes every connection scheduled since the last
/// pass, so a burst of messages to the same receivers leaves in one write each. Sharded (one
/// task per core) so writes spread over the runtime's workers.
pub struct Flusher {
    shards: Vec<Arc<Shard>>,
    coming: Arc<Coming>,
}

/// Posts that are moments away: messages already read whose store commit is running. A pass
/// waits for them (at most `COMING_WAIT`), so they go out in this pass and not in the one
/// after it. Under load a pass to a big room takes tens of milliseconds, and without the wait
/// a message read just before a pass would sit out that whole pass, its commit done early on.
#[derive(Default)]
struct Coming {
    count: AtomicUsize,
    settled: Notify,
    /// Called when a pass ends with nothing coming (see `Flusher::when_idle`).
    idle: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// Longest a pass waits for posts that are coming.
const COMING_WAIT: Duration = Duration::from_millis(1);

impl Coming {
    async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One post on its way (see `Flusher::coming`); dropped once it is posted, or given up.
pub struct ComingPost(Arc<Coming>);

impl Drop for ComingPost {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, AcqRel) == 1 {
            self.0.settled.notify_waiters();
        }
    }
}

#[derive(Default)]
struct Shard {
    ready: Mutex<Vec<Arc<Conn>>>,
    jobs: Mutex<Vec<Arc<dyn Job>>>,
    wake: Notify,
}

impl Flusher {
    /// Starts the flushing tasks on the current Tokio runtime.
    pub fn start() -> Arc<Flusher> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards: Vec<Arc<Shard>> = (0..n).map(|_| Arc::new(Shard::default())).collect();
        let coming = Arc::new(Coming::default());
        for s in &shards {
            tokio::spawn(run_shard(s.clone(), coming.clone()));
        }
        Arc::new(Flusher { shards, coming })
    }

    /// A flusher whose tasks never run (tests look at what was queued).
    #[cfg(test)]
    pub(crate) fn paused() -> Arc<Flusher> {
        Arc::new(Flusher {
            shards: vec![Arc::new(Shard::default())],
            coming: Arc::default(),
        })
    }

    /// One pass by hand (a paused flusher's, in tests): the jobs, then the connections.
    #[cfg(test)]
    pub(crate) fn run_pass(&self) {
        for s in &self.shards {
            let mut jobs = std::mem::take(&mut *lock(&s.jobs));
            while !jobs.is_empty() {
                jobs.retain(|j| j.run());
            }
            let ready = std::mem::take(&mut *lock(&s.ready));
            ready.iter().for_each(|c| c.flush_scheduled());
        }
    }

    fn schedule(&self, conn: Arc<Conn>) {
        let shard = &self.shards[(conn.id as usize) % self.shards.len()];
        let mut ready = lock(&shard.ready);
        let first = ready.is_empty();
        ready.push(conn);
        drop(ready);
        if first {
            shard.wake.notify_one();
        }
    }

    /// Tells the passes that a post is coming (a message read, its commit running); they wait
    /// for it briefly. Drop the guard once it is posted.
    pub fn coming(&self) -> ComingPost {
        self.coming.count.fetch_add(1, AcqRel);
        ComingPost(self.coming.clone())
    }

    /// Has `f` called each time a pass ends with nothing left to do and no post on its way:
    /// what was handed to the flusher has gone out. Set once; `f` must be cheap.
    pub fn when_idle(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.coming.idle.set(Box::new(f));
    }

    /// Runs `job` in the next pass of the shard `key` picks. The caller hands a job over once
    /// until it has run.
    pub fn schedule_job(&self, key: usize, job: Arc<dyn Job>) {
        let shard = &self.shards[key % self.shards.len()];
        let mut jobs = lock(&shard.jobs);
        let first = jobs.is_empty();
        jobs.push(job);
        drop(jobs);
        if first {
            shard.wake.notify_one();
        }
    }
}

async fn run_shard(shard: Arc<Shard>, coming: Arc<Coming>) {
    let mut batch = Vec::new();
    let mut jobs = Vec::new();
    // Jobs that asked for another step.
    let mut unfinished: Vec<Arc<dyn Job>> = Vec::new();
    loop {
        if unfinished.is_empty() {
            if coming.count.load(Acquire) == 0 {
                if let Some(idle) = coming.idle.get() {
                    idle();
                }
            }
            shard.wake.notified().await;
            // Let the tasks that are ready run first: what they queue joins this pass.
            tokio::task::yield_now().await;
            if coming.count.load(Acquire) > 0 {
                let _ = tokio::time::timeout(COMING_WAIT, coming.settled()).await;
            }
        } else {
            // Between two steps of a long job, the other tasks run (reads, acks, posts).
            tokio::task::yield_now().await;
        }
        loop {
            jobs.append(&mut unfinished);
            jobs.append(&mut lock(&shard.jobs));
            for job in jobs.drain(..) {
                if job.run() {
                    unfinished.push(job);
                }
            }
            std::mem::swap(&mut batch, &mut *lock(&shard.ready));
            let idle = batch.is_empty();
            for conn in batch.drain(..) {
                conn.flush_scheduled();
            }
            if !unfinished.is_empty() || (idle && lock(&shard.jobs).is_empty()) {
                break;
            }
        }
    }
}

/// The socket as tungstenite sees it: reads go to the socket; whatever tungstenite writes
/// itself (a pong, say) joins the connection's queue, so frames never interleave.
pub struct SocketIo {
    conn: Arc<Conn>,
}

impl SocketIo {
    pub fn new(conn: Arc<Conn>) -> SocketIo {
        SocketIo { conn }
    }
}

impl AsyncRead for SocketIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            match self.conn.sock.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match self.conn.sock.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SocketIo {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Dropped once the close frame is queued (tungstenite echoing a close, say).
        self.conn.push(Bytes::copy_from_slice(buf));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpSocket};

    #[test]
    fn json_frames_match_text_frames_of_the_same_json() {
        for n in [0, 100, 125, 126, 200, 65_535, 70_000] {
            let v = serde_json::json!({ "msg": "x".repeat(n) });
            assert_eq!(json_frame(&v), text_frame(&v.to_string()), "payload of {n}");
        }
    }

    /// What a direct write reads must stay in the connection's first cache line: a fan-out
    /// reaches thousands of cold `Conn`s, and each further line is one more miss per delivery.
    #[test]
    fn what_a_direct_write_reads_sits_in_the_first_cache_line() {
        use std::mem::{align_of, offset_of, size_of};
        assert_eq!(align_of::<Conn>(), 64);
        assert_eq!(offset_of!(Conn, sock), 0);
        assert!(offset_of!(Conn, metrics) + size_of::<Arc<Metrics>>() <= 64);
        // The lock word leads the mutex; the state follows it, `mode`, `sealed` and `close`
        // first.
        let state = offset_of!(Conn, state) + size_of::<Mutex<State>>() - size_of::<State>();
        assert!(offset_of!(Conn, state) < state);
        let end = state + offset_of!(State, close) + size_of::<Option<CloseReason>>();
        assert!(end <= 64, "hot fields end at byte {end}");
        assert!(offset_of!(State, mode) < offset_of!(State, close));
        assert!(offset_of!(State, sealed) < offset_of!(State, close));
    }

    #[test]
    fn frames_use_the_shortest_length_form() {
        assert_eq!(&text_frame("hi")[..], &[0x81, 2, b'h', b'i']);
        let f = text_frame(&"x".repeat(200));
        assert_eq!(&f[..4], &[0x81, 126, 0, 200]);
        assert_eq!(f.len(), 204);
        let f = text_frame(&"x".repeat(70_000));
        assert_eq!(&f[..2], &[0x81, 127]);
        assert_eq!(
            u64::from_be_bytes(f[2..10].try_into().expect("8 bytes")),
            70_000
        );
        let c = close_frame(CloseReason::SlowConsumer);
        assert_eq!(c[0], 0x88);
        assert_eq!(u16::from_be_bytes([c[2], c[3]]), 4008);
    }

    /// A server-side connection and its client end; `rcvbuf` shrinks the client's buffer.
    async fn pair(
        max_bytes: usize,
        rcvbuf: Option<u32>,
        stall: Option<Duration>,
    ) -> (Arc<Conn>, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let sock = TcpSocket::new_v4().expect("socket");
        if let Some(n) = rcvbuf {
            sock.set_recv_buffer_size(n).expect("rcvbuf");
        }
        let client = sock
            .connect(l.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = l.accept().await.expect("accept");
        let bounds = Bounds {
            frames: 1 << 20,
            bytes: max_bytes,
            stall: stall.unwrap_or(Duration::from_secs(3600)),
        };
        let conn = Conn::new(
            1,
            server,
            bounds,
            Flusher::start(),
            Arc::new(Metrics::default()),
        );
        (Arc::new(conn), client)
    }

    /// Moves every whole frame at the start of `buf` to `frames`; true once a close frame
    /// or the `until`th frame is parsed.
    fn parse(buf: &mut Vec<u8>, frames: &mut Vec<(u8, Vec<u8>)>, until: usize) -> bool {
        while buf.len() >= 2 {
            assert_eq!(buf[0] & 0x80, 0x80, "FIN set on every frame");
            assert_eq!(buf[1] & 0x80, 0, "server frames are unmasked");
            let (len, head) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
                127 if buf.len() >= 10 => (
                    u64::from_be_bytes(buf[2..10].try_into().expect("8")) as usize,
                    10,
                ),
                126 | 127 => break,
                n => (usize::from(n), 2),
            };
            if buf.len() < head + len {
                break;
            }
            let op = buf[0] & 0x0f;
            frames.push((op, buf[head..head + len].to_vec()));
            buf.drain(..head + len);
            if op == 0x8 || frames.len() == until {
                return true;
            }
        }
        false
    }

    /// Reads server frames until a close frame or EOF: (opcode, payload) each.
    async fn read_frames(client: &mut TcpStream, until: usize) -> Vec<(u8, Vec<u8>)> {
        let mut buf = Vec::new();
        let mut frames = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if parse(&mut buf, &mut frames, until) {
                return frames;
            }
            let n = client.read(&mut chunk).await.expect("read");
            if n == 0 {
                return frames;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The frames a client has been sent so far: read until nothing arrives for 150 ms.
    pub(crate) async fn frames_so_far(client: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let idle = Duration::from_millis(150);
        while let Ok(Ok(n)) = tokio::time::timeout(idle, client.read(&mut chunk)).await {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let mut frames = Vec::new();
        parse(&mut buf, &mut frames, usize::MAX);
        assert!(buf.is_empty(), "only whole frames were sent");
        frames
    }

    /// What the connection's task does for its queue: write when a full socket drains.
    fn drive(conn: &Arc<Conn>) -> tokio::task::JoinHandle<()> {
        let conn = conn.clone();
        tokio::spawn(async move {
            loop {
                if conn.is_blocked() {
                    conn.flush_when_writable().await;
                } else {
                    conn.event().await;
                }
            }
        })
    }

    fn size(i: usize) -> usize {
        // Sizes cross the 7-bit, 16-bit and 64-bit length forms.
        if i % 100 == 0 {
            70_000
        } else {
            (i * 37) % 300
        }
    }

    #[tokio::test]
    async fn queued_frames_reach_the_socket_whole_and_in_order() {
        let (conn, mut client) = pair(64 << 20, None, None).await;
        let driver = drive(&conn);
        let reader = tokio::spawn(async move { read_frames(&mut client, 3000).await });
        for i in 0..3000usize {
            let text = format!("{i}:{}", "y".repeat(size(i)));
            assert!(conn.push(text_frame(&text)));
            if i % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let frames = reader.await.expect("reader");
        driver.abort();
        assert_eq!(frames.len(), 3000);
        for (i, (op, payload)) in frames.iter().enumerate() {
            assert_eq!(*op, 1);
            let text = std::str::from_utf8(payload).expect("utf-8");
            assert!(text.starts_with(&format!("{i}:")), "frame {i} out of order");
            assert_eq!(text.len(), format!("{i}:").len() + size(i));
        }
        assert_eq!(conn.close_reason(), None);
    }

    #[tokio::test]
    async fn a_batch_bigger_than_the_socket_goes_out_whole_and_in_order() {
        let (conn, mut client) = pair(64 << 20, Some(4096), None).await;
        socket2::SockRef::from(&conn.sock)
            .set_send_buffer_size(16 * 1024)
            .expect("sndbuf");
        let driver = drive(&conn);
        let texts: Vec<String> = (0..200)
            .map(|i| format!("{i}:{}", "b".repeat(20_000 + size(i))))
            .collect();
        let frames: Vec<Bytes> = texts.iter().map(|t| text_frame(t)).collect();
        let refs: Vec<&Bytes> = frames.iter().collect();
        let mut whole = BytesMut::new();
        refs[..100].iter().for_each(|f| whole.extend_from_slice(f));
        // Nothing queued: written straight from the concatenation (in two pieces), which the
        // socket cannot take whole; the rest waits in the queue, starting mid-frame.
        let whole = whole.freeze();
        let pieces = [
            whole.slice(..whole.len() / 3),
            whole.slice(whole.len() / 3..),
        ];
        assert!(conn.send_batch(&refs[..100], Some(&pieces)));
        assert!(conn.is_blocked(), "the socket filled up");
        // Frames already waiting: the next batch queues behind them.
        assert!(conn.send_batch(&refs[100..], None));
        let got = read_frames(&mut client, 200).await;
        driver.abort();
        assert_eq!(got.len(), 200);
        for (i, (op, payload)) in got.iter().enumerate() {
            assert_eq!(*op, 1);
            assert_eq!(payload, texts[i].as_bytes(), "frame {i}");
        }
        assert_eq!(conn.close_reason(), None);
    }

    #[tokio::test]
    async fn a_reply_waiting_for_the_pass_goes_first_and_the_batch_is_not_queued() {
        let (conn, mut client) = pair(64 << 20, None, None).await;
        // An ack handed to the flusher; its pass has not run yet (this task has not yielded).
        assert!(conn.push(text_frame("ack")));
        assert_eq!(lock(&conn.state).mode, Mode::Scheduled);
        let frames: Vec<Bytes> = (0..50).map(|i| text_frame(&format!("m{i}"))).collect();
        let refs: Vec<&Bytes> = frames.iter().collect();
        assert!(conn.send_batch(&refs, None));
        // Both went to the socket now: nothing was copied into the queue.
        assert!(lock(&conn.state).queue.is_empty());
        assert_eq!(lock(&conn.state).mode, Mode::Idle);
        let got = read_frames(&mut client, 51).await;
        let texts: Vec<&[u8]> = got.iter().map(|(_, p)| &p[..]).collect();
        assert_eq!(texts[0], b"ack");
        for (i, t) in texts[1..].iter().enumerate() {
            assert_eq!(*t, format!("m{i}").as_bytes());
        }
    }

    #[tokio::test]
    async fn a_reply_bigger_than_the_socket_still_goes_out_before_the_batch_whole() {
        let (conn, mut client) = pair(64 << 20, Some(4096), None).await;
        socket2::SockRef::from(&conn.sock)
            .set_send_buffer_size(16 * 1024)
            .expect("sndbuf");
        let reply = "r".repeat(300_000);
        assert!(conn.push(text_frame(&reply)));
        let texts: Vec<String> = (0..20)
            .map(|i| format!("{i}:{}", "b".repeat(5_000)))
            .collect();
        let frames: Vec<Bytes> = texts.iter().map(|t| text_frame(t)).collect();
        let refs: Vec<&Bytes> = frames.iter().collect();
        // The socket takes part of the reply: the reply stays first, started, and the batch
        // queues behind it.
        assert!(conn.send_batch(&refs, None));
        assert!(conn.is_blocked());
        let driver = drive(&conn);
        let got = read_frames(&mut client, 21).await;
        driver.abort();
        assert_eq!(got[0].1, reply.as_bytes());
        for (i, (_, payload)) in got[1..].iter().enumerate() {
            assert_eq!(payload, texts[i].as_bytes(), "frame {i}");
        }
        assert_eq!(conn.close_reason(), None);
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_closed_and_gets_whole_frames_then_the_close() {
        let (conn, mut client) = pair(256 * 1024, Some(4096), None).await;
        let big = "z".repeat(50_000);
        let mut pushed = 0;
        while conn.push(text_frame(&big)) {
            pushed += 1;
            tokio::task::yield_now().await;
            assert!(pushed < 10_000, "the queue bound never tripped");
        }
        assert_eq!(conn.close_reason(), Some(CloseReason::SlowConsumer));
        assert!(
            !conn.push(text_frame("late")),
            "nothing is queued after the close"
        );
        // The close: what was not started is dropped, a frame already half-sent is finished.
        conn.seal(Some(close_frame(CloseReason::SlowConsumer)), true);
        let drain = tokio::spawn({
            let conn = conn.clone();
            async move { conn.drain().await }
        });
        let frames = read_frames(&mut client, usize::MAX).await;
        assert!(drain.await.expect("drain"), "queue drained");
        let (op, payload) = frames.last().expect("frames");
        assert_eq!(*op, 0x8, "the close frame comes last");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 4008);
        assert!(frames.len() < pushed + 1, "unsent frames were dropped");
        for (op, payload) in &frames[..frames.len() - 1] {
            assert_eq!((*op, payload.len()), (1, 50_000), "every data frame whole");
        }
    }

    #[tokio::test]
    async fn a_socket_full_for_longer_than_the_stall_limit_closes_the_connection() {
        let stall = Duration::from_millis(300);
        let (conn, _client) = pair(64 << 20, Some(4096), Some(stall)).await;
        let _driver = drive(&conn);
        let text = "s".repeat(60_000);
        let started = Instant::now();
        // Far below the byte bound: only the stall can trip.
        while conn.push(text_frame(&text)) {
            tokio::time::sleep(Duration::from_millis(2)).await;
            assert!(started.elapsed() < Duration::from_secs(20), "never closed");
        }
        assert_eq!(conn.close_reason(), Some(CloseReason::SlowConsumer));
        assert!(started.elapsed() >= stall);
    }

    /// A job that notes its name when it runs.
    struct Note(&'static str, Arc<Mutex<Vec<&'static str>>>);

    impl Job for Note {
        fn run(&self) -> bool {
            lock(&self.1).push(self.0);
            false
        }
    }

    async fn yields(n: usize) {
        for _ in 0..n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_waits_for_a_post_that_is_coming_then_takes_it_along() {
        let flusher = Flusher::start();
        let ran = Arc::new(Mutex::new(Vec::new()));
        let coming = flusher.coming();
        flusher.schedule_job(0, Arc::new(Note("posted", ran.clone())));
        // The pass is due, but a post is on its way (a commit running): it waits. The clock is
        // paused and this task keeps running, so its time limit cannot pass meanwhile.
        yields(20).await;
        assert!(
            lock(&ran).is_empty(),
            "the pass did not wait: {:?}",
            lock(&ran)
        );
        flusher.schedule_job(0, Arc::new(Note("arrived", ran.clone())));
        drop(coming);
        yields(20).await;
        assert_eq!(*lock(&ran), ["posted", "arrived"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pass_waits_for_coming_posts_a_millisecond_at_most() {
        let flusher = Flusher::start();
        let ran = Arc::new(Mutex::new(Vec::new()));
        let _never = flusher.coming();
        flusher.schedule_job(0, Arc::new(Note("posted", ran.clone())));
        yields(20).await;
        assert!(lock(&ran).is_empty());
        tokio::time::sleep(COMING_WAIT * 2).await;
        yields(20).await;
        assert_eq!(*lock(&ran), ["posted"]);
    }
}
