//! The embedded default store: SQLite in WAL mode under the data directory.
//!
//! Writes go through one dedicated writer thread that commits in groups: it takes every append
//! waiting in its queue, inserts them in one transaction and commits it to the WAL, where a
//! crash of this process cannot lose it. With full sync it then fsyncs the WAL; acks wait for
//! that fsync (`wait_durable`). A small group is answered before its fsync, so the hub
//! delivers it meanwhile, and the fsync waits until the hub has delivered it (or at most
//! `SYNC_DEFER_MAX`): on a shared core its I/O wake-ups would otherwise interrupt that very
//! fan-out. Then, unless such waits have lately gone unshared (`linger.rs`), it waits up to
//! `SYNC_LINGER` from the commit for more groups to share it: at a light load each message
//! is a group of its own. A big group is answered after its fsync. Many concurrent senders
//! share one commit, and the async runtime never waits for the writer. At a light load, a
//! sender that finds the writer asleep with nothing queued commits its message itself
//! (`committer.rs`), never waiting for a lock or the disk. Reads (a page of history at most) use a
//! read-only connection of their own on the caller's thread when it is free and SQLite answers
//! without waiting (`lookup.rs`), else another on Tokio's blocking pool; WAL lets both run
//! beside the writer.
//!
//! - `dir_lock.rs`: one server per data directory.
//! - `backup.rs`: a consistent copy of the store beside a running server (`server backup`).
//! - `schema.rs`: opening connections, pragmas, migrations.
//! - `inbox.rs`: the writer's inbox (appends, rewrites and flushes on their way to the writer).
//! - `own_thread.rs`: the accounts' and conversations' connection, on a thread of its own.
//! - `lookup.rs`: reads by index on the caller's thread (theirs, and history's here).
//! - `committer.rs`: the writer's connection, and the group commit itself.
//! - `writer.rs`: the writer thread: group commits, answers, fsyncs.
//! - `linger.rs`: whether an fsync waits for more groups to share it.
//! - `rewrite.rs`: edits and deletions, applied by the writer in their turn.
//! - `retention.rs`: deleting what is past the retention limits, a bounded step at a time.
//! - `wal.rs`: the WAL's fsync and the synced mark that `wait_durable` waits for.
//! - `wal_prealloc.rs`: writing the WAL out to its working size at the start.
//! - here: the store itself, its reads and the `History` and `Journal` impls.

pub mod backup;
mod committer;
mod dir_lock;
mod inbox;
mod linger;
mod lookup;
mod own_thread;
mod retention;
mod rewrite;
mod schema;
mod wal;
mod wal_prealloc;
mod writer;

use super::{Appended, History, Journal, Meta, Page, StoredMessage};
use crate::error::StoreError;
use crate::util::lock;
use async_trait::async_trait;
use committer::Committer;
use dir_lock::DirLock;
use inbox::{Append, Inbox, Op};
use lookup::Lookup;
use rusqlite::{params, Connection};
use shared::{ClientMsgId, MessageId, MessageText, Nickname};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use wal::{SyncState, Wal};
pub(crate) use writer::SyncWaits;

pub(crate) use own_thread::OwnThread;
pub(crate) use schema::err;

/// How long history is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Messages kept per room or conversation (0: no cap).
    pub per_channel: u64,
    /// Messages older than this are deleted (None: kept forever).
    pub max_age: Option<Duration>,
    /// How often a retention pass starts.
    pub every: Duration,
}

pub struct SqliteStore {
    epoch: String,
    inbox: Arc<Inbox>,
    sync: Arc<SyncState>,
    /// The writer's connection: its thread commits through it, and so does a sender that
    /// finds it asleep (see `append_marked`).
    committer: Arc<Mutex<Committer>>,
    /// Full sync: acks wait for the WAL's fsync.
    full_sync: bool,
    /// Reads on the caller's thread when it can take them, else `reader` on the blocking pool.
    lookup: Lookup,
    reader: Arc<Mutex<Connection>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Released after the writer has stopped (fields drop after `Drop::drop`).
    _lock: DirLock,
}

