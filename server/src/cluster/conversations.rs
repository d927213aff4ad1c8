//! [`Conversations`] on Redis: room rules, conversations with their read marks, sanctions
//! and guest bans, shared by every node of a cluster.
//!
//! - `chat:rules:<room>`: a hash {io: `1`/`0`, owner: account id, empty for the admins}.
//! - `chat:conv:<account>`: channel → read mark; `chat:conv:<account>:act`: the same
//!   channels scored by activity time (ties order by channel, as Redis orders equal scores);
//!   `chat:conv:<account>:mute`: the set of those the user muted.
//! - `chat:sanct:<room>`: `subject|kind` → until; `chat:sanct:<room>:exp`: the same fields
//!   scored by until, to count those in force and drop expired ones. The hash keeps the exact
//!   until (`FOREVER` is past a score's precision).
//! - `chat:gban`: `n:<name key>` and `i:<address>` → until; `chat:gban:exp` scores them.
//!
//! Every check-then-write is one Lua script (`conversations/lua.rs`), so it is atomic.

use super::{unavailable, Cluster};
use crate::auth::AccountId;
use crate::conversations::{
    Added, Conversations, RoomRules, Sanction, SanctionKind, MAX_CONVERSATIONS, MAX_GUEST_BANS,
    MAX_SANCTIONS_PER_ROOM,
};
use crate::error::StoreError;
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use shared::{MessageId, Timestamp};
use std::collections::HashMap;
use std::sync::Weak;

mod lua;

use lua::{
    ADD_LUA, BAN_GUEST_LUA, CREATE_ROOM_LUA, LIFT_LUA, MARK_READ_LUA, REMOVE_LUA, SANCTION_LUA,
    SET_MUTED_LUA,
};

const GUEST_BANS: &str = "chat:gban";
const GUEST_BANS_EXP: &str = "chat:gban:exp";

fn rules_key(room: &str) -> String {
    format!("chat:rules:{room}")
}
fn marks_key(account: AccountId) -> String {
    format!("chat:conv:{account}")
}
fn activity_key(account: AccountId) -> String {
    format!("chat:conv:{account}:act")
}
fn mutes_key(account: AccountId) -> String {
    format!("chat:conv:{account}:mute")
}
fn sanctions_key(room: &str) -> String {
    format!("chat:sanct:{room}")
}
fn sanctions_exp_key(room: &str) -> String {
    format!("chat:sanct:{room}:exp")
}
fn sanction_field(subject: &str, kind: SanctionKind) -> String {
    format!("{subject}|{}", kind.as_str())
}

/// Conversation state in Redis, on the cluster's command connection of the moment.
#[derive(Clone)]
pub struct RedisConversations {
    cluster: Weak<Cluster>,
}

impl Cluster {
    /// The conversation state in this cluster's Redis, on its command connection.
    pub fn conversations(&self) -> RedisConversations {
        RedisConversations {
            cluster: self.me.clone(),
        }
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("redis {what}: {value:?}"))
}

fn parse_rules(room: &str, f: &HashMap<String, String>) -> Result<Option<RoomRules>, StoreError> {
    if f.is_empty() {
        return Ok(None);
    }
    let owner = match f.get("owner").map(String::as_str) {
        None | Some("") => None,
        Some(o) => Some(o.parse().map_err(|_| corrupt("room owner", room))?),
    };
    Ok(Some(RoomRules {
        invite_only: f.get("io").is_some_and(|v| v == "1"),
        owner,
    }))
}

fn parse_mark(channel: &str, mark: &str) -> Result<MessageId, StoreError> {
    mark.parse().map_err(|_| corrupt("read mark", channel))
}

impl RedisConversations {
    fn conn(&self) -> Result<ConnectionManager, StoreError> {
        self.cluster
            .upgrade()
            .map(|c| c.conn())
            .ok_or_else(|| StoreError::Unavailable("the cluster connection is closed".into()))
    }
}

#[async_trait]
impl Conversations for RedisConversations {
    async fn rules(&self, room: &str) -> Result<Option<RoomRules>, StoreError> {
        let f: HashMap<String, String> = self
            .conn()?
            .hgetall(rules_key(room))
            .await
            .map_err(unavailable)?;
        parse_rules(room, &f)
    }

