//! Which nodes are alive. Each node refreshes its heartbeat key (`chat:node:<id>`, expiring
//! after [`NODE_TTL`]); a live node removes the users and memberships of a node whose key
//! expired, publishing `left`.
//!
//! After an outage of Redis itself (stopped, restarted, unreachable from every node) every
//! key looks expired at once, and the first node back would remove the others' users before
//! they could refresh. So every heartbeat also refreshes `chat:pulse`, which lapses only when
//! no node got through for [`PULSE_TTL`] (shorter than a node key can lapse by); the first
//! heartbeat to find it gone starts a grace (`chat:grace`) in which nobody is reaped. Until
//! then and in the grace, no nickname held by another node is handed over. Within it every
//! node re-asserts its users and memberships (`hub/recover.rs`). A node cut off alone is
//! reaped as usual, and re-asserts whatever was not claimed meanwhile when it comes back.

use super::{bus, members_key, node_key, unavailable, Cluster, NODES, ROOMS, USERS};
use crate::broker::Event;
use crate::error::StoreError;
use redis::{AsyncCommands, Script};
use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

/// A node is dead once its heartbeat key is this old.
pub const NODE_TTL: Duration = Duration::from_secs(6);
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// Under `NODE_TTL - HEARTBEAT_EVERY`: an outage that let any node key lapse lapses this too.
const PULSE_TTL: Duration = Duration::from_secs(3);
/// Time for every node to notice the outage and re-assert its users.
pub(super) const GRACE: Duration = Duration::from_secs(10);
pub(super) const GRACE_KEY: &str = "chat:grace";
pub(super) const PULSE_KEY: &str = "chat:pulse";

/// Refreshes the node's key (1: it had lapsed), adds it to the node set, and starts the grace
/// when nobody's heartbeat got through for a while.
const HEARTBEAT_LUA: &str = r"
local had = redis.call('SET', KEYS[1], '1', 'EX', ARGV[2], 'GET')
redis.call('SADD', KEYS[2], ARGV[1])
if not redis.call('SET', KEYS[3], '1', 'EX', ARGV[3], 'GET') then
  redis.call('SET', KEYS[4], '1', 'EX', ARGV[4])
end
if had then return 0 end
return 1
";

/// Deletes a hash field naming a node whose heartbeat key is gone, checked in the same step:
/// a node that came back and re-asserted keeps what it wrote.
const REAP_LUA: &str = concat!(
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end\n",
    release_lua!()
);

impl Cluster {
    /// Refreshes this node's heartbeat key. `true`: it had lapsed, so the other nodes may
    /// have removed this node's users.
    pub async fn heartbeat(&self) -> Result<bool, StoreError> {
        let lapsed: i64 = Script::new(HEARTBEAT_LUA)
            .key(node_key(&self.node))
            .key(NODES)
            .key(PULSE_KEY)
            .key(GRACE_KEY)
            .arg(&self.node)
            .arg(NODE_TTL.as_secs())
            .arg(PULSE_TTL.as_secs())
            .arg(GRACE.as_secs())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(lapsed == 1)
    }

    /// Whether Redis still holds the history this node started on: its epoch key gone (a
    /// Redis restarted without persistence, or flushed) or replaced means ids started over
    /// there, and nothing this node holds lines up with them. Then the node stops (see
    /// `SharedLog::lost`) and, restarted, serves the new history; clients see its new epoch.
    pub async fn check_epoch(&self) {
        let now: Result<Option<String>, _> = self.conn().get("chat:epoch").await;
        let reason = match now {
            Ok(Some(e)) if e == self.epoch => return,
            Ok(Some(_)) => "redis holds another history now (its epoch changed)",
            Ok(None) => "redis lost its data (restarted without persistence, or flushed)",
            Err(_) => return, // unreachable: the bus and readiness deal with that
        };
        self.lost.send_if_modified(|r| {
            let first = r.is_none();
            if first {
                *r = Some(reason.to_string());
            }
            first
        });
    }

    /// Removes the users and memberships of nodes whose heartbeat expired, publishing `left`.
    /// One node at a time does it (a short lock), so each `left` is published once; nobody
    /// does it during the grace after a cluster-wide outage.
    pub async fn reap_dead_nodes(&self) -> Result<usize, StoreError> {
        let mut c = self.conn();
        if c.exists(GRACE_KEY).await.map_err(unavailable)? {
            return Ok(0);
        }
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
                        let gone: i64 = Script::new(REAP_LUA)
                            .key(members_key(&room))
                            .key(node_key(&node))
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
                                    // A leave needs no marker: clients drop the name.
                                    g: false,
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
                    let _: i64 = Script::new(REAP_LUA)
                        .key(USERS)
                        .key(node_key(node))
                        .arg(&nick)
                        .arg(node)
                        .invoke_async(&mut c)
                        .await
                        .map_err(unavailable)?;
                }
            }
            for d in &dead {
                // Not a node that came back meanwhile (its heartbeat adds it again anyway).
                let alive: bool = c.exists(node_key(d)).await.map_err(unavailable)?;
                if !alive {
                    let _: () = c.srem(NODES, d).await.map_err(unavailable)?;
                }
            }
        }
        let _: () = c.del("chat:reaper").await.map_err(unavailable)?;
        Ok(removed)
    }
}

/// Keeps this node's heartbeat fresh and removes the users of nodes that died. A heartbeat
/// that finds its own key lapsed has the bus recover (re-assert this node's users). With
/// `--redis-durable`, checks Redis's persistence again each time.
pub(super) async fn heartbeat(cluster: Weak<Cluster>) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tick.tick().await;
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        match cluster.heartbeat().await {
            Ok(true) => {
                tracing::warn!("this node's heartbeat key had lapsed; re-asserting its users");
                cluster.lapsed.notify_one();
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(cause = %e, "cluster heartbeat failed");
                continue;
            }
        }
        cluster.recheck_durability().await;
        cluster.check_epoch().await;
        match cluster.reap_dead_nodes().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(memberships = n, "removed users of dead nodes"),
            Err(e) => tracing::warn!(cause = %e, "dead-node cleanup failed"),
        }
    }
}
