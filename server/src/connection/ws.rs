//! [`Ws`]: a WebSocket's frames as a stream, read by tungstenite straight from [`SocketIo`].
//! tokio-tungstenite would add two heap-allocated waker proxies to every connection; the
//! socket never blocks a write (writes join the connection's queue), so only reading waits,
//! and it waits on the socket's readiness.

use crate::hub::Conn;
use crate::outbound::SocketIo;
use futures_util::Stream;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, WebSocket};

/// The server's side of a WebSocket whose handshake is done.
pub struct Ws {
    inner: WebSocket<SocketIo>,
    /// The stream ended (closed, or an error was returned): it yields nothing more.
    ended: bool,
}

impl Ws {
    /// `early`: the bytes the client sent right behind its handshake.
    pub fn new(conn: Arc<Conn>, early: Vec<u8>, config: WebSocketConfig) -> Ws {
        Ws {
            inner: WebSocket::from_partially_read(
                SocketIo::new(conn),
                early,
                Role::Server,
                Some(config),
            ),
            ended: false,
        }
    }
}

impl Stream for Ws {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            return Poll::Ready(None);
        }
        loop {
            let err = match this.inner.read() {
                Ok(m) => return Poll::Ready(Some(Ok(m))),
                Err(WsError::Io(e)) if e.kind() == ErrorKind::WouldBlock => {
                    match this.inner.get_ref().poll_read_ready(cx) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(e)) => WsError::Io(e),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Err(e) => e,
            };
            this.ended = true;
            return Poll::Ready(match err {
                WsError::AlreadyClosed | WsError::ConnectionClosed => None,
                e => Some(Err(e)),
            });
        }
    }
}
