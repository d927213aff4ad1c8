//! [`Conversations`] in SQLite: the `rooms`, `conversations`, `sanctions` and `guest_bans`
//! tables of `chat.db`, beside the messages and the accounts. As with the accounts, the
//! connection is this module's own (WAL lets it share the file with the store's), and its
//! queries run one at a time on a thread of its own rather than on Tokio's blocking pool:
//! every join and every message read asks something here. Its reads by index (a room's rules,
//! bans and mutes, a membership, a guest ban) run on the caller's thread when they can
//! (`store::sqlite::OwnThread`), and on that thread otherwise. What reads then writes (the
//! bounds) runs in one immediate transaction, so that two servers on one database cannot
//! both pass a bound.

use super::{
    Added, Conversations, RoomRules, Sanction, SanctionKind, MAX_CONVERSATIONS, MAX_GUEST_BANS,
    MAX_SANCTIONS_PER_ROOM,
};
use crate::auth::AccountId;
use crate::error::StoreError;
use crate::store::sqlite::OwnThread;
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use shared::{MessageId, Timestamp};
use std::path::Path;

pub struct SqliteConversations {
    db: OwnThread,
}

impl SqliteConversations {
    /// Opens `<data_dir>/chat.db` (creating the directory and the database if missing) and
    /// brings its schema up to date, beside a running store or alone.
    pub fn open(data_dir: &Path) -> Result<SqliteConversations, StoreError> {
        Ok(SqliteConversations {
            db: OwnThread::open(data_dir, "conversations")?,
        })
    }

    /// Takes the lookup connection, as a read on another thread would.
    #[cfg(test)]
    pub(super) fn hold_lookup(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.db.lookup().hold()
    }
}

/// An account id or message id as SQLite stores it; `None` for one above any stored value.
fn sql_int(v: u64) -> Option<i64> {
    i64::try_from(v).ok()
}

/// `sql_int`, for a value about to be written: out of range is an error.
fn sql_int_or_err(v: u64, what: &str) -> Result<i64, StoreError> {
    sql_int(v).ok_or_else(|| StoreError::Unavailable(format!("{what} {v} is out of range")))
}

/// The channels of direct conversations are those from `'dm:'` up to, not including,
/// `'dm;'` (`;` follows `:`): an exact prefix test in SQLite's byte order, where `LIKE`
/// would ignore case. Ties in activity go by channel, as in memory.
const OLDEST_DM: &str = "SELECT channel FROM conversations
    WHERE account = ?1 AND channel >= 'dm:' AND channel < 'dm;'
    ORDER BY active, channel LIMIT 1";

fn is_dm(channel: &str) -> bool {
    channel.starts_with("dm:")
}

fn row_to_sanction(r: &rusqlite::Row<'_>) -> rusqlite::Result<Sanction> {
    let kind: String = r.get(1)?;
    Ok(Sanction {
        subject: r.get(0)?,
        kind: SanctionKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown sanction kind {kind:?}").into(),
            )
        })?,
        until: r.get(2)?,
    })
}

#[async_trait]
impl Conversations for SqliteConversations {
    async fn rules(&self, room: &str) -> Result<Option<RoomRules>, StoreError> {
        let room = room.to_string();
        self.db
            .read(move |c| {
                c.prepare_cached("SELECT invite_only, owner FROM rooms WHERE name = ?1")?
                    .query_row([&room], |r| {
                        Ok(RoomRules {
                            invite_only: r.get::<_, i64>(0)? != 0,
                            owner: r.get::<_, Option<i64>>(1)?.map(|o| o as AccountId),
                        })
                    })
                    .optional()
            })
            .await
    }

