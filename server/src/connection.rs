//! One WebSocket connection: a reader (this task) and a writer task joined by a bounded queue.
//!
//! The writer batches: it takes everything queued (up to `MAX_BATCH`), feeds each frame into
//! tungstenite's write buffer, and flushes once: one `write()` for many deliveries when a
//! connection is busy. A close request (slow consumer, shutdown, bad input) interrupts even a
//! write that is blocked on a client that stopped reading.

use crate::hub::{Conn, Hub, Outbound};
use crate::metrics::Metrics;
use futures_util::{SinkExt, StreamExt};
use shared::CloseReason;
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

const MAX_BATCH: usize = 256;
/// Time the writer gets to send the last queued frames and the close frame.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Time the reader waits for the client's answer to our close frame.
const CLOSE_READ_TIMEOUT: Duration = Duration::from_secs(1);

type Ws = WebSocketStream<TcpStream>;
type Sink = futures_util::stream::SplitSink<Ws, Message>;

/// What a protocol session decides after one text frame.
pub enum Flow {
    Continue,
    Close(CloseReason),
}

/// A protocol spoken over the connection: the typed chat protocol or the demo's.
pub trait Session: Send {
    /// Handles one text frame.
    fn on_text(&mut self, text: &str) -> impl Future<Output = Flow> + Send;
    /// Whether the session has started (hello accepted): before that, the handshake timeout
    /// applies instead of the idle timeout.
    fn started(&self) -> bool;
    /// Answers a frame refused by the rate limit.
    fn on_rate_limited(&mut self);
    /// Cleans up (leave rooms, release the nickname).
    fn end(&mut self);
}

/// Per-connection token bucket.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    strikes: u32,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate: f64::from(rate_per_sec),
            burst,
            tokens: burst,
            last: Instant::now(),
            strikes: 0,
        }
    }

    /// Takes a token. `Err(strikes)` counts refusals since the bucket was last full.
    pub fn check(&mut self) -> Result<(), u32> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.last = now;
        self.tokens = (self.tokens + refill).min(self.burst);
        if self.tokens >= self.burst {
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

/// Creates the connection's queue and close switch and registers it with the hub.
pub fn open(
    hub: &Hub,
) -> (
    Arc<Conn>,
    mpsc::Receiver<Outbound>,
    watch::Receiver<Option<CloseReason>>,
) {
    let (tx, rx) = mpsc::channel(hub.config.outbound_queue.max(1));
    let (close_tx, close_rx) = watch::channel(None);
    (hub.open_conn(tx, close_tx), rx, close_rx)
}

/// Runs a WebSocket connection to the end with `session`.
pub async fn run<S: Session>(
    ws: Ws,
    hub: Arc<Hub>,
    conn: Arc<Conn>,
    rx: mpsc::Receiver<Outbound>,
    mut close_rx: watch::Receiver<Option<CloseReason>>,
    mut session: S,
    legacy: bool,
) {
    let metrics = hub.metrics.clone();
    metrics.connections_open.fetch_add(1, Relaxed);
    let (sink, mut stream) = ws.split();
    let writer = tokio::spawn(write_loop(
        sink,
        rx,
        close_rx.clone(),
        legacy,
        metrics.clone(),
        hub.config.ping_interval,
    ));
    let cfg = hub.config.clone();
    let mut limiter = RateLimiter::new(cfg.rate_per_sec, cfg.rate_burst);
    let mut peer_closed = false;

    loop {
        let wait = if session.started() {
            cfg.idle_timeout
        } else {
            cfg.handshake_timeout
        };
        let frame = tokio::select! {
            biased;
            _ = close_rx.changed() => break,
            f = timeout(wait, stream.next()) => f,
        };
        let reason = match frame {
            Err(_) if session.started() => Some(CloseReason::IdleTimeout),
            Err(_) => Some(CloseReason::HandshakeTimeout),
            Ok(None) => {
                peer_closed = true;
                break;
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                Metrics::inc(&metrics.messages_in);
                match limiter.check() {
                    Ok(()) => match session.on_text(text.as_str()).await {
                        Flow::Continue => None,
                        Flow::Close(r) => Some(r),
                    },
                    Err(strikes) if strikes > cfg.flood_strikes => {
                        Some(CloseReason::PolicyViolation)
                    }
                    Err(_) => {
                        session.on_rate_limited();
                        None
                    }
                }
            }
            Ok(Some(Ok(Message::Binary(_)))) => Some(CloseReason::UnsupportedData),
            Ok(Some(Ok(Message::Close(_)))) => {
                peer_closed = true;
                break;
            }
            Ok(Some(Ok(_))) => None, // ping (answered by tungstenite), pong
            Ok(Some(Err(e))) => match e {
                WsError::Utf8(_) => Some(CloseReason::InvalidPayload),
                WsError::Capacity(_) => Some(CloseReason::MessageTooBig),
                WsError::Protocol(_) => Some(CloseReason::ProtocolError),
                _ => {
                    peer_closed = true;
                    break;
                }
            },
        };
        if let Some(r) = reason {
            conn.close(r);
            break;
        }
    }

    session.end();
    if peer_closed {
        // Nothing more to say; let the writer go (it sees no close reason, only the end).
        conn.close(CloseReason::Normal);
    }
    let reason = conn.close_reason().unwrap_or(CloseReason::Normal);
    metrics.record_close(reason);
    let _ = timeout(CLOSE_WRITE_TIMEOUT + Duration::from_millis(500), writer).await;
    if !peer_closed {
        // Read until the client answers our close frame, so the socket ends cleanly.
        let _ = timeout(CLOSE_READ_TIMEOUT, async {
            while let Some(Ok(m)) = stream.next().await {
                if m.is_close() {
                    break;
                }
            }
        })
        .await;
    }
    hub.close_conn(conn.id);
    metrics.connections_open.fetch_sub(1, Relaxed);
}

fn frame(out: &Outbound, legacy: bool) -> Option<Message> {
    match out {
        Outbound::Direct(b) => Some(Message::Text(b.clone())),
        Outbound::Shared(f) if legacy => f.legacy().map(|b| Message::Text(b.clone())),
        Outbound::Shared(f) => Some(Message::Text(f.typed().clone())),
    }
}

/// Awaits `fut` unless the connection is asked to close first.
async fn unless_closed<T>(
    close_rx: &mut watch::Receiver<Option<CloseReason>>,
    fut: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        _ = close_rx.changed() => None,
        r = fut => Some(r),
    }
}