    async fn create_room(&self, room: &str, rules: RoomRules) -> Result<bool, StoreError> {
        let done: i64 = Script::new(CREATE_ROOM_LUA)
            .key(rules_key(room))
            .arg(if rules.invite_only { "1" } else { "0" })
            .arg(rules.owner.map(|o| o.to_string()).unwrap_or_default())
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn set_rules(&self, room: &str, rules: RoomRules) -> Result<(), StoreError> {
        let owner = rules.owner.map(|o| o.to_string()).unwrap_or_default();
        let io = if rules.invite_only { "1" } else { "0" };
        self.conn()?
            .hset_multiple::<_, _, _, ()>(rules_key(room), &[("io", io), ("owner", &owner)])
            .await
            .map_err(unavailable)
    }

    async fn invite_only_among(&self, rooms: &[String]) -> Result<Vec<String>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.hget(rules_key(room), "io");
        }
        let flags: Vec<Option<String>> = pipe
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(rooms
            .iter()
            .zip(flags)
            .filter(|(_, io)| io.as_deref() == Some("1"))
            .map(|(room, _)| room.clone())
            .collect())
    }

    async fn add(
        &self,
        account: AccountId,
        channel: &str,
        read: MessageId,
        now: Timestamp,
    ) -> Result<Added, StoreError> {
        let done: i64 = Script::new(ADD_LUA)
            .key(marks_key(account))
            .key(activity_key(account))
            .key(mutes_key(account))
            .arg(channel)
            .arg(read)
            .arg(now)
            .arg(MAX_CONVERSATIONS)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        match done {
            0 => Ok(Added::New),
            1 => Ok(Added::Existing),
            2 => Ok(Added::Full),
            other => Err(corrupt("add", &other.to_string())),
        }
    }

    async fn remove(&self, account: AccountId, channel: &str) -> Result<bool, StoreError> {
        let done: i64 = Script::new(REMOVE_LUA)
            .key(marks_key(account))
            .key(activity_key(account))
            .key(mutes_key(account))
            .arg(channel)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn has(&self, account: AccountId, channel: &str) -> Result<bool, StoreError> {
        self.conn()?
            .hexists(marks_key(account), channel)
            .await
            .map_err(unavailable)
    }

    async fn mark_read(
        &self,
        account: AccountId,
        channel: &str,
        id: MessageId,
    ) -> Result<Option<MessageId>, StoreError> {
        let mark: Option<String> = Script::new(MARK_READ_LUA)
            .key(marks_key(account))
            .arg(channel)
            .arg(id)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        mark.map(|m| parse_mark(channel, &m)).transpose()
    }

    async fn set_muted(
        &self,
        account: AccountId,
        channel: &str,
        muted: bool,
    ) -> Result<bool, StoreError> {
        let done: i64 = Script::new(SET_MUTED_LUA)
            .key(marks_key(account))
            .key(mutes_key(account))
            .arg(channel)
            .arg(if muted { "1" } else { "0" })
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn muted(&self, account: AccountId) -> Result<Vec<String>, StoreError> {
        let mut muted: Vec<String> = self
            .conn()?
            .smembers(mutes_key(account))
            .await
            .map_err(unavailable)?;
        muted.sort();
        Ok(muted)
    }

    async fn list(
        &self,
        account: AccountId,
        limit: usize,
    ) -> Result<Vec<(String, MessageId)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (marks, active): (HashMap<String, String>, Vec<(String, f64)>) = redis::pipe()
            .atomic()
            .hgetall(marks_key(account))
            .zrange_withscores(activity_key(account), 0, -1)
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        // Redis gives equal scores by channel ascending; a stable sort by score alone, newest
        // first, keeps that.
        let mut active = active;
        active.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut out = Vec::with_capacity(active.len().min(limit));
        for (channel, _) in active {
            if out.len() == limit {
                break;
            }
            if let Some(mark) = marks.get(&channel) {
                let mark = parse_mark(&channel, mark)?;
                out.push((channel, mark));
            }
        }
        Ok(out)
    }

    async fn read_mark(
        &self,
        account: AccountId,
        channel: &str,
    ) -> Result<Option<MessageId>, StoreError> {
        let mark: Option<String> = self
            .conn()?
            .hget(marks_key(account), channel)
            .await
            .map_err(unavailable)?;
        mark.map(|m| parse_mark(channel, &m)).transpose()
    }

    async fn sanction(&self, room: &str, s: Sanction, now: Timestamp) -> Result<bool, StoreError> {
        let done: i64 = Script::new(SANCTION_LUA)
            .key(sanctions_key(room))
            .key(sanctions_exp_key(room))
            .arg(now)
            .arg(sanction_field(&s.subject, s.kind))
            .arg(s.until)
            .arg(MAX_SANCTIONS_PER_ROOM)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn lift(
        &self,
        room: &str,
        subject: &str,
        kind: SanctionKind,
    ) -> Result<bool, StoreError> {
        let done: i64 = Script::new(LIFT_LUA)
            .key(sanctions_key(room))
            .key(sanctions_exp_key(room))
            .arg(sanction_field(subject, kind))
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn sanctions(&self, room: &str, now: Timestamp) -> Result<Vec<Sanction>, StoreError> {
        let all: HashMap<String, String> = self
            .conn()?
            .hgetall(sanctions_key(room))
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for (field, until) in all {
            let (subject, kind) = field
                .rsplit_once('|')
                .and_then(|(s, k)| Some((s, SanctionKind::parse(k)?)))
                .ok_or_else(|| corrupt("sanction", &field))?;
            let until: Timestamp = until.parse().map_err(|_| corrupt("sanction", &field))?;
            if until > now {
                out.push(Sanction {
                    subject: subject.to_string(),
                    kind,
                    until,
                });
            }
        }
        out.sort_by(|a, b| (&a.subject, a.kind).cmp(&(&b.subject, b.kind)));
        Ok(out)
    }

    async fn ban_guest(
        &self,
        name_key: &str,
        addr: Option<&str>,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let done: i64 = Script::new(BAN_GUEST_LUA)
            .key(GUEST_BANS)
            .key(GUEST_BANS_EXP)
            .arg(now)
            .arg(format!("n:{name_key}"))
            .arg(addr.map(|a| format!("i:{a}")).unwrap_or_default())
            .arg(until)
            .arg(MAX_GUEST_BANS)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }

    async fn guest_banned(
        &self,
        name_key: &str,
        addr: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut fields = vec![format!("n:{name_key}")];
        fields.extend(addr.map(|a| format!("i:{a}")));
        let untils: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(GUEST_BANS)
            .arg(&fields)
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(untils
            .iter()
            .flatten()
            .any(|u| u.parse::<Timestamp>().is_ok_and(|u| u > now)))
    }
}
