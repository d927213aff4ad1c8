//! Scale-out through Redis: several server processes act as one chat.
//!
//! - **Ids, history, idempotency**: one Lua script assigns a channel's next id (`INCR`), appends
//!   the message to the channel's stream (entry id `<id>-0`, capped with `MAXLEN ~`), records the
//!   sender's client id, and `PUBLISH`es the message on the bus, all atomically. Redis runs scripts
//!   one at a time, so the bus carries each channel's messages in id order, and every node
//!   delivers them in that order.
//! - **Fan-out**: every node subscribes to the bus and delivers to its own members. Ids of a
//!   channel are contiguous, so a node that sees a jump (a message it missed while its
//!   subscription was down) fills the gap from the stream first.
//! - **Users and presence**: `chat:users` maps nickname to `node|resume-token`; room member
//!   hashes map nickname to node. Each node refreshes a heartbeat key; a node whose heartbeat
//!   expired has its users removed (and `left` published) by a live node.
//!
//! Redis must persist (AOF) for history to survive a Redis restart.

use crate::error::StoreError;
use crate::store::{Appended, History, Journal, Page, StoredAck, StoredMessage};
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use shared::{ClientMsgId, MessageId, MessageText, Nickname, RoomInfo, RoomName, Timestamp};
use std::collections::HashMap;
use std::time::Duration;

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

const PUBLISH_LUA: &str = r"
local cid = ARGV[5]
if cid ~= '' then
  local prev = redis.call('HGET', KEYS[3], cid)
  if prev then return {0, prev} end
end
local id = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], id .. '-0', 's', ARGV[2], 't', ARGV[3], 'ts', ARGV[4], 'c', cid)
if cid ~= '' then
  redis.call('HSET', KEYS[3], cid, ARGV[1] .. '|' .. id .. '|' .. ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
redis.call('PUBLISH', ARGV[9], ARGV[7] .. id .. '}')
return {1, tostring(id)}
";

const CLAIM_LUA: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local node, tok = string.match(cur, '^([^|]*)|(.*)$')
  if ARGV[4] ~= '' and ARGV[4] == tok then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. tok)
    return {2, node, tok}
  end
  if node ~= ARGV[2] and redis.call('EXISTS', 'chat:node:' .. node) == 1 then return {0} end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
return {1}
";

/// Deletes a hash field only if it still names this node (compare-and-delete).
const RELEASE_LUA: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and (cur == ARGV[2] or string.sub(cur, 1, string.len(ARGV[2]) + 1) == ARGV[2] .. '|') then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return 1
end
return 0
";

/// What travels on the bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum BusEvent {
    /// A stored message (`to` is set for direct messages).
    #[serde(rename = "m")]
    Message {
        ch: String,
        s: String,
        t: String,
        ts: Timestamp,
        #[serde(default)]
        to: String,
        id: MessageId,
    },
    #[serde(rename = "p")]
    Presence {
        room: String,
        nick: String,
        joined: bool,
    },
    #[serde(rename = "y")]
    Typing { room: String, nick: String },
    /// The user's session was resumed on another node: `node` must close its copy.
    #[serde(rename = "kick")]
    Kick { nick: String, node: String },
}

/// What publishing a message did.
#[derive(Debug)]
pub enum Published {
    /// Stored and published under this id.
    Stored(MessageId),
    /// The sender's client id was already stored: nothing new.
    Duplicate(StoredAck),
}

/// Outcome of a nickname claim.
pub enum Claim {
    Taken,
    New,
    /// The resume token matched: the user's session moves here from `node`.
    TakenOver {
        node: String,
        token: String,
    },
}

