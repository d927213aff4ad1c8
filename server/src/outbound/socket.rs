//! [`SocketIo`]: the connection's socket as tungstenite's stream (non-blocking `Read`/`Write`).

use super::conn::{Conn, Sink};
use bytes::{Buf, Bytes};
use std::cell::RefCell;
use std::io::{self, IoSliceMut, Read, Write};
use std::sync::Arc;
use std::task::{Context, Poll};

/// What one read may take from the socket beyond what tungstenite asked for.
const SCRATCH_LEN: usize = 16 * 1024;

thread_local! {
    /// Where a read puts the bytes past tungstenite's buffer: one per thread, not one per
    /// connection.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_LEN].into_boxed_slice());
}

/// The socket as tungstenite sees it: reads go to the socket; whatever tungstenite writes
/// itself (a pong, say) joins the connection's queue, so frames never interleave.
///
/// tungstenite keeps its read buffer for the connection's life, so it is given a small one
/// (`http::ws_config`); one read still takes all the socket holds (up to `SCRATCH_LEN`), and
/// what did not fit waits in `spill` for tungstenite's next reads. `spill` is `None` between
/// bursts (boxed: it takes one word in every connection's task): an idle connection keeps
/// no read buffer of its own.
pub struct SocketIo {
    conn: Arc<Conn>,
    spill: Option<Box<Bytes>>,
}

impl SocketIo {
    pub fn new(conn: Arc<Conn>) -> SocketIo {
        SocketIo { conn, spill: None }
    }

    /// Ready when the socket may have bytes to read; else the task is woken when it does. A
    /// long-polling session's socket is never read (its messages come in POST bodies).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.conn.sink {
            Sink::Tcp(sock) => sock.poll_read_ready(cx),
            Sink::Pipe(_) => Poll::Pending,
        }
    }
}

impl Read for SocketIo {
    /// `WouldBlock` when the socket has nothing: the caller waits with `poll_read_ready`.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(spill) = &mut self.spill {
            let n = buf.len().min(spill.len());
            buf[..n].copy_from_slice(&spill[..n]);
            spill.advance(n);
            if spill.is_empty() {
                self.spill = None;
            }
            return Ok(n);
        }
        let Sink::Tcp(sock) = &self.conn.sink else {
            return Ok(0);
        };
        SCRATCH.with_borrow_mut(|scratch| {
            let want = buf.len();
            let n =
                sock.try_read_vectored(&mut [IoSliceMut::new(buf), IoSliceMut::new(scratch)])?;
            if n <= want {
                return Ok(n);
            }
            self.spill = Some(Box::new(Bytes::copy_from_slice(&scratch[..n - want])));
            Ok(want)
        })
    }
}

impl Write for SocketIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Dropped once the close frame is queued (tungstenite echoing a close, say).
        self.conn.push(Bytes::copy_from_slice(buf));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
