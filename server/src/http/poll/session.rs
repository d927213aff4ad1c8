//! [`PollSession`]: one long-polling client. Its connection writes into a [`Pipe`] and reads
//! the messages of its POST bodies, and the same connection task as a WebSocket's runs it
//! (`crate::connection::run`) with the same typed protocol: the rate limit, the queue's
//! bounds, the idle timeout and the close all apply as they do to a socket.

use crate::admission::SessionAdmission;
use crate::connection;
use crate::hub::{Conn, Hub};
use crate::limits::IpKey;
use crate::metrics::Endpoint;
use crate::outbound::{AckTooFar, Pipe, Sink, Taken};
use crate::protocol::TypedProtocol;
use shared::CloseReason;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Messages of POST bodies on their way to the connection's task; a POST waits past it.
const INBOUND: usize = 16;

/// Who opened a session, for its log: the socket's peer and the client (the peer, or the
/// address a trusted proxy named).
#[derive(Debug, Clone, Copy)]
pub struct Opening {
    pub peer: SocketAddr,
    pub client: IpAddr,
}

pub struct PollSession {
    pub conn: Arc<Conn>,
    pipe: Arc<Pipe>,
    inbound: mpsc::Sender<Message>,
    /// The newest GET's number: an older one still waiting answers at once.
    newest_get: AtomicU64,
    /// The connection's task has ended.
    ended: AtomicBool,
}

/// Why a POST's messages were not all taken: the session ended first.
pub struct Ended;

impl PollSession {
    /// Starts the session's connection task, logged in a span of its own; `on_end` runs when it has
    /// ended, with the admission released.
    pub fn start(
        hub: &Arc<Hub>,
        admission: SessionAdmission,
        addr: IpKey,
        opening: Opening,
        on_end: impl FnOnce(Arc<PollSession>) + Send + 'static,
    ) -> Arc<PollSession> {
        let pipe = Arc::new(Pipe::default());
        let conn = hub.open_sink(Sink::Pipe(pipe.clone()));
        let span =
            connection::log::span(&conn, opening.peer, opening.client, Endpoint::Poll.label());
        let (tx, mut rx) = mpsc::channel(INBOUND);
        let session = Arc::new(PollSession {
            conn: conn.clone(),
            pipe,
            inbound: tx,
            newest_get: AtomicU64::new(0),
            ended: AtomicBool::new(false),
        });
        let inbound = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|m| m.map(Ok)));
        let protocol = TypedProtocol::new(hub.clone(), conn.clone(), Some(addr));
        let hub = hub.clone();
        let ended = session.clone();
        tokio::spawn(async move {
            let open = hub.metrics.open_on(Endpoint::Poll);
            connection::log::run(inbound, hub, conn, protocol, span).await;
            drop(open);
            drop(admission);
            if matches!(
                ended.conn.close_reason(),
                Some(CloseReason::IdleTimeout | CloseReason::SlowConsumer | CloseReason::Normal)
            ) {
                // Nobody is reading, or the client ended it: only the close code stays.
                ended.pipe.clear();
            }
            ended.ended.store(true, SeqCst);
            ended.pipe.wake_readers();
            on_end(ended);
        });
        session
    }

    /// Activity: a request of this session arrived or was answered (the connection's idle
    /// timer counts it as a pong).
    pub fn touch(&self) {
        let _ = self.inbound.try_send(Message::Pong(Default::default()));
    }

    /// Hands the lines of a POST body to the connection, in order, waiting while it is busy.
    pub async fn post(&self, body: &str) -> Result<(), Ended> {
        self.touch();
        for line in body.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() {
                continue;
            }
            self.inbound
                .send(Message::text(line))
                .await
                .map_err(|_| Ended)?;
        }
        Ok(())
    }

    /// A GET: every message after `ack`, as soon as there is one, or none after `wait`.
    pub async fn get(&self, ack: u64, wait: Duration) -> Result<Taken, AckTooFar> {
        self.touch();
        let me = self.newest_get.fetch_add(1, SeqCst) + 1;
        self.pipe.wake_readers();
        let deadline = Instant::now() + wait;
        let taken = loop {
            let changed = self.pipe.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let mut taken = self.pipe.take(ack)?;
            if taken.close.is_none() && self.ended.load(SeqCst) {
                // Its close frame never reached the pipe (nobody read): the code still goes.
                taken.close = self.close_code();
            }
            if !taken.messages.is_empty()
                || taken.close.is_some()
                || self.newest_get.load(SeqCst) != me
            {
                break taken;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(deadline) => break taken,
            }
        };
        if taken.close.is_some() {
            // The close was taken: the connection's task need not wait for an answer.
            let _ = self.inbound.try_send(Message::Close(None));
        }
        self.touch();
        Ok(taken)
    }

    /// The session's close code, once it has one.
    pub fn close_code(&self) -> Option<u16> {
        self.conn.close_reason().map(CloseReason::code)
    }
}