#[derive(Clone)]
pub struct Cluster {
    pub node: String,
    epoch: String,
    pub url: String,
    conn: ConnectionManager,
    maxlen: u64,
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

impl Cluster {
    /// Connects to Redis; an unreachable Redis is a clear error.
    pub async fn connect(url: &str, maxlen: u64) -> Result<Cluster, StoreError> {
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
        let node = crate::util::random_hex();
        let _: Option<String> = redis::cmd("SET")
            .arg("chat:epoch")
            .arg(crate::util::random_hex())
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let epoch: String = conn.get("chat:epoch").await.map_err(unavailable)?;
        Ok(Cluster {
            node,
            epoch,
            url: url.to_string(),
            conn,
            maxlen: maxlen.max(1),
        })
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

    async fn publish_event(&self, ev: &BusEvent) -> Result<(), StoreError> {
        let payload =
            serde_json::to_string(ev).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.conn()
            .publish::<_, _, ()>(BUS, payload)
            .await
            .map_err(unavailable)
    }

    /// Stores and publishes a message; the id comes from Redis.
    pub async fn publish_message(
        &self,
        channel: &str,
        sender: &Nickname,
        text: &MessageText,
        ts: Timestamp,
        client_id: Option<&ClientMsgId>,
        to: Option<&Nickname>,
    ) -> Result<Published, StoreError> {
        // The bus payload minus its id, which the script appends (it is known only there).
        let head = serde_json::to_string(&BusEvent::Message {
            ch: channel.into(),
            s: sender.to_string(),
            t: text.to_string(),
            ts,
            to: to.map(|t| t.to_string()).unwrap_or_default(),
            id: 0,
        })
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let head = head.strip_suffix("0}").unwrap_or(&head).to_string();
        let (flag, value): (i64, String) = Script::new(PUBLISH_LUA)
            .key(seq_key(channel))
            .key(log_key(channel))
            .key(dedup_key(sender.as_str()))
            .arg(channel)
            .arg(sender.as_str())
            .arg(text.as_str())
            .arg(ts)
            .arg(client_id.map(|c| c.as_str()).unwrap_or(""))
            .arg(self.maxlen)
            .arg(head)
            .arg(DEDUP_TTL_SECS)
            .arg(BUS)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if flag == 1 {
            let id = value
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("bad id {value}")))?;
            return Ok(Published::Stored(id));
        }
        let mut parts = value.rsplitn(3, '|');
        let ts = parts.next().and_then(|v| v.parse().ok());
        let id = parts.next().and_then(|v| v.parse().ok());
        let ch = parts.next();
        match (ch, id, ts) {
            (Some(ch), Some(id), Some(ts)) => Ok(Published::Duplicate(StoredAck {
                channel: ch.into(),
                id,
                ts,
            })),
            _ => Err(StoreError::Corrupt(format!("bad dedup entry {value}"))),
        }
    }

    pub async fn claim(
        &self,
        nick: &Nickname,
        token: &str,
        resume: Option<&str>,
    ) -> Result<Claim, StoreError> {
        let r: Vec<String> = Script::new(CLAIM_LUA)
            .key(USERS)
            .arg(nick.as_str())
            .arg(&self.node)
            .arg(token)
            .arg(resume.unwrap_or(""))
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(match r.first().map(String::as_str) {
            Some("1") => Claim::New,
            Some("2") => {
                let node = r.get(1).cloned().unwrap_or_default();
                let token = r.get(2).cloned().unwrap_or_default();
                if node != self.node {
                    let _ = self
                        .publish_event(&BusEvent::Kick {
                            nick: nick.to_string(),
                            node: node.clone(),
                        })
                        .await;
                }
                Claim::TakenOver { node, token }
            }
            _ => Claim::Taken,
        })
    }