    async fn create_room(&self, room: &str, rules: RoomRules) -> Result<bool, StoreError> {
        let room = room.to_string();
        let owner = rules
            .owner
            .map(|o| sql_int_or_err(o, "owner"))
            .transpose()?;
        self.db
            .query(move |c| {
                c.prepare_cached(
                    "INSERT OR IGNORE INTO rooms (name, invite_only, owner) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![room, rules.invite_only as i64, owner])
                .map(|n| n == 1)
            })
            .await
    }

    async fn set_rules(&self, room: &str, rules: RoomRules) -> Result<(), StoreError> {
        let room = room.to_string();
        let owner = rules
            .owner
            .map(|o| sql_int_or_err(o, "owner"))
            .transpose()?;
        self.db
            .query(move |c| {
                c.prepare_cached(
                    "INSERT OR REPLACE INTO rooms (name, invite_only, owner) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![room, rules.invite_only as i64, owner])
                .map(|_| ())
            })
            .await
    }

    async fn invite_only_among(&self, rooms: &[String]) -> Result<Vec<String>, StoreError> {
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let rooms = rooms.to_vec();
        self.db
            .query(move |c| {
                let mut stmt =
                    c.prepare_cached("SELECT 1 FROM rooms WHERE name = ?1 AND invite_only != 0")?;
                let mut found = Vec::new();
                for room in rooms {
                    if stmt.exists([room.as_str()])? {
                        found.push(room);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn add(
        &self,
        account: AccountId,
        channel: &str,
        read: MessageId,
        now: Timestamp,
    ) -> Result<Added, StoreError> {
        let account = sql_int_or_err(account, "account id")?;
        let read = sql_int_or_err(read, "message id")?;
        let channel = channel.to_string();
        self.db
            .query(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let refreshed = tx
                    .prepare_cached(
                        "UPDATE conversations SET active = ?3 WHERE account = ?1 AND channel = ?2",
                    )?
                    .execute(params![account, channel, now])?;
                if refreshed > 0 {
                    tx.commit()?;
                    return Ok(Added::Existing);
                }
                let count: i64 = tx
                    .prepare_cached("SELECT count(*) FROM conversations WHERE account = ?1")?
                    .query_row([account], |r| r.get(0))?;
                if count as usize >= MAX_CONVERSATIONS {
                    if !is_dm(&channel) {
                        return Ok(Added::Full);
                    }
                    let dropped = tx
                        .prepare_cached(&format!(
                        "DELETE FROM conversations WHERE account = ?1 AND channel = ({OLDEST_DM})"
                    ))?
                        .execute([account])?;
                    if dropped == 0 {
                        return Ok(Added::Full);
                    }
                }
                tx.prepare_cached(
                    "INSERT INTO conversations (account, channel, read, active)
                 VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![account, channel, read, now])?;
                tx.commit()?;
                Ok(Added::New)
            })
            .await
    }

    async fn remove(&self, account: AccountId, channel: &str) -> Result<bool, StoreError> {
        let Some(account) = sql_int(account) else {
            return Ok(false);
        };
        let channel = channel.to_string();
        self.db
            .query(move |c| {
                c.prepare_cached("DELETE FROM conversations WHERE account = ?1 AND channel = ?2")?
                    .execute(params![account, channel])
                    .map(|n| n > 0)
            })
            .await
    }

    async fn has(&self, account: AccountId, channel: &str) -> Result<bool, StoreError> {
        let Some(account) = sql_int(account) else {
            return Ok(false);
        };
        let channel = channel.to_string();
        self.db
            .read(move |c| {
                c.prepare_cached("SELECT 1 FROM conversations WHERE account = ?1 AND channel = ?2")?
                    .exists(params![account, channel])
            })
            .await
    }

    async fn mark_read(
        &self,
        account: AccountId,
        channel: &str,
        id: MessageId,
    ) -> Result<Option<MessageId>, StoreError> {
        let Some(account) = sql_int(account) else {
            return Ok(None);
        };
        let id = sql_int_or_err(id, "message id")?;
        let channel = channel.to_string();
        self.db
            .query(move |c| {
                c.prepare_cached(
                    "UPDATE conversations SET read = max(read, ?3)
                 WHERE account = ?1 AND channel = ?2 RETURNING read",
                )?
                .query_row(params![account, channel, id], |r| r.get::<_, i64>(0))
                .optional()
                .map(|m| m.map(|m| m as MessageId))
            })
            .await
    }

    async fn set_muted(
        &self,
        account: AccountId,
        channel: &str,
        muted: bool,
    ) -> Result<bool, StoreError> {
        let Some(account) = sql_int(account) else {
            return Ok(false);
        };
        let channel = channel.to_string();
        self.db
            .query(move |c| {
                c.prepare_cached(
                    "UPDATE conversations SET muted = ?3 WHERE account = ?1 AND channel = ?2",
                )?
                .execute(params![account, channel, muted])
                .map(|n| n > 0)
            })
            .await
    }

    async fn muted(&self, account: AccountId) -> Result<Vec<String>, StoreError> {
        let Some(account) = sql_int(account) else {
            return Ok(Vec::new());
        };
        self.db
            .query(move |c| {
                c.prepare_cached(
                    "SELECT channel FROM conversations WHERE account = ?1 AND muted != 0
                 ORDER BY channel",
                )?
                .query_map([account], |r| r.get::<_, String>(0))?
                .collect()
            })
            .await
    }

    async fn list(
        &self,
        account: AccountId,
        limit: usize,
    ) -> Result<Vec<(String, MessageId)>, StoreError> {
        let Some(account) = sql_int(account) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .query(move |c| {
                c.prepare_cached(
                    "SELECT channel, read FROM conversations WHERE account = ?1
                 ORDER BY active DESC, channel ASC LIMIT ?2",
                )?
                .query_map([account, limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as MessageId))
                })?
                .collect()
            })
            .await
    }

    async fn read_mark(
        &self,
        account: AccountId,
        channel: &str,
    ) -> Result<Option<MessageId>, StoreError> {
        let Some(account) = sql_int(account) else {
            return Ok(None);
        };
        let channel = channel.to_string();
        self.db
            .query(move |c| {
                c.prepare_cached(
                    "SELECT read FROM conversations WHERE account = ?1 AND channel = ?2",
                )?
                .query_row(params![account, channel], |r| r.get::<_, i64>(0))
                .optional()
                .map(|m| m.map(|m| m as MessageId))
            })
            .await
    }

    /// Expired sanctions of the room are deleted first (and stay deleted even when the
    /// bound refuses this one), so that only those in force count.
    async fn sanction(&self, room: &str, s: Sanction, now: Timestamp) -> Result<bool, StoreError> {
        let room = room.to_string();
        self.db
            .query(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached("DELETE FROM sanctions WHERE room = ?1 AND until <= ?2")?
                    .execute(params![room, now])?;
                let kind = s.kind.as_str();
                let replacing = tx
                    .prepare_cached(
                        "SELECT 1 FROM sanctions WHERE room = ?1 AND subject = ?2 AND kind = ?3",
                    )?
                    .exists(params![room, s.subject, kind])?;
                if !replacing {
                    let count: i64 = tx
                        .prepare_cached("SELECT count(*) FROM sanctions WHERE room = ?1")?
                        .query_row([&room], |r| r.get(0))?;
                    if count as usize >= MAX_SANCTIONS_PER_ROOM {
                        tx.commit()?;
                        return Ok(false);
                    }
                }
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO sanctions (room, subject, kind, until)
                 VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![room, s.subject, kind, s.until])?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn lift(
        &self,
        room: &str,
        subject: &str,
        kind: SanctionKind,
    ) -> Result<bool, StoreError> {
        let (room, subject) = (room.to_string(), subject.to_string());
        self.db
            .query(move |c| {
                c.prepare_cached(
                    "DELETE FROM sanctions WHERE room = ?1 AND subject = ?2 AND kind = ?3",
                )?
                .execute(params![room, subject, kind.as_str()])
                .map(|n| n > 0)
            })
            .await
    }

    async fn sanctions(&self, room: &str, now: Timestamp) -> Result<Vec<Sanction>, StoreError> {
        let room = room.to_string();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT subject, kind, until FROM sanctions WHERE room = ?1 AND until > ?2
                 ORDER BY subject, kind",
                )?
                .query_map(params![room, now], row_to_sanction)?
                .collect()
            })
            .await
    }

    /// Expired guest bans are deleted first (and stay deleted even when the bound refuses
    /// this one), so that only those in force count.
    async fn ban_guest(
        &self,
        name_key: &str,
        addr: Option<&str>,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let name_key = name_key.to_string();
        let addr = addr.map(str::to_string);
        self.db
            .query(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.prepare_cached("DELETE FROM guest_bans WHERE until <= ?1")?
                    .execute([now])?;
                let count: i64 = tx
                    .prepare_cached("SELECT count(*) FROM guest_bans")?
                    .query_row([], |r| r.get(0))?;
                if count as usize + 2 > MAX_GUEST_BANS {
                    tx.commit()?;
                    return Ok(false);
                }
                {
                    let mut ban = tx.prepare_cached(
                    "INSERT OR REPLACE INTO guest_bans (kind, value, until) VALUES (?1, ?2, ?3)",
                )?;
                    ban.execute(params!["name", name_key, until])?;
                    if let Some(a) = addr {
                        ban.execute(params!["addr", a, until])?;
                    }
                }
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn guest_banned(
        &self,
        name_key: &str,
        addr: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let name_key = name_key.to_string();
        let addr = addr.map(str::to_string);
        self.db
            .read(move |c| {
                // One statement, so one read transaction (each costs the WAL's shared-memory
                // locks): a guest's connection asks this every time.
                c.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM guest_bans
                                    WHERE kind = 'name' AND value = ?1 AND until > ?3)
                         OR EXISTS (SELECT 1 FROM guest_bans
                                    WHERE kind = 'addr' AND value = ?2 AND until > ?3)",
                )?
                .query_row(params![name_key, addr, now], |r| r.get(0))
            })
            .await
    }
}
