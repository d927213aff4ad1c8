//! Message storage behind one trait, so the hub does not care where history lives.
//!
//! A *channel* is a room name (`general`) or a direct conversation (`dm:alice:bob`, the two
//! nicknames sorted); room names and nicknames cannot contain `:`, so the two never collide.
//! Ids are assigned by the hub (increasing per channel) before `append`; `append` returns once
//! a crash of this process cannot lose the message (the hub delivers it then), and the hub
//! acks only once `wait_durable` says it is on disk.

mod client_ids;
mod memory;
pub(crate) mod sqlite;

pub use client_ids::CLIENT_ID_WINDOW;
pub use memory::MemoryStore;
pub use sqlite::backup;
pub use sqlite::{Retention, SqliteStore};

use crate::error::StoreError;
use async_trait::async_trait;
use shared::{
    ChatMessage, ClientMsgId, DirectMessage, MessageId, MessageText, Nickname, RoomName, Timestamp,
};
use std::sync::Arc;

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub channel: String,
    pub id: MessageId,
    pub sender: Nickname,
    pub text: MessageText,
    pub ts: Timestamp,
    pub client_id: Option<ClientMsgId>,
    /// The sender's account id (`auth::AccountId`); `None`: a guest (as was every sender
    /// before accounts existed), so a later account of the same name never inherits a guest's
    /// words.
    pub author: Option<u64>,
    /// What an edit or a deletion is about, and what happened to the message since.
    pub meta: Meta,
}

/// A message's relations beyond its text: all default for a plain message as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Set on an edit or a deletion: the message it changes.
    pub target: Option<MessageId>,
    /// An edit, or a message whose text was edited since.
    pub edited: bool,
    /// A deletion, or a deleted message (a tombstone: its text is empty).
    pub deleted: bool,
    /// Users the text mentions, by the names they go by.
    pub mentions: Vec<Nickname>,
}

impl Meta {
    /// The flags column of SQLite (and field of Redis): bit 0 edited, bit 1 deleted.
    pub fn flags(&self) -> i64 {
        i64::from(self.edited) | (i64::from(self.deleted) << 1)
    }

    /// The mentions column: names separated by spaces; `None` for none.
    pub fn mentions_text(&self) -> Option<String> {
        (!self.mentions.is_empty()).then(|| {
            let names: Vec<&str> = self.mentions.iter().map(Nickname::as_str).collect();
            names.join(" ")
        })
    }

    /// Reads the columns back (names that no longer validate are left out).
    pub fn from_columns(target: Option<MessageId>, flags: i64, mentions: Option<&str>) -> Meta {
        Meta {
            target,
            edited: flags & 1 != 0,
            deleted: flags & 2 != 0,
            mentions: mentions
                .map(|m| m.split(' ').filter_map(|n| Nickname::new(n).ok()).collect())
                .unwrap_or_default(),
        }
    }
}

impl StoredMessage {
    /// The room message this is, if the channel is a room.
    pub fn to_chat(&self) -> Option<ChatMessage> {
        Some(ChatMessage {
            id: self.id,
            room: RoomName::new(self.channel.as_str()).ok()?,
            sender: self.sender.clone(),
            text: self.text.clone(),
            ts: self.ts,
            guest: self.author.is_none(),
            target: self.meta.target,
            edited: self.meta.edited,
            deleted: self.meta.deleted,
            mentions: self.meta.mentions.clone(),
        })
    }

    /// The direct message this is, between `from` (the sender) and `to`.
    pub fn to_direct(&self, to: Nickname) -> DirectMessage {
        DirectMessage {
            id: self.id,
            from: self.sender.clone(),
            to,
            text: self.text.clone(),
            ts: self.ts,
            guest: self.author.is_none(),
            target: self.meta.target,
            edited: self.meta.edited,
            deleted: self.meta.deleted,
            mentions: self.meta.mentions.clone(),
        }
    }
}

/// What an edit or a deletion does to the message it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrite {
    /// Its text becomes this, and it is marked edited.
    Edit(MessageText),
    /// Its text, and the text of every edit of it, is erased (a tombstone stays).
    Delete,
}

/// Changing stored messages in place: what every backend does for edits and deletions.
#[async_trait]
pub trait Rewrites: Send + Sync + 'static {
    /// Applies `change` to message `id` of `channel` (a plain message, not an edit or a
    /// deletion); `false`: no such message (or it is deleted already). A deletion leaves no
    /// copy of the erased text in the backend's files: SQLite deletes with `secure_delete`
    /// and then checkpoints the WAL and truncates it; Redis removes the stream entries that
    /// held it.
    async fn rewrite(
        &self,
        channel: &str,
        id: MessageId,
        change: Rewrite,
    ) -> Result<bool, StoreError>;
}

/// What `append` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    Stored,
    /// The sender had already stored a message with this client id: nothing was written, and
    /// this is where the original lives.
    Duplicate(StoredAck),
}

/// Where an earlier send with the same client id was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAck {
    pub id: MessageId,
    pub ts: Timestamp,
}

/// A page of history, oldest first. `has_more`: more messages lie beyond the page in the
/// direction of the query (older for `latest`/`before`, newer for `after`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub messages: Vec<StoredMessage>,
    pub has_more: bool,
}

