//! [`SocketIo`]: the connection's socket as tungstenite's stream (`AsyncRead`/`AsyncWrite`).

use super::conn::Conn;
use bytes::Bytes;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
        let super::conn::Sink::Tcp(sock) = &self.conn.sink else {
            // A long-polling session's messages come in POST bodies, not through here.
            return Poll::Ready(Ok(()));
        };
        loop {
            match sock.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            match sock.try_read(buf.initialize_unfilled()) {
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
