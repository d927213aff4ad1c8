//! One connection's task (a WebSocket, or a long-polling session): it reads and answers frames, keeps the heartbeat and the
//! timeouts, and closes. It does not write deliveries: they go from the hub straight to the
//! connection's queue and the flusher (`outbound`). The task only steps in when the socket is
//! full, and for the close, which interrupts even a write blocked on a client that stopped
//! reading.
//!
//! - `log.rs`: the connection's span and its open and close lines.
//! - `ws.rs`: [`Ws`], a WebSocket's frames read from the socket.
//! - `pending.rs`: the sends waiting for the store.

pub mod log;
mod pending;
mod ws;

pub use ws::Ws;

use crate::hub::{Conn, Hub};
use crate::metrics::Metrics;
use crate::outbound::{close_frame, ping_frame};
use crate::protocol::{Flow, Protocol};
use futures_util::StreamExt;
use shared::CloseReason;
use std::future::{poll_fn, Future};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Time the writer gets to send the last queued frames and the close frame.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Time the reader waits for the client's answer to our close frame.
const CLOSE_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// What a connection reads: a WebSocket's frames, or a long-polling session's messages from
/// its POST bodies (with a pong for every GET, which keeps it from idling out).
pub trait Inbound: futures_util::Stream<Item = Result<Message, WsError>> + Unpin + Send {}

impl<T: futures_util::Stream<Item = Result<Message, WsError>> + Unpin + Send> Inbound for T {}

/// Sends of one connection waiting for the store at once; beyond it, reading pauses.
const MAX_PENDING: usize = 64;

/// Per-connection token bucket. Its rate and burst are the config's, passed to each check
/// rather than copied into every connection's task.
pub struct RateLimiter {
    tokens: f64,
    last: Instant,
    strikes: u32,
}

impl RateLimiter {
    pub fn new(burst: u32) -> Self {
        RateLimiter {
            tokens: f64::from(burst.max(1)),
            last: Instant::now(),
            strikes: 0,
        }
    }

    /// Takes a token (`rate_per_sec` 0: no limit). `Err(strikes)` counts refusals since the
    /// bucket was last full.
    pub fn check(&mut self, rate_per_sec: u32, burst: u32) -> Result<(), u32> {
        if rate_per_sec == 0 {
            return Ok(());
        }
        let burst = f64::from(burst.max(1));
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * f64::from(rate_per_sec);
        self.last = now;
        self.tokens = (self.tokens + refill).min(burst);
        if self.tokens >= burst {
            self.strikes = 0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            self.strikes += 1;
            Err(self.strikes)
        }
    }
}

/// How the read loop ended.
enum End {
    /// The peer went away (EOF, reset): nothing more can be said.
    Gone,
    /// The peer sent a close frame: answer it.
    PeerClosed,
    /// We close, with the connection's close reason.
    Closing,
}

