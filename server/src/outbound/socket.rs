//! [`SocketIo`]: the connection's socket as tungstenite's stream (non-blocking `Read`/`Write`).

use super::conn::{Conn, Sink};
use bytes::{Buf, Bytes};
use std::cell::RefCell;
use std::io::{self, IoSliceMut, Read, Write};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::Interest;

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
            let n = read_drained(sock, &mut [IoSliceMut::new(buf), IoSliceMut::new(scratch)])?;
            if n <= want {
                return Ok(n);
            }
            self.spill = Some(Box::new(Bytes::copy_from_slice(&scratch[..n - want])));
            Ok(want)
        })
    }
}

/// One `recvmsg` into `bufs`, if Tokio saw the socket readable. A read that leaves room in
/// `bufs` took all the socket had: Tokio's readiness is cleared then, as after a read that
/// found nothing, so the next read waits for the socket's next readiness event instead of
/// asking the kernel once more to hear "nothing" (under load, half the reads were that).
/// What arrives after the read raises a new event; an event that came before the read was
/// drained leaves the readiness set, and the next read finds nothing, as before.
fn read_drained(sock: &tokio::net::TcpStream, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
    let room: usize = bufs.iter().map(|b| b.len()).sum();
    let mut got = None;
    let read = sock.try_io(Interest::READABLE, || {
        let sock = socket2::SockRef::from(sock);
        let n = (&*sock).read_vectored(bufs)?;
        got = Some(n);
        if n > 0 && n < room {
            // Drained: reported to Tokio as "nothing left" (it clears the readiness it saw),
            // and the bytes are returned below.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    read.or_else(|e| got.filter(|&n| n > 0).ok_or(e))
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

#[cfg(test)]
mod tests {
    use super::read_drained;
    use std::io::{ErrorKind, IoSliceMut};
    use std::task::{Context, Poll};
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(l.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = l.accept().await.expect("accept");
        (server, client)
    }

    fn read(sock: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
        read_drained(sock, &mut [IoSliceMut::new(buf)])
    }

    fn ready(sock: &TcpStream) -> bool {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        matches!(sock.poll_read_ready(&mut cx), Poll::Ready(_))
    }

    async fn readable(sock: &TcpStream) {
        tokio::time::timeout(Duration::from_secs(5), sock.readable())
            .await
            .expect("readable in time")
            .expect("readable");
    }

    #[tokio::test]
    async fn a_read_that_drains_the_socket_waits_for_its_next_bytes_and_misses_none() {
        let (server, mut client) = pair().await;
        let mut buf = [0u8; 64];

        client.write_all(b"hello").await.expect("write");
        readable(&server).await;
        assert_eq!(read(&server, &mut buf).expect("read"), 5);
        assert_eq!(&buf[..5], b"hello");
        // Drained: no readiness left to try again on, so the next read costs no syscall.
        assert!(!ready(&server), "readiness cleared after a short read");
        let e = read(&server, &mut buf).expect_err("nothing to read");
        assert_eq!(e.kind(), ErrorKind::WouldBlock);

        // Bytes sent afterwards raise readiness again.
        client.write_all(b"world").await.expect("write");
        readable(&server).await;
        assert_eq!(read(&server, &mut buf).expect("read"), 5);
        assert_eq!(&buf[..5], b"world");

        // A read that fills the buffer may have left bytes behind: readiness stays, and the
        // next read gets the rest.
        client.write_all(&[7u8; 100]).await.expect("write");
        readable(&server).await;
        let mut got = 0;
        while got < 100 {
            got += read(&server, &mut buf).expect("read");
            if got == 64 {
                assert!(ready(&server), "readiness kept after a full read");
            }
        }
        assert_eq!(got, 100);

        // The end of the stream is a read of 0.
        drop(client);
        readable(&server).await;
        assert_eq!(read(&server, &mut buf).expect("eof"), 0);
    }
}
