//! Scale-out through Redis: several server processes act as one chat. `Cluster` implements
//! the hub's seams: `bus.rs` the broker and the shared message log, `registry.rs` nickname
//! claims, `presence.rs` room memberships, `history.rs` history reads, `rewrites.rs` edits and
//! deletions, `accounts.rs` accounts and their sessions ([`RedisAccounts`]),
//! `conversations.rs` room rules, read marks, sanctions and guest bans
//! ([`RedisConversations`]). `relay.rs` carries long-polling requests to the node holding
//! their session. `nodes.rs` keeps this node's heartbeat and reaps dead nodes;
//! `connection.rs` opens the connections to Redis, `durable.rs` checks Redis's persistence;
//! this file connects.
//!
//! - **Ids, history, idempotency**: one Lua script assigns a channel's next id (`INCR`), appends
//!   the message to the channel's stream (entry id `<id>-0`, capped with `MAXLEN ~`), records the
//!   sender's client id, and `PUBLISH`es the message on the bus, all atomically. Redis runs scripts
//!   one at a time, so the bus carries each channel's messages in id order, and every node
//!   delivers them in that order.
//! - **Fan-out**: every node subscribes to the bus and delivers to its own members. Ids of a
//!   channel are contiguous, so a node that sees a jump (a message it missed while its
//!   subscription was down) fills the gap from the stream first. Each node also publishes a
//!   heartbeat on the bus; one whose own heartbeat stops coming back opens new connections,
//!   subscribes again, re-asserts its users and memberships and catches up from the streams.
//! - **Users and presence**: `chat:users` maps a nickname's key (`NickKey`) to
//!   `node|resume-token`; room member hashes map nickname to node. Each node refreshes a
//!   heartbeat key; a node whose heartbeat expired has its users removed (and `left`
//!   published) by a live node, except in the grace after a cluster-wide outage (`nodes.rs`).
//!
//! Redis must persist (AOF) for history to survive a Redis restart.

/// Lua that reads field `ARGV[1]` of hash `KEYS[1]` into `cur` and sets `names_node` when it
/// names node `ARGV[2]` (the value is the node, or the node, `|` and more): the test every
/// compare-and-delete here makes, so a node never removes what another one wrote since.
macro_rules! names_node_lua {
    () => {
        "local cur = redis.call('HGET', KEYS[1], ARGV[1])
local names_node = cur and (cur == ARGV[2] or string.sub(cur, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '|')
"
    };
}

/// Lua that deletes that field when it names the node, and returns 1 if it did.
macro_rules! release_lua {
    () => {
        concat!(
            names_node_lua!(),
            "if names_node then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
"
        )
    };
}

mod accounts;
mod bus;
mod connection;
mod conversations;
mod durable;
mod history;
mod nodes;
mod presence;
mod registry;
mod relay;
mod rewrites;

use crate::broker::Event;
use crate::error::StoreError;
use crate::util::{lock, random_hex};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

pub use accounts::RedisAccounts;
pub use conversations::RedisConversations;
pub use nodes::{HEARTBEAT_EVERY, NODE_TTL};

pub const BUS: &str = "chat:bus";
const USERS: &str = "chat:users";
const ROOMS: &str = "chat:rooms";
const NODES: &str = "chat:nodes";
const DEDUP_TTL_SECS: u64 = 7 * 24 * 3600;

fn seq_key(ch: &str) -> String {
    format!("chat:seq:{ch}")
}
fn log_key(ch: &str) -> String {
    format!("chat:log:{ch}")
}
/// Edited texts of `ch`'s messages: id → the text now (`rewrites.rs`).
fn edits_key(ch: &str) -> String {
    format!("chat:edits:{ch}")
}
/// The stream entries of `ch` that are edits, scored by the message they edit.
fn edit_entries_key(ch: &str) -> String {
    format!("chat:editof:{ch}")
}
/// Tombstones of `ch`'s deleted messages, scored by id (`rewrites.rs`).
fn tombs_key(ch: &str) -> String {
    format!("chat:tombs:{ch}")
}
fn dedup_key(sender: &str) -> String {
    format!("chat:dedup:{sender}")
}
fn members_key(room: &str) -> String {
    format!("chat:members:{room}")
}
fn node_key(node: &str) -> String {
    format!("chat:node:{node}")
}

/// Deletes a hash field only if it still names this node (compare-and-delete).
const RELEASE_LUA: &str = release_lua!();

/// Events waiting for the publisher task; past this, events are dropped (and logged).
const PUBLISH_QUEUE: usize = 4096;

/// This node's connection to the cluster.
pub struct Cluster {
    me: Weak<Cluster>,
    pub node: String,
    epoch: String,
    pub url: String,
    client: redis::Client,
    /// The command connection, replaced when the bus finds it silent (`connection.rs`).
    conn: Mutex<ConnectionManager>,
    maxlen: u64,
    events: mpsc::Sender<Event>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Whether the bus carries this node's heartbeat back and this node re-asserted its users
    /// since the last outage: `/readyz` is not ready otherwise.
    bus_up: AtomicBool,
    /// Told when this node's heartbeat key had lapsed: the bus recovers as after an outage.
    lapsed: Notify,
    /// Set (with why) once Redis no longer holds the history this node works from.
    lost: tokio::sync::watch::Sender<Option<String>>,
    /// `--redis-durable`: whether Redis fsyncs every write, as of the last check (at every
    /// heartbeat); appends are refused while it does not.
    durable: Option<AtomicBool>,
    /// Long-polling requests to and from the other nodes.
    relay: Arc<relay::RedisRelay>,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

impl Cluster {
    /// Connects to Redis; an unreachable Redis (or, with `durable`, one that does not fsync
    /// every write) is a clear error. Starts this node's heartbeat (which, with `durable`,
    /// checks Redis's persistence again each time) and the publisher of its events.
    pub async fn connect(
        url: &str,
        maxlen: u64,
        durable: bool,
    ) -> Result<Arc<Cluster>, StoreError> {
        let client = connection::client(url)?;
        let mut conn = connection::open(&client, url).await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if durable {
            durable::check(&conn).await?;
        }
        let node = random_hex();
        let _: Option<String> = redis::cmd("SET")
            .arg("chat:epoch")
            .arg(random_hex())
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let epoch: String = conn.get("chat:epoch").await.map_err(unavailable)?;
        let (events, queue) = mpsc::channel(PUBLISH_QUEUE);
        let cluster = Arc::new_cyclic(|me| Cluster {
            me: me.clone(),
            node: node.clone(),
            epoch,
            url: url.to_string(),
            client,
            conn: Mutex::new(conn),
            maxlen: maxlen.max(1),
            events,
            tasks: Mutex::default(),
            bus_up: AtomicBool::new(false),
            lapsed: Notify::new(),
            lost: tokio::sync::watch::Sender::new(None),
            durable: durable.then(|| AtomicBool::new(true)),
            relay: Arc::new(relay::RedisRelay::new(me.clone(), node.clone())),
        });
        cluster.heartbeat().await?;
        let publisher = tokio::spawn(bus::publisher(Arc::downgrade(&cluster), queue));
        let heartbeat = tokio::spawn(nodes::heartbeat(Arc::downgrade(&cluster)));
        lock(&cluster.tasks).extend([publisher, heartbeat]);
        Ok(cluster)
    }

    fn relay_bus(&self) -> Arc<relay::RedisRelay> {
        self.relay.clone()
    }
}