impl SqliteStore {
    /// Opens (or creates) `<data_dir>/chat.db`. A missing directory is created; a directory
    /// that cannot be used or a database that is not ours is a clear error, never overwritten.
    pub fn open(
        data_dir: &Path,
        retention: Retention,
        sync_full: bool,
    ) -> Result<Self, StoreError> {
        Self::open_with(data_dir, retention, sync_full, SyncWaits::default())
    }

    /// `open`, with how long an early answer's fsync may wait (`SyncWaits`).
    pub(crate) fn open_with(
        data_dir: &Path,
        retention: Retention,
        sync_full: bool,
        waits: SyncWaits,
    ) -> Result<Self, StoreError> {
        ensure_data_dir(data_dir)?;
        let lock = DirLock::acquire(data_dir)?;
        let path: PathBuf = data_dir.join("chat.db");
        let wconn = schema::open_writer(&path)?;
        let epoch = schema::epoch(&wconn)?;
        let reader = schema::open_reader(&path)?;
        let lookup = Lookup::open(&path)?;
        prealloc_wal(&wconn, &path);
        let committer = Arc::new(Mutex::new(Committer::open(wconn).map_err(err)?));

        let inbox = Arc::new(Inbox::default());
        let sync = Arc::new(SyncState::new());
        let wal = sync_full.then(|| Wal::new(&path));
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let (inbox, sync, committer) = (inbox.clone(), sync.clone(), committer.clone());
                move || writer::run(&committer, &inbox, &sync, wal, retention, waits)
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            epoch,
            inbox,
            sync,
            committer,
            full_sync: sync_full,
            lookup,
            reader: Arc::new(Mutex::new(reader)),
            thread: Mutex::new(Some(thread)),
            _lock: lock,
        })
    }

    /// Has the writer record how long its group commits and fsyncs take in `timings`.
    pub fn record_timings(&self, timings: &crate::metrics::Timings) {
        self.sync.record_timings(timings);
    }

    fn send(&self, op: Op) -> Result<(), StoreError> {
        self.inbox.send(op)
    }

    /// A read of a page at most (by index: a room's latest messages, or those after an id):
    /// on the caller's thread when [`Lookup`] can take it, which costs less than the hop to the
    /// blocking pool and back (a reconnecting client resumes with one); else on the pool.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        if let Some(answer) = self.lookup.now(&f) {
            return answer;
        }
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = lock(&reader);
            f(&conn).map_err(err)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("reader task failed: {e}")))?
    }
}