async fn write_loop(
    mut sink: Sink,
    mut rx: mpsc::Receiver<Outbound>,
    mut close_rx: watch::Receiver<Option<CloseReason>>,
    legacy: bool,
    metrics: Arc<Metrics>,
    ping_every: Duration,
) {
    let mut batch = Vec::new();
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = close_rx.changed() => break,
            n = rx.recv_many(&mut batch, MAX_BATCH) => {
                if n == 0 {
                    return;
                }
                let write = async {
                    let mut written = 0u64;
                    for out in batch.drain(..) {
                        if let Some(msg) = frame(&out, legacy) {
                            sink.feed(msg).await?;
                            written += 1;
                        }
                    }
                    sink.flush().await?;
                    Ok::<u64, WsError>(written)
                };
                match unless_closed(&mut close_rx, write).await {
                    Some(Ok(n)) => {
                        metrics.messages_out.fetch_add(n, Relaxed);
                    }
                    Some(Err(_)) => return,
                    None => break,
                }
            }
            _ = ping.tick() => {
                match unless_closed(&mut close_rx, sink.send(Message::Ping(Default::default()))).await {
                    Some(Ok(())) => {}
                    Some(Err(_)) => return,
                    None => break,
                }
            }
        }
    }
    batch.clear();
    let reason = (*close_rx.borrow()).unwrap_or(CloseReason::Normal);
    let _ = timeout(CLOSE_WRITE_TIMEOUT, async {
        if reason != CloseReason::SlowConsumer {
            // Replies already queued (an error explaining the close, say) go out first.
            while let Ok(out) = rx.try_recv() {
                if let Some(msg) = frame(&out, legacy) {
                    sink.feed(msg).await?;
                }
            }
        }
        let close = CloseFrame {
            code: CloseCode::from(reason.code()),
            reason: reason.label().into(),
        };
        sink.send(Message::Close(Some(close))).await
    })
    .await;
}
