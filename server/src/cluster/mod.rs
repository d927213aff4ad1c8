//! Scale-out through Redis: several server processes act as one chat. `Cluster` implements
//! the hub's seams: `bus.rs` the broker and the shared message log, `registry.rs` nickname
//! claims, `presence.rs` room memberships, `history.rs` history reads; this file connects,
//! keeps the node's heartbeat and reaps dead nodes.
//!
//! - **Ids, history, idempotency**: one Lua script assigns a channel's next id (`INCR`), appends
//!   the message to the channel's stream (entry id `<id>-0`, capped with `MAXLEN ~`), records the
//!   sender's client id, and `PUBLISH`es the message on the bus, all atomically. Redis runs scripts
//!   one at a time, so the bus carries each channel's messages in id order, and every node
//!   delivers them in that order.
//! - **Fan-out**: every node subscribes to the bus and delivers to its own members. Ids of a
//!   channel are contiguous, so a node that sees a jump (a message it missed while its
//!   subscription was down) fills the gap from the stream first.
//! - **Users and presence**: `chat:users` maps a nickname's key (`NickKey`) to
//!   `node|resume-token`; room member hashes map nickname to node. Each node refreshes a
//!   heartbeat key; a node whose heartbeat expired has its users removed (and `left`
//!   published) by a live node.
//!
//! Redis must persist (AOF) for history to survive a Redis restart.

mod bus;
mod durable;
mod history;
mod presence;
mod registry;

use crate::broker::Event;
use crate::error::StoreError;
use crate::util::{lock, random_hex};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub const BUS: &str = "chat:bus";
const USERS: &str = "chat:users";
const ROOMS: &str = "chat:rooms";
const NODES: &str = "chat:nodes";
const DEDUP_TTL_SECS: u64 = 7 * 24 * 3600;
/// A node is dead once its heartbeat key is this old.
pub const NODE_TTL: Duration = Duration::from_secs(6);
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

fn seq_key(ch: &str) -> String {
    format!("chat:seq:{ch}")
}
fn log_key(ch: &str) -> String {
    format!("chat:log:{ch}")
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
const RELEASE_LUA: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and (cur == ARGV[2] or string.sub(cur, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '|') then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
";

/// Events waiting for the publisher task; past this, events are dropped (and logged).
const PUBLISH_QUEUE: usize = 4096;

/// This node's connection to the cluster.
pub struct Cluster {
    me: Weak<Cluster>,
    pub node: String,
    epoch: String,
    pub url: String,
    conn: ConnectionManager,
    maxlen: u64,
    events: mpsc::Sender<Event>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

impl Cluster {
    /// Connects to Redis; an unreachable Redis (or, with `durable`, one that does not fsync
    /// every write) is a clear error.
    /// Starts this node's heartbeat and the publisher of its events.
    pub async fn connect(
        url: &str,
        maxlen: u64,
        durable: bool,
    ) -> Result<Arc<Cluster>, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("bad redis url {url}: {e}")))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(3))
            .set_number_of_retries(2)
            .set_max_delay(500);
        let mut conn = tokio::time::timeout(
            Duration::from_secs(5),
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| StoreError::Unavailable(format!("redis at {url} did not answer")))?
        .map_err(|e| StoreError::Unavailable(format!("cannot connect to redis at {url}: {e}")))?;
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
            node,
            epoch,
            url: url.to_string(),
            conn,
            maxlen: maxlen.max(1),
            events,
            tasks: Mutex::default(),
        });
        cluster.heartbeat().await?;
        let publisher = tokio::spawn(bus::publisher(cluster.conn(), queue));
        let heartbeat = tokio::spawn(heartbeat(Arc::downgrade(&cluster)));
        lock(&cluster.tasks).extend([publisher, heartbeat]);
        Ok(cluster)
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }

    pub async fn heartbeat(&self) -> Result<(), StoreError> {
        let mut c = self.conn();
        redis::pipe()
            .set_ex(node_key(&self.node), 1, NODE_TTL.as_secs())
            .sadd(NODES, &self.node)
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    /// Removes the users and memberships of nodes whose heartbeat expired, publishing `left`.
    /// One node at a time does it (a short lock), so each `left` is published once.
    pub async fn reap_dead_nodes(&self) -> Result<usize, StoreError> {
        let mut c = self.conn();
        let locked: bool = redis::cmd("SET")
            .arg("chat:reaper")
            .arg(&self.node)
            .arg("NX")
            .arg("EX")
            .arg(5)
            .query_async::<Option<String>>(&mut c)
            .await
            .map_err(unavailable)?
            .is_some();
        if !locked {
            return Ok(0);
        }
        let nodes: Vec<String> = c.smembers(NODES).await.map_err(unavailable)?;
        let mut dead = Vec::new();
        for n in nodes {
            let alive: bool = c.exists(node_key(&n)).await.map_err(unavailable)?;
            if !alive {
                dead.push(n);
            }
        }
        let mut removed = 0;
        if !dead.is_empty() {
            let rooms: Vec<String> = c.smembers(ROOMS).await.map_err(unavailable)?;
            for room in rooms {
                let members: HashMap<String, String> =
                    c.hgetall(members_key(&room)).await.map_err(unavailable)?;
                for (nick, node) in members {
                    if dead.contains(&node) {
                        let gone: i64 = Script::new(RELEASE_LUA)
                            .key(members_key(&room))
                            .arg(&nick)
                            .arg(&node)
                            .invoke_async(&mut c)
                            .await
                            .map_err(unavailable)?;
                        if gone == 1 {
                            removed += 1;
                            bus::publish_now(
                                &mut c,
                                &Event::Presence {
                                    room: room.clone(),
                                    nick,
                                    joined: false,
                                },
                            )
                            .await?;
                        }
                    }
                }
            }
            let users: HashMap<String, String> = c.hgetall(USERS).await.map_err(unavailable)?;
            for (nick, value) in users {
                let node = value.split('|').next().unwrap_or("");
                if dead.iter().any(|d| d == node) {
                    let _: i64 = Script::new(RELEASE_LUA)
                        .key(USERS)
                        .arg(&nick)
                        .arg(node)
                        .invoke_async(&mut c)
                        .await
                        .map_err(unavailable)?;
                }
            }
            for d in &dead {
                let _: () = c.srem(NODES, d).await.map_err(unavailable)?;
            }
        }
        let _: () = c.del("chat:reaper").await.map_err(unavailable)?;
        Ok(removed)
    }
}

/// Keeps this node's heartbeat fresh and removes the users of nodes that died.
async fn heartbeat(cluster: Weak<Cluster>) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tick.tick().await;
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        if let Err(e) = cluster.heartbeat().await {
            tracing::warn!(cause = %e, "cluster heartbeat failed");
            continue;
        }
        match cluster.reap_dead_nodes().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(memberships = n, "removed users of dead nodes"),
            Err(e) => tracing::warn!(cause = %e, "dead-node cleanup failed"),
        }
    }
}