impl Page {
    /// A page from a query that fetched up to `limit + 1` rows: the extra row only says that
    /// more remain. `newest_first` rows (a descending query) are put back oldest first.
    pub fn from_overfetch(
        mut messages: Vec<StoredMessage>,
        limit: usize,
        newest_first: bool,
    ) -> Page {
        let has_more = messages.len() > limit;
        messages.truncate(limit);
        if newest_first {
            messages.reverse();
        }
        Page { messages, has_more }
    }
}

/// The channel key of a direct conversation between two users.
pub fn dm_channel(a: &Nickname, b: &Nickname) -> String {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    format!("dm:{x}:{y}")
}

/// Reading a history: what every backend serves (SQLite, memory, and Redis streams).
#[async_trait]
pub trait History: Send + Sync + 'static {
    /// The highest id stored in `channel` (0 when empty): the hub continues from there.
    async fn last_id(&self, channel: &str) -> Result<MessageId, StoreError>;
    /// Messages with ids in `(after, upto]`, oldest first, at most `limit`
    /// (`has_more` when more remain up to `upto`).
    async fn after(
        &self,
        channel: &str,
        after: MessageId,
        upto: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError>;
    /// The newest `limit` messages with ids below `before`, oldest first
    /// (`has_more` when older ones remain).
    async fn before(
        &self,
        channel: &str,
        before: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError>;
    /// Names this history: the same across restarts of a durable store, new for each
    /// ephemeral one (clients compare it to tell that ids started over).
    fn epoch(&self) -> String;
}

/// Appending to a history whose ids this node assigns (SQLite, memory). With Redis, ids and
/// appends come from the shared log instead (`crate::broker::SharedLog`).
#[async_trait]
pub trait Journal: Send + Sync + 'static {
    /// Stores one message, unless its sender already stored one with the same client id (an
    /// idempotent resend, possibly from before a restart): then nothing is written. Returns
    /// once the message is where a crash of this process cannot lose it; `wait_durable` then
    /// waits for the disk (power loss).
    async fn append(&self, msg: StoredMessage) -> Result<Appended, StoreError>;
    /// `append`, with the mark `wait_durable` takes to wait for this message's fsync.
    async fn append_marked(&self, msg: StoredMessage) -> Result<(Appended, u64), StoreError> {
        self.append(msg).await.map(|a| (a, 0))
    }
    /// Waits until everything up to `mark` is durable (the SQLite store's fsync, which follows
    /// its commit; other stores are durable when `append` returns).
    async fn wait_durable(&self, _mark: u64) -> Result<(), StoreError> {
        Ok(())
    }
    /// The hub has delivered what it was handed and has nothing on its way: a moment when
    /// work of the store's own (the SQLite store's fsync of groups it answered early) no
    /// longer delays deliveries on a shared core. Called from the runtime; must not block.
    fn deliveries_idle(&self) {}
    /// Makes everything appended durable (called at shutdown).
    async fn flush(&self) -> Result<(), StoreError>;
    /// Whether appends can succeed now (`/readyz`); the error says why not.
    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
    /// Resolves, with the reason, once the store has stopped for good (the SQLite writer after
    /// a failed fsync): nothing will be stored again by this process. Never, by default.
    async fn failed(&self) -> String {
        std::future::pending().await
    }
}

/// A store of one node: all three, over the same messages.
pub trait Store: History + Journal + Rewrites {
    fn history(self: Arc<Self>) -> Arc<dyn History>;
    fn journal(self: Arc<Self>) -> Arc<dyn Journal>;
    fn rewrites(self: Arc<Self>) -> Arc<dyn Rewrites>;
}

impl<T: History + Journal + Rewrites> Store for T {
    fn history(self: Arc<Self>) -> Arc<dyn History> {
        self
    }
    fn journal(self: Arc<Self>) -> Arc<dyn Journal> {
        self
    }
    fn rewrites(self: Arc<Self>) -> Arc<dyn Rewrites> {
        self
    }
}

/// Opens the store the configuration names; a SQLite store records its commit and fsync
/// times in `timings`.
pub async fn open(
    config: &crate::Config,
    timings: &crate::metrics::Timings,
) -> Result<Arc<dyn Store>, StoreError> {
    match config.store {
        crate::config::StoreKind::Memory => Ok(Arc::new(MemoryStore::with_window(
            config.memory_retention,
            config.client_id_window,
        ))),
        crate::config::StoreKind::Sqlite => {
            let retention = Retention {
                per_channel: config.retention_per_room,
                max_age: (config.retention_days > 0)
                    .then(|| std::time::Duration::from_secs(config.retention_days * 86_400)),
                every: std::time::Duration::from_millis(config.retention_interval_ms),
            };
            let dir = config.data_dir.clone();
            let sync_full = config.sqlite_sync_full;
            let waits = sqlite::SyncWaits {
                linger: std::time::Duration::from_millis(config.sqlite_fsync_linger_ms),
                ..Default::default()
            };
            // Opening may create files and run migrations: keep it off the async workers.
            let store = tokio::task::spawn_blocking(move || {
                SqliteStore::open_with(&dir, retention, sync_full, waits)
            })
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))??;
            store.record_timings(timings);
            Ok(Arc::new(store))
        }
    }
}