    /// Releases a nickname held by this node.
    pub async fn release(&self, nick: &Nickname) -> Result<(), StoreError> {
        Script::new(RELEASE_LUA)
            .key(USERS)
            .arg(nick.as_str())
            .arg(&self.node)
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Whether `nick` is connected to any live node.
    pub async fn user_online(&self, nick: &Nickname) -> Result<bool, StoreError> {
        let v: Option<String> = self
            .conn()
            .hget(USERS, nick.as_str())
            .await
            .map_err(unavailable)?;
        let Some(node) = v.as_deref().and_then(|v| v.split('|').next()) else {
            return Ok(false);
        };
        let alive: bool = self
            .conn()
            .exists(node_key(node))
            .await
            .map_err(unavailable)?;
        Ok(alive)
    }

    /// Records membership; publishes `joined` when the user was not yet in the room.
    /// (`joined` is published only while the room has at most `presence_limit` members.)
    pub async fn join(
        &self,
        room: &RoomName,
        nick: &Nickname,
        presence_limit: usize,
    ) -> Result<(), StoreError> {
        let (added, _, size): (i64, i64, usize) = redis::pipe()
            .hset(members_key(room.as_str()), nick.as_str(), &self.node)
            .sadd(ROOMS, room.as_str())
            .hlen(members_key(room.as_str()))
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if added == 1 && size <= presence_limit {
            let ev = BusEvent::Presence {
                room: room.to_string(),
                nick: nick.to_string(),
                joined: true,
            };
            self.publish_event(&ev).await?;
        }
        Ok(())
    }

    pub async fn leave(&self, room: &RoomName, nick: &Nickname) -> Result<(), StoreError> {
        let removed: i64 = Script::new(RELEASE_LUA)
            .key(members_key(room.as_str()))
            .arg(nick.as_str())
            .arg(&self.node)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if removed == 1 {
            let ev = BusEvent::Presence {
                room: room.to_string(),
                nick: nick.to_string(),
                joined: false,
            };
            self.publish_event(&ev).await?;
        }
        Ok(())
    }

    pub async fn members(&self, room: &RoomName) -> Result<Vec<Nickname>, StoreError> {
        let names: Vec<String> = self
            .conn()
            .hkeys(members_key(room.as_str()))
            .await
            .map_err(unavailable)?;
        let mut v: Vec<Nickname> = names
            .into_iter()
            .filter_map(|n| Nickname::new(n).ok())
            .collect();
        v.sort();
        Ok(v)
    }

    pub async fn typing(&self, room: &RoomName, nick: &Nickname) -> Result<(), StoreError> {
        self.publish_event(&BusEvent::Typing {
            room: room.to_string(),
            nick: nick.to_string(),
        })
        .await
    }

    pub async fn rooms(&self) -> Result<Vec<RoomInfo>, StoreError> {
        let names: Vec<String> = self.conn().smembers(ROOMS).await.map_err(unavailable)?;
        let mut out = Vec::new();
        for n in names {
            let Ok(name) = RoomName::new(n) else { continue };
            let members: u32 = self
                .conn()
                .hlen(members_key(name.as_str()))
                .await
                .map_err(unavailable)?;
            out.push(RoomInfo { name, members });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
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
                            self.publish_event(&BusEvent::Presence {
                                room: room.clone(),
                                nick,
                                joined: false,
                            })
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

    /// A graceful exit: drops this node's heartbeat so others reap its users at once.
    pub async fn leave_cluster(&self) {
        let mut c = self.conn();
        let _: Result<(), _> = c.del(node_key(&self.node)).await;
    }

    /// A pub/sub subscription to the bus (reconnected by the caller when it ends).
    pub async fn subscribe(&self) -> Result<redis::aio::PubSub, StoreError> {
        let client = redis::Client::open(self.url.as_str()).map_err(unavailable)?;
        let mut ps = tokio::time::timeout(Duration::from_secs(3), client.get_async_pubsub())
            .await
            .map_err(|_| StoreError::Unavailable("redis pubsub connect timed out".into()))?
            .map_err(unavailable)?;
        ps.subscribe(BUS).await.map_err(unavailable)?;
        Ok(ps)
    }
}

fn parse_entries(channel: &str, raw: Vec<(String, HashMap<String, String>)>) -> Vec<StoredMessage> {
    raw.into_iter()
        .filter_map(|(id, fields)| {
            let id: MessageId = id.split('-').next()?.parse().ok()?;
            Some(StoredMessage {
                channel: channel.to_string(),
                id,
                sender: Nickname::new(fields.get("s")?.as_str()).ok()?,
                text: MessageText::new(fields.get("t")?.as_str()).ok()?,
                ts: fields.get("ts")?.parse().ok()?,
                client_id: fields
                    .get("c")
                    .and_then(|c| ClientMsgId::new(c.as_str()).ok()),
            })
        })
        .collect()
}

/// History reads from the shared streams. Writes go through [`Cluster::publish_message`].
#[async_trait]
impl History for Cluster {
    async fn last_id(&self, channel: &str) -> Result<MessageId, StoreError> {
        let v: Option<u64> = self
            .conn()
            .get(seq_key(channel))
            .await
            .map_err(unavailable)?;
        Ok(v.unwrap_or(0))
    }

    async fn after(
        &self,
        channel: &str,
        after: MessageId,
        upto: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        if upto <= after {
            return Ok(Page::default());
        }
        let raw: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(log_key(channel))
            .arg(format!("({after}-0"))
            .arg(format!("{upto}-0"))
            .arg("COUNT")
            .arg(limit + 1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let messages = parse_entries(channel, raw);
        Ok(Page::from_overfetch(messages, limit, false))
    }

    async fn before(
        &self,
        channel: &str,
        before: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        if before <= 1 {
            return Ok(Page::default());
        }
        let raw: Vec<(String, HashMap<String, String>)> = redis::cmd("XREVRANGE")
            .arg(log_key(channel))
            .arg(format!("({before}-0"))
            .arg("-")
            .arg("COUNT")
            .arg(limit + 1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let messages = parse_entries(channel, raw);
        Ok(Page::from_overfetch(messages, limit, true))
    }

    fn epoch(&self) -> String {
        self.epoch.clone()
    }
}

#[async_trait]
impl Journal for Cluster {
    async fn append(&self, _msg: StoredMessage) -> Result<Appended, StoreError> {
        // In cluster mode ids are assigned by Redis: the hub calls `publish_message` instead.
        Err(StoreError::Unavailable(
            "cluster history is written by publish_message".into(),
        ))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