/// Runs a WebSocket connection to the end with `protocol`: reads frames, keeps the heartbeat
/// and the idle and handshake timeouts, writes when the socket was full, and closes.
///
/// This future is what every idle connection holds, so it is kept small: an `async move`
/// block stores its arguments once (an `async fn` keeps a second copy of them), and the
/// futures of a frame's handling and of the close are boxed, allocated only while they run.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would store its arguments twice"
)]
pub fn run<S: Protocol, R: Inbound>(
    mut ws: R,
    hub: Arc<Hub>,
    conn: Arc<Conn>,
    mut protocol: S,
) -> impl Future<Output = ()> + Send {
    async move {
        hub.metrics.connections_open.inc();
        let mut limiter = RateLimiter::new(hub.config.rate_burst);
        let opened = Instant::now();
        let mut last_read = opened;
        let mut next_ping = opened + hub.config.ping_interval;
        // One timer for ping, idle and handshake deadlines, moved only when it fires.
        let timer = tokio::time::sleep_until(next_ping.min(opened + hub.config.handshake_timeout));
        tokio::pin!(timer);
        let mut pending = pending::Pending::default();

        let end = loop {
            tokio::select! {
                biased;
                _ = poll_fn(|cx| conn.poll_event(cx)) => {
                    if conn.is_dead() {
                        break End::Gone;
                    }
                    if conn.close_reason().is_some() {
                        break End::Closing;
                    }
                    // Otherwise the socket filled up: the branch below waits for room.
                }
                _ = poll_fn(|cx| conn.poll_flush_writable(cx)), if conn.is_blocked() => {}
                Some(()) = pending.next(), if !pending.is_empty() => {}
                _ = &mut timer => {
                    let now = Instant::now();
                    let deadline = if protocol.started() {
                        last_read + hub.config.idle_timeout
                    } else {
                        opened + hub.config.handshake_timeout
                    };
                    if now >= deadline {
                        conn.close(if protocol.started() {
                            CloseReason::IdleTimeout
                        } else {
                            CloseReason::HandshakeTimeout
                        });
                        break End::Closing;
                    }
                    if now >= next_ping {
                        conn.push(ping_frame());
                        next_ping = now + hub.config.ping_interval;
                    }
                    timer.as_mut().reset(deadline.min(next_ping));
                }
                // A page reply not yet written whole holds reading back (`Conn::reply_page`).
                frame = ws.next(), if pending.len() < MAX_PENDING && !conn.page_unsent() => {
                    last_read = Instant::now();
                    let reason = match frame {
                        None => break End::Gone,
                        Some(Ok(Message::Text(text))) => {
                            Metrics::inc(&hub.metrics.messages_in);
                            match limiter.check(hub.config.rate_per_sec, hub.config.rate_burst) {
                                // Boxed: the handler's state lives only while a frame is
                                // handled, not in every idle connection's task.
                                Ok(()) => match Box::pin(protocol.on_text(text.as_str())).await {
                                    Flow::Continue => None,
                                    Flow::Close(r) => Some(r),
                                    Flow::Pending(f) => {
                                        pending.push(f);
                                        None
                                    }
                                },
                                Err(strikes) if strikes > hub.config.flood_strikes => {
                                    Some(CloseReason::PolicyViolation)
                                }
                                Err(_) => {
                                    protocol.on_rate_limited();
                                    None
                                }
                            }
                        }
                        Some(Ok(Message::Binary(_))) => Some(CloseReason::UnsupportedData),
                        Some(Ok(Message::Close(_))) => break End::PeerClosed,
                        Some(Ok(_)) => None, // ping (answered by tungstenite), pong
                        Some(Err(e)) => match e {
                            WsError::Utf8(_) => Some(CloseReason::InvalidPayload),
                            WsError::Capacity(_) => Some(CloseReason::MessageTooBig),
                            WsError::Protocol(_) => Some(CloseReason::ProtocolError),
                            _ => break End::Gone,
                        },
                    };
                    if let Some(r) = reason {
                        conn.close(r);
                        break End::Closing;
                    }
                }
            }
        };

        // Sends under way finish: stored messages are delivered, and acked if the socket allows.
        let _ = Box::pin(timeout(CLOSE_WRITE_TIMEOUT, async {
            while pending.next().await.is_some() {}
        }))
        .await;
        protocol.end();
        if !matches!(end, End::Closing) {
            conn.close(CloseReason::Normal);
        }
        let reason = conn.close_reason().unwrap_or(CloseReason::Normal);
        hub.metrics.record_close(reason);
        match end {
            End::Gone => conn.discard(),
            End::PeerClosed | End::Closing => {
                // Replies already queued (an error explaining the close, say) go out first; a
                // slow consumer only gets the close frame. At shutdown the socket ends right
                // after it (see below), in the same segment. (`stopping` is asked twice, not
                // kept: a flag held across the awaits would grow every connection's task.)
                if hub.stopping() {
                    conn.cork();
                }
                conn.seal(
                    Some(close_frame(reason)),
                    reason == CloseReason::SlowConsumer,
                );
                let sent = Box::pin(timeout(CLOSE_WRITE_TIMEOUT, conn.drain())).await;
                // Read until the client answers our close frame, so the socket ends cleanly;
                // not when the server is stopping: the clients know once the frame is out, and
                // waiting for ten thousand answers would keep the next process from starting
                // (the socket then ends with our FIN, or a reset if the client's answer comes
                // after it; anything it sent unacked it sends again on its next connection).
                if matches!(end, End::Closing) && matches!(sent, Ok(true)) && !hub.stopping() {
                    let _ = Box::pin(timeout(CLOSE_READ_TIMEOUT, async {
                        while let Some(Ok(m)) = ws.next().await {
                            if m.is_close() {
                                break;
                            }
                        }
                    }))
                    .await;
                }
                conn.discard();
            }
        }
        hub.close_conn(conn.id);
        hub.metrics.connections_open.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::protocol::DemoProtocol;
    use crate::protocol::EchoProtocol;
    use crate::protocol::TypedProtocol;
    use crate::store::MemoryStore;

    /// Every open connection holds its task's future whole, whatever state it is in, so
    /// its size is memory per idle connection (848, 784 and 736 bytes now, in the log's
    /// span). Regressions this catches, each measured: an `async fn` keeping a second copy of
    /// its arguments (+376 bytes), the close's drain inline (+88), a frame handler's future
    /// inline (+1,250), an `async` block around the task for its log lines (+600 or so), waiting
    /// for the connection's event and for room in the socket with futures rather than polls
    /// (+208). Tokio allocates a task in steps of 128 bytes: spawned with its close guards,
    /// the `/chat` task takes 1,024 bytes now, and took 1,152 when this measured 864.
    #[tokio::test]
    async fn a_connection_task_holds_about_a_kibibyte() {
        let hub = Hub::new(
            Arc::new(Config::default()),
            Arc::new(MemoryStore::new(100)),
            Arc::new(Metrics::default()),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let _client = tokio::net::TcpStream::connect(l.local_addr().expect("addr"))
            .await
            .expect("connect");
        let ws = |conn: &Arc<Conn>| {
            Ws::new(
                conn.clone(),
                Vec::new(),
                crate::http::ws_config(&hub.config),
            )
        };
        let (server, _) = l.accept().await.expect("accept");
        let conn = hub.open_conn(server);
        // What is spawned: the task inside its log span (`log::run`).
        let span = tracing::Span::none;
        let chat = log::run(
            ws(&conn),
            hub.clone(),
            conn.clone(),
            TypedProtocol::new(hub.clone(), conn.clone(), None),
            span(),
        );
        // A nickname that is refused: the protocol holds nobody, which does not change its size.
        let demo_protocol = DemoProtocol::start(hub.clone(), &conn, "", None).await;
        let demo = log::run(ws(&conn), hub.clone(), conn.clone(), demo_protocol, span());
        let echo_protocol = EchoProtocol::new(conn.clone());
        let echo = log::run(ws(&conn), hub.clone(), conn.clone(), echo_protocol, span());
        let sizes = [
            std::mem::size_of_val(&chat),
            std::mem::size_of_val(&demo),
            std::mem::size_of_val(&echo),
        ];
        assert!(
            sizes.iter().all(|&s| s <= 848),
            "task futures: {sizes:?} bytes"
        );
    }
}
