//! The hub: who is connected, which rooms exist, and fan-out in per-room order.
//!
//! - `users.rs`: names held by connections (guests, and accounts on many connections);
//!   `sessions.rs`: sessions another process ended; `rooms.rs`: join, leave, typing, history;
//!   `room_table.rs`: which rooms are in memory, made and released.
//! - `publish.rs`: a send's target and idempotency (`idempotency.rs`), then the message log:
//!   `local_log.rs` (this node assigns ids, its journal keeps them) or `shared_log.rs`
//!   (a log shared by several nodes does both).
//! - `room/`: a room's members, its order (`order.rs`) and its fan-out (`fanout.rs`);
//!   `broadcast.rs`: an event encoded once for every receiver.
//! - `event.rs`: what the broker brings from other nodes (and this one); `recover.rs`: what
//!   this node writes again after an outage of the cluster backend.
//! - `page.rs`: page replies (`joined`, `history`, `rooms`) cut to a byte budget.
//!
//! Every lock is a `std::sync::Mutex` held for a short, non-blocking section, never across
//! an `.await`. Lock order: a room's `cycle`, then its `state`; the hub's tables (`conns`,
//! `users`, `rooms`, `inflight`) are never held while taking a room's lock.

pub(crate) mod access;
mod broadcast;
mod event;
mod idempotency;
mod joined;
mod local_log;
pub(crate) mod mentions;
mod moderation;
mod page;
mod publish;
mod read_state;
mod recover;
mod revisions;
mod room;
mod room_table;
mod rooms;
mod sessions;
mod shared_log;
mod users;

#[cfg(test)]
mod tests;

pub use crate::outbound::{Conn, ConnId};
pub use broadcast::Fanout;
pub use publish::{AckInfo, Publishing, Target};
pub use room_table::Creator;
pub use rooms::LISTING_TTL;
pub use users::{Peer, RegisterError};

pub use crate::backends::{Backends, Log};

use crate::auth::Auth;
use crate::broker::{Broker, Event, EventHandler, Presence, Registry};
use crate::config::Config;
use crate::conversations::Conversations;
use crate::error::{RequestError, StoreError};
use crate::metrics::Metrics;
use crate::nick_key::NickKey;
use crate::outbound::{Bounds, Flusher, Sink};
use crate::store::{History, Rewrites, Store};
use crate::util::lock;
use futures_util::future::BoxFuture;
use idempotency::{InflightKey, InflightResult};
use publish::MessageLog;
use room::Room;
use shared::CloseReason;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::net::TcpStream;
use tokio::sync::watch;
use users::UserEntry;

/// `conversations` requests one account may make: one every 2 s, in bursts of 5 (every tab
/// asking at once after a reconnect).
const LISTINGS_PER_SEC: f64 = 0.5;
const LISTINGS_BURST: u32 = 5;

/// The open WebSocket connections, and whether all of them were asked to close (shutdown):
/// one registered after that is closed at once, so none slips between the two.
#[derive(Default)]
struct Conns {
    open: HashMap<ConnId, Arc<Conn>>,
    closing_all: Option<CloseReason>,
}

/// The chat hub shared by every connection.
pub struct Hub {
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    /// Accounts, sessions and signing in.
    pub auth: Auth,
    history: Arc<dyn History>,
    log: Box<dyn MessageLog>,
    broker: Arc<dyn Broker>,
    registry: Arc<dyn Registry>,
    presence: Arc<dyn Presence>,
    conns: Mutex<Conns>,
    /// Entries boxed: the table, sized for the most users ever connected, holds a key and a
    /// pointer per slot rather than the whole entry (145 bytes), and grows by copying that.
    users: Mutex<HashMap<NickKey, Box<UserEntry>>>,
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    creations: room_table::Creations,
    inflight: Mutex<HashMap<InflightKey, watch::Receiver<InflightResult>>>,
    next_conn: AtomicU64,
    flusher: Arc<Flusher>,
    /// When a connection counts as a slow consumer: the same for all of them.
    bounds: Arc<Bounds>,
    /// Rooms' rules, bans and mutes; each account's conversations and read marks.
    conversations: Arc<dyn Conversations>,
    /// Edits and deletions applied to stored messages.
    rewrites: Arc<dyn Rewrites>,
    /// The server's admins (`--admin`), by name key.
    admins: HashSet<NickKey>,
    /// Ids of direct messages to or from guests, which are delivered live and never stored:
    /// from the clock at start, so a client never sees one twice.
    live_ids: AtomicU64,
    /// `conversations` requests per account: each reads up to `MAX_LISTED` histories.
    listings: crate::limits::Buckets<crate::auth::AccountId>,
}

/// The hub's side of the broker: events go to the hub while it exists.
struct Events(Weak<Hub>);

impl EventHandler for Events {
    fn on_event(&self, ev: Event) {
        if let Some(hub) = self.0.upgrade() {
            hub.on_event(ev);
        }
    }

    fn on_reconnect(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        let hub = self.0.upgrade();
        Box::pin(async move {
            match hub {
                Some(hub) => hub.recover().await,
                None => Ok(()),
            }
        })
    }
}

