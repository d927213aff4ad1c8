//! [`Pipe`]: the socket of a long-polling session, in memory. The connection writes its
//! frames into it exactly as into a TCP socket (so the hub, the flusher and the queue's
//! bounds are the same for both transports); each `GET /poll` takes the text frames out as
//! numbered messages. A message stays, counted against the pipe's room, until a later GET
//! acknowledges its number: a response lost on the way is sent again. When the pipe is full
//! the connection counts as blocked, like a full socket, and its queue's bounds apply.

use super::event::Event;
use crate::util::lock;
use bytes::{Buf, Bytes, BytesMut};
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::sync::Mutex;
use std::task::{Context, Poll};
use tokio::sync::Notify;

/// What the pipe holds at most: frames not yet taken plus messages not yet acknowledged.
/// Above the largest page reply (256 KiB), so a page always fits once the client reads.
pub const PIPE_BYTES: usize = 512 * 1024;

pub struct Pipe {
    state: Mutex<State>,
    /// Wakes a GET waiting for messages.
    data: Notify,
    /// Wakes the connection's task waiting for room.
    room: Event,
}

#[derive(Default)]
struct State {
    /// Frames written by the connection and not yet taken (the last one may be partial).
    unread: BytesMut,
    /// Text payloads taken and not yet acknowledged: `unacked[i]` is number `first + i`.
    unacked: VecDeque<Bytes>,
    first: u64,
    unacked_bytes: usize,
    /// The close frame's code, once taken: nothing follows it.
    close: Option<u16>,
}

/// What a GET answers: every message after its ack, and the close code once the session
/// ended.
#[derive(Debug, Default)]
pub struct Taken {
    pub messages: Vec<Bytes>,
    /// The number of the last message in `messages` (the ack when there is none).
    pub last: u64,
    pub close: Option<u16>,
}

/// An ack beyond the last message ever numbered: the client is not following the protocol.
#[derive(Debug, PartialEq, Eq)]
pub struct AckTooFar;

impl Default for Pipe {
    fn default() -> Self {
        Pipe {
            state: Mutex::new(State {
                first: 1,
                ..State::default()
            }),
            data: Notify::new(),
            room: Event::default(),
        }
    }
}

impl Pipe {
    /// The connection's `send`: copies what fits, `WouldBlock` when nothing does.
    pub fn send(&self, iov: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut st = lock(&self.state);
        let mut room = PIPE_BYTES.saturating_sub(st.unread.len() + st.unacked_bytes);
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut written = 0;
        for part in iov {
            let n = part.len().min(room);
            st.unread.extend_from_slice(&part[..n]);
            written += n;
            room -= n;
            if room == 0 {
                break;
            }
        }
        drop(st);
        if written > 0 {
            self.data.notify_waiters();
        }
        Ok(written)
    }

    /// Resolves once the pipe has room (the client acknowledged messages).
    #[cfg(test)]
    pub async fn writable(&self) {
        std::future::poll_fn(|cx| self.poll_writable(cx)).await
    }

    /// Ready once the pipe has room; else the task is woken when the client acknowledges
    /// messages.
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.room.register(cx);
        if self.has_room() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn has_room(&self) -> bool {
        let st = lock(&self.state);
        st.unread.len() + st.unacked_bytes < PIPE_BYTES
    }

    /// Resolves when the connection writes next, or a newer GET takes over: a GET creates it
    /// and `enable`s it before it [`Pipe::take`]s, so nothing written in between is missed.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.data.notified()
    }

    /// Wakes whoever waits on [`Pipe::changed`] (a newer GET took over).
    pub fn wake_readers(&self) {
        self.data.notify_waiters();
    }

    /// Forgets the messages up to `ack`, numbers the whole text frames written since, and
    /// returns every message after `ack`.
    pub fn take(&self, ack: u64) -> Result<Taken, AckTooFar> {
        let mut st = lock(&self.state);
        // Only numbered messages can have been seen: those of frames still unread cannot.
        if ack >= st.first + st.unacked.len() as u64 {
            return Err(AckTooFar);
        }
        let mut freed = false;
        while st.first <= ack {
            let Some(m) = st.unacked.pop_front() else {
                break;
            };
            st.unacked_bytes -= m.len();
            st.first += 1;
            freed = true;
        }
        freed |= parse(&mut st);
        let taken = Taken {
            messages: st.unacked.iter().cloned().collect(),
            last: st.first + st.unacked.len() as u64 - 1,
            close: st.close,
        };
        drop(st);
        if freed {
            self.room.raise();
        }
        Ok(taken)
    }

    /// Drops what the pipe holds (a session that ended without a reader): only the close
    /// code stays.
    pub fn clear(&self) {
        let mut st = lock(&self.state);
        parse(&mut st);
        st.unread.clear();
        st.unacked.clear();
        st.unacked_bytes = 0;
    }
}

/// Moves the whole frames of `unread` into `unacked` (text) or drops them (ping, pong); a
/// close frame records its code and ends the stream. True when bytes left the pipe.
fn parse(st: &mut State) -> bool {
    let mut freed = false;
    while st.close.is_none() {
        let Some((opcode, head, len)) = header(&st.unread) else {
            break;
        };
        if st.unread.len() < head + len {
            break;
        }
        st.unread.advance(head);
        let payload = st.unread.split_to(len).freeze();
        match opcode {
            0x1 => {
                st.unacked_bytes += payload.len();
                st.unacked.push_back(payload);
            }
            0x8 => {
                let code = match payload.get(..2) {
                    Some(c) => u16::from_be_bytes([c[0], c[1]]),
                    None => 1005,
                };
                st.close = Some(code);
                freed = true;
            }
            _ => freed = true,
        }
        freed |= head > 0;
    }
    freed
}

/// A server frame's opcode, header length and payload length, once the header is whole.
fn header(b: &[u8]) -> Option<(u8, usize, usize)> {
    let (&first, &second) = (b.first()?, b.get(1)?);
    let opcode = first & 0x0f;
    match second & 0x7f {
        126 => {
            let n = b.get(2..4)?;
            Some((opcode, 4, usize::from(u16::from_be_bytes([n[0], n[1]]))))
        }
        127 => {
            let n: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            Some((opcode, 10, usize::try_from(u64::from_be_bytes(n)).ok()?))
        }
        short => Some((opcode, 2, usize::from(short))),
    }
}

#[cfg(test)]
mod tests;