/// Writes the WAL of `db` out to its working size (see `wal_prealloc`). Without it the store
/// works as well, only its first commits cost more: a failure is logged.
fn prealloc_wal(conn: &Connection, db: &Path) {
    let wal = Wal::new(db).path;
    let done = wal_prealloc::working_size(conn)
        .map_err(|e| e.to_string())
        .and_then(|size| wal_prealloc::extend(&wal, size).map_err(|e| e.to_string()));
    match done {
        Ok(added) => tracing::debug!(added, "WAL written out to its working size"),
        Err(cause) => tracing::warn!(%cause, wal = %wal.display(), "cannot write the WAL out"),
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the inbox ends the writer after it commits what it holds.
        self.inbox.close();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

/// Creates `data_dir` if missing; an existing file of that name is an error, never replaced.
pub(crate) fn ensure_data_dir(data_dir: &Path) -> Result<(), StoreError> {
    if data_dir.exists() && !data_dir.is_dir() {
        return Err(StoreError::Unavailable(format!(
            "data directory {} exists and is not a directory",
            data_dir.display()
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot create data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    Ok(())
}

fn row_to_message(channel: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    let bad = |i: usize, e: shared::ValidationError| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let id: i64 = r.get(0)?;
    let sender: String = r.get(1)?;
    let text: String = r.get(2)?;
    let client_id: Option<String> = r.get(4)?;
    let target = r.get::<_, Option<i64>>(6)?.map(|t| t as MessageId);
    let meta = Meta::from_columns(target, r.get(7)?, r.get::<_, Option<String>>(8)?.as_deref());
    // Empty text is what a deletion left: of the message (a tombstone), of a deletion, or of
    // an edit of a deleted message.
    let text = if text.is_empty() && (meta.deleted || meta.target.is_some()) {
        MessageText::tombstone()
    } else {
        MessageText::new(text).map_err(|e| bad(2, e))?
    };
    Ok(StoredMessage {
        channel: channel.to_string(),
        id: id as MessageId,
        sender: Nickname::new(sender).map_err(|e| bad(1, e))?,
        text,
        ts: r.get(3)?,
        client_id: client_id
            .map(ClientMsgId::new)
            .transpose()
            .map_err(|e| bad(4, e))?,
        author: r.get::<_, Option<i64>>(5)?.map(|a| a as u64),
        meta,
    })
}

#[async_trait]
impl History for SqliteStore {
    async fn last_id(&self, channel: &str) -> Result<MessageId, StoreError> {
        let channel = channel.to_string();
        self.read(move |c| {
            // A channel that retention emptied goes on from its last id.
            c.prepare_cached(
                "SELECT max(coalesce((SELECT max(id) FROM messages WHERE channel = ?1), 0),
                            coalesce((SELECT last_id FROM emptied WHERE channel = ?1), 0))",
            )?
            .query_row([&channel], |r| r.get::<_, i64>(0))
            .map(|v| v as MessageId)
        })
        .await
    }

    async fn after(
        &self,
        channel: &str,
        after: MessageId,
        upto: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let channel = channel.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, sender, text, ts, client_id, author, target, flags, mentions
                 FROM messages
                 WHERE channel = ?1 AND id > ?2 AND id <= ?3 ORDER BY id ASC LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![
                    channel,
                    after as i64,
                    upto.min(i64::MAX as u64) as i64,
                    limit as i64 + 1
                ],
                |r| row_to_message(&channel, r),
            )?;
            let messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page::from_overfetch(messages, limit, false))
        })
        .await
    }

    async fn before(
        &self,
        channel: &str,
        before: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let channel = channel.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, sender, text, ts, client_id, author, target, flags, mentions
                 FROM messages
                 WHERE channel = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![
                    channel,
                    before.min(i64::MAX as u64) as i64,
                    limit as i64 + 1
                ],
                |r| row_to_message(&channel, r),
            )?;
            let messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Page::from_overfetch(messages, limit, true))
        })
        .await
    }

    fn epoch(&self) -> String {
        self.epoch.clone()
    }
}

#[async_trait]
impl Journal for SqliteStore {
    async fn append(&self, msg: StoredMessage) -> Result<Appended, StoreError> {
        self.append_marked(msg).await.map(|(a, _)| a)
    }

    async fn append_marked(&self, msg: StoredMessage) -> Result<(Appended, u64), StoreError> {
        if self.inbox.claim() {
            // The writer sleeps with nothing queued: committed here, before the first await,
            // so the hub delivers it at once. The writer fsyncs it in its turn.
            let began = std::time::Instant::now();
            // Taken only if free: the writer, woken meanwhile, may hold it through an fsync.
            let committed = match self.committer.try_lock() {
                Ok(mut c) => c.try_one(&msg),
                Err(_) => None,
            };
            if let Some((outcome, mark)) = committed {
                self.sync.timed(|t| &t.store_commit, began);
                let stored = matches!(outcome, Ok(Appended::Stored));
                self.inbox.inlined(self.full_sync && stored);
                return outcome.map(|a| (a, mark));
            }
            // The writer woke, or another connection writes: the writer waits, not this thread.
        }
        let (done, rx) = oneshot::channel();
        self.send(Op::Append(Append { msg, done }))?;
        let (outcome, _msg, mark) = rx
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?;
        outcome.map(|a| (a, mark))
    }

    async fn wait_durable(&self, mark: u64) -> Result<(), StoreError> {
        self.sync.wait_durable(mark).await
    }

    fn deliveries_idle(&self) {
        self.inbox.hub_idle();
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Flush(tx))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))
    }

    async fn ready(&self) -> Result<(), String> {
        match self.sync.stopped_reason() {
            Some(reason) => Err(format!("the store has stopped: {reason}")),
            None => Ok(()),
        }
    }

    async fn failed(&self) -> String {
        self.sync.stopped().await
    }
}

#[cfg(test)]
mod inline_tests;
#[cfg(test)]
mod linger_tests;
#[cfg(test)]
mod rewrite_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wal_prealloc_tests;