impl Hub {
    /// A node on its own, over `store`.
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Arc<Hub> {
        let flusher = Flusher::recording(Some(metrics.timings.clone()));
        Hub::build(config, Backends::single(store), metrics, flusher)
    }

    pub fn with_backends(
        config: Arc<Config>,
        backends: Backends,
        metrics: Arc<Metrics>,
    ) -> Arc<Hub> {
        let flusher = Flusher::recording(Some(metrics.timings.clone()));
        Hub::build(config, backends, metrics, flusher)
    }

    fn build(
        config: Arc<Config>,
        b: Backends,
        metrics: Arc<Metrics>,
        flusher: Arc<Flusher>,
    ) -> Arc<Hub> {
        let log: Box<dyn MessageLog> = match b.log {
            Log::Journal(journal) => Box::new(local_log::LocalLog::new(journal, &flusher)),
            Log::Shared(shared) => Box::new(shared_log::SharedLogRef(shared)),
        };
        let creations = room_table::Creations::new(
            config.room_creation_rate,
            u32::try_from(config.max_rooms_per_connection).unwrap_or(u32::MAX),
        );
        let bounds = Arc::new(Bounds {
            frames: config.outbound_queue,
            bytes: config.outbound_queue_bytes,
            stall: config.outbound_stall,
        });
        let auth = Auth::new(&config, b.accounts);
        let admins = config.admins.iter().map(NickKey::of).collect();
        let hub = Arc::new(Hub {
            auth,
            creations,
            bounds,
            config,
            metrics,
            history: b.history,
            log,
            broker: b.broker,
            registry: b.registry,
            presence: b.presence,
            conns: Mutex::default(),
            users: Mutex::default(),
            rooms: Mutex::default(),
            inflight: Mutex::default(),
            next_conn: AtomicU64::new(1),
            flusher,
            conversations: b.conversations,
            rewrites: b.rewrites,
            admins,
            listings: crate::limits::Buckets::new(LISTINGS_PER_SEC, LISTINGS_BURST),
            live_ids: AtomicU64::new((crate::util::now_ms().max(0) as u64) << 10),
        });
        hub.broker.subscribe(Arc::new(Events(Arc::downgrade(&hub))));
        hub.watch_revocations();
        hub
    }

    /// Names the history this hub reads (see `History::epoch`).
    pub fn epoch(&self) -> String {
        self.history.epoch()
    }

    /// Whether sends can be stored now (`/readyz`); the error says why not.
    pub async fn ready(&self) -> Result<(), String> {
        self.log.ready().await
    }

    /// Resolves, with the reason, once nothing can be stored again by this process (the
    /// SQLite writer stopped after a failed fsync): the server then closes and exits.
    pub async fn store_failed(&self) -> String {
        self.log.failed().await
    }

    /// At shutdown: makes what was appended durable and leaves the other nodes.
    pub async fn shutdown(&self) {
        if let Err(e) = self.log.flush().await {
            tracing::error!(cause = %e, "store flush failed at shutdown");
        }
        self.broker.close().await;
    }

    /// Forwarding of long-polling requests between nodes (none for a node on its own), and
    /// this node's id.
    pub fn relay(&self) -> Option<(Arc<dyn crate::broker::relay::Relay>, String)> {
        self.broker
            .relay()
            .map(|r| (r, self.broker.node().to_string()))
    }

    /// Registers a new WebSocket connection (so shutdown can reach it).
    pub fn open_conn(&self, sock: TcpStream) -> Arc<Conn> {
        self.open_sink(Sink::Tcp(sock))
    }

    /// Registers a new connection writing to `sink` (a long-polling session's pipe).
    pub fn open_sink(&self, sink: Sink) -> Arc<Conn> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn::new(
            id,
            sink,
            self.bounds.clone(),
            self.flusher.clone(),
            self.metrics.clone(),
        ));
        let mut conns = lock(&self.conns);
        if let Some(reason) = conns.closing_all {
            // Its handshake was under way when shutdown began: it closes as soon as it runs.
            conn.close(reason);
        }
        conns.open.insert(id, conn.clone());
        conn
    }

    /// `close_all` was called: the server is stopping.
    pub fn stopping(&self) -> bool {
        lock(&self.conns).closing_all.is_some()
    }

    pub fn close_conn(&self, id: ConnId) {
        lock(&self.conns).open.remove(&id);
    }

    /// Asks every open connection, and every one registered from now on, to close with
    /// `reason` (shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        let mut conns = lock(&self.conns);
        conns.closing_all = Some(reason);
        for c in conns.open.values() {
            c.close(reason);
        }
    }

    /// The open connections, for tests that look at their sockets.
    #[cfg(test)]
    pub(crate) fn conns_for_test(&self) -> Vec<Arc<Conn>> {
        lock(&self.conns).open.values().cloned().collect()
    }

    pub fn open_connections(&self) -> usize {
        lock(&self.conns).open.len()
    }

    /// Distinct names connected to this node (for `/metrics`).
    pub fn users_online(&self) -> usize {
        lock(&self.users).len()
    }

    fn store_call<T>(&self, r: Result<T, StoreError>) -> Result<T, RequestError> {
        r.map_err(|e| {
            Metrics::inc(&self.metrics.store_errors);
            tracing::warn!(cause = %e, "store operation failed");
            RequestError::Store(e)
        })
    }
}
