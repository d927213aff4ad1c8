//! Writing a connection's frames to its socket: straight from the caller's buffers (a pass's
//! direct writes) or from its queue, with one `send`/`sendmsg` per call.

use super::{Conn, Mode, Sink, State};
use bytes::Buf;
use rustix::net::{self, SendAncillaryBuffer, SendFlags};
use std::io::{self, IoSlice};
use std::time::Instant;

/// Most frames handed to one vectored `send`.
const MAX_IOV: usize = 64;

impl Conn {
    /// Writes the queue and then `batch`, together; the bytes of `batch` written, or `None`
    /// when the socket did not take the whole queue (the connection is then blocked).
    pub(super) fn write_queue_then<B: AsRef<[u8]>>(
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
        self.consume(st, sent.min(queued), &mut done);
        if done > 0 {
            self.metrics.messages_out.inc_by(done);
        }
        if sent < queued {
            self.block(st);
            return Ok(None);
        }
        st.set_idle();
        Ok(Some(sent - queued))
    }

    /// Writes `parts` until done or the socket is full; the bytes written.
    pub(super) fn write_direct<B: AsRef<[u8]>>(&self, parts: &[B]) -> io::Result<usize> {
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
        match &self.sink {
            Sink::Tcp(sock) => sock.try_io(tokio::io::Interest::WRITABLE, || self.send_now(iov)),
            Sink::Pipe(pipe) => pipe.send(iov),
        }
    }

    /// `send` without asking Tokio first whether the socket is writable: the flusher's
    /// direct writes, where that check is a cache miss per receiver. Readiness left stale by
    /// a full socket costs the connection's task one extra try (`send` then clears it).
    ///
    /// A bare system call (rustix): glibc's `send` is a cancellation point, which in a
    /// multi-threaded process costs two atomic operations around every call, nothing this
    /// server uses (it never cancels a thread).
    fn send_now(&self, iov: &[IoSlice<'_>]) -> io::Result<usize> {
        let sock = match &self.sink {
            Sink::Tcp(sock) => sock,
            Sink::Pipe(pipe) => return pipe.send(iov),
        };
        let flags = SendFlags::NOSIGNAL;
        let sent = match iov {
            [one] => net::send(sock, one, flags),
            _ => net::sendmsg(sock, iov, &mut SendAncillaryBuffer::default(), flags),
        };
        Ok(sent?)
    }

    /// Writes the queue until it is empty or the socket is full.
    pub(super) fn write(&self, st: &mut State) {
        let mut done = 0u64;
        self.write_queue(st, &mut done);
        if done > 0 {
            self.metrics.messages_out.inc_by(done);
        }
    }

    fn write_queue(&self, st: &mut State, done: &mut u64) {
        let was_blocked = st.mode == Mode::Blocked;
        loop {
            if st.queue.is_empty() {
                st.set_idle();
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
                    self.consume(st, written, done);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    st.mode = Mode::Blocked;
                    st.blocked_since.get_or_insert_with(Instant::now);
                    if !was_blocked {
                        self.event.raise();
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(st),
            }
        }
    }
}

impl Conn {
    /// Takes `written` bytes off the front of the queue: whole frames leave it (counted in
    /// `done`), a frame written in part stays, started. A page reply written whole lets the
    /// connection read again.
    fn consume(&self, st: &mut State, written: usize, done: &mut u64) {
        if st.page_until > 0 {
            st.page_until = st.page_until.saturating_sub(written);
            if st.page_until == 0 {
                self.page_written(st);
            }
        }
        take_front(st, written, done);
    }
}

fn take_front(st: &mut State, mut written: usize, done: &mut u64) {
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
