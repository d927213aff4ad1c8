//! The embedded default store: SQLite in WAL mode under the data directory.
//!
//! Writes go through one dedicated writer thread that commits in groups: it takes every append
//! waiting in its queue, inserts them in one transaction and commits it to the WAL, where a
//! crash of this process cannot lose it. With full sync it then fsyncs the WAL; acks wait for
//! that fsync (`wait_durable`). A small group is answered before its fsync, so the hub
//! delivers it meanwhile, and the fsync waits until the hub has delivered it (or at most
//! `SYNC_DEFER_MAX`): on a shared core its I/O wake-ups would otherwise interrupt that very
//! fan-out. A big group is answered after its fsync. Many concurrent senders share one commit,
//! and the async runtime never blocks on disk. Reads use a separate connection (WAL lets them
//! run beside the writer) on Tokio's blocking pool.

use super::client_ids::{ClientIds, CLIENT_ID_WINDOW};
use super::{Appended, History, Journal, Page, StoredAck, StoredMessage};
use crate::error::StoreError;
use crate::util::lock;
use async_trait::async_trait;
use rusqlite::{params, Connection, OpenFlags};
use shared::{ClientMsgId, MessageId, MessageText, Nickname};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Release};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: messages of rooms and direct conversations, keyed by (channel, id).
    "CREATE TABLE messages (
        channel   TEXT    NOT NULL,
        id        INTEGER NOT NULL,
        sender    TEXT    NOT NULL,
        text      TEXT    NOT NULL,
        ts        INTEGER NOT NULL,
        client_id TEXT,
        PRIMARY KEY (channel, id)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX messages_client_id ON messages (sender, client_id)
        WHERE client_id IS NOT NULL;",
    // 2: facts about the database itself; `epoch` names its id space for clients.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO meta (key, value) VALUES ('epoch', lower(hex(randomblob(16))));",
    // 3: appends touch as few pages per group commit as possible.
    //  - Messages live in a rowid table in arrival order, found through a (channel, id) index:
    //    appending to a rowid table fills its last page, where the WITHOUT ROWID B-tree
    //    rebalanced three leaves on every split.
    //  - The idempotency window moves from a unique index over (sender, client_id) (random
    //    keys: one dirty index page per message) to an append-only log, whose newest
    //    CLIENT_ID_WINDOW (200000) entries the writer loads at startup.
    "CREATE TABLE messages_v3 (
        seq       INTEGER PRIMARY KEY,
        channel   TEXT    NOT NULL,
        id        INTEGER NOT NULL,
        sender    TEXT    NOT NULL,
        text      TEXT    NOT NULL,
        ts        INTEGER NOT NULL,
        client_id TEXT
    );
    INSERT INTO messages_v3 (channel, id, sender, text, ts, client_id)
        SELECT channel, id, sender, text, ts, client_id FROM messages ORDER BY ts, channel, id;
    DROP TABLE messages;
    ALTER TABLE messages_v3 RENAME TO messages;
    CREATE UNIQUE INDEX messages_channel_id ON messages (channel, id);
    CREATE TABLE sends (
        seq       INTEGER PRIMARY KEY,
        sender    TEXT    NOT NULL,
        client_id TEXT    NOT NULL,
        channel   TEXT    NOT NULL,
        id        INTEGER NOT NULL,
        ts        INTEGER NOT NULL
    );
    INSERT INTO sends (sender, client_id, channel, id, ts)
        SELECT sender, client_id, channel, id, ts FROM (
            SELECT seq, sender, client_id, channel, id, ts FROM messages
            WHERE client_id IS NOT NULL ORDER BY seq DESC LIMIT 200000)
        ORDER BY seq;",
    // 4: the idempotency window is loaded from the messages themselves (their client_id
    //    column, newest first by seq): one insert per message instead of two. Client ids of
    //    messages that retention deleted are no longer remembered across a restart.
    "DROP TABLE sends;",
];

/// Largest group committed at once.
const MAX_GROUP: usize = 4096;

/// How long a busy writer waits for the rest of a group (see `writer`).
const GATHER_WAIT: Duration = Duration::from_micros(200);

/// Groups up to this size are answered (and so delivered) before their fsync; bigger ones
/// after it, together with their acks.
const EARLY_ANSWER_MAX: usize = 8;
/// Longest an fsync of early-answered groups waits for the hub to deliver them (see `writer`).
const SYNC_DEFER_MAX: Duration = Duration::from_millis(20);
/// How often the writer applies retention.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// How long history is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Messages kept per room or conversation (0: no cap).
    pub per_channel: u64,
    /// Messages older than this are deleted (None: kept forever).
    pub max_age: Option<Duration>,
}

struct Append {
    msg: StoredMessage,
    /// The outcome, and the message back: it is freed where it was allocated (the runtime),
    /// which keeps the allocator's per-thread caches warm on both sides.
    /// With the number of the group that committed it (what `wait_durable` waits for).
    done: oneshot::Sender<(Result<Appended, StoreError>, StoredMessage, u64)>,
}

enum Op {
    Append(Append),
    Flush(oneshot::Sender<()>),
}

/// The writer's inbox. Appends only wake the writer when it sleeps with nothing to do: while
/// it commits (an fsync, mostly), what arrives piles up here and becomes the next group.
#[derive(Default)]
struct Inbox {
    state: Mutex<InboxState>,
    wake: Condvar,
    /// The writer has put off an fsync until the hub's deliveries are done (see `writer`).
    wants_idle: AtomicBool,
}

#[derive(Default)]
struct InboxState {
    ops: Vec<Op>,
    /// The writer waits on `wake`.
    sleeping: bool,
    closed: bool,
    /// The hub went idle since the writer last asked (`expect_idle`).
    idle: bool,
}

impl Inbox {
    fn send(&self, op: Op) -> Result<(), StoreError> {
        let mut st = lock(&self.state);
        if st.closed {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        st.ops.push(op);
        if st.sleeping {
            st.sleeping = false;
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Everything queued, waiting for something first; `None` once closed and empty.
    fn take(&self, into: &mut Vec<Op>) -> Option<()> {
        let mut st = lock(&self.state);
        while st.ops.is_empty() {
            if st.closed {
                return None;
            }
            st.sleeping = true;
            st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        std::mem::swap(into, &mut st.ops);
        Some(())
    }

    /// `take`, but waiting only until `deadline` or until the hub goes idle; whatever is
    /// queued then (perhaps nothing). `None` once closed and empty.
    fn take_until(&self, into: &mut Vec<Op>, deadline: Instant) -> Option<()> {
        let mut st = lock(&self.state);
        while st.ops.is_empty() && !st.idle {
            if st.closed {
                return None;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            st.sleeping = true;
            st = self
                .wake
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            st.sleeping = false;
        }
        std::mem::swap(into, &mut st.ops);
        Some(())
    }

    /// Adds whatever is queued to `into`, without waiting.
    fn take_queued(&self, into: &mut Vec<Op>) {
        into.append(&mut lock(&self.state).ops);
    }

    /// From now on, `idle` reports whether the hub went idle.
    fn expect_idle(&self) {
        lock(&self.state).idle = false;
        self.wants_idle.store(true, Release);
    }

    fn no_idle_wanted(&self) {
        self.wants_idle.store(false, Release);
    }

    /// Whether the hub went idle since `expect_idle`.
    fn idle(&self) -> bool {
        lock(&self.state).idle
    }

    /// The hub's deliveries are done: wakes a writer that waits for that.
    fn hub_idle(&self) {
        if !self.wants_idle.swap(false, AcqRel) {
            return;
        }
        let mut st = lock(&self.state);
        st.idle = true;
        if st.sleeping {
            st.sleeping = false;
            self.wake.notify_one();
        }
    }

    fn close(&self) {
        let mut st = lock(&self.state);
        st.closed = true;
        self.wake.notify_one();
    }
}

pub struct SqliteStore {
    epoch: String,
    inbox: Arc<Inbox>,
    sync: Arc<SyncState>,
    reader: Arc<Mutex<Connection>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// How far the writer's fsyncs have got. Groups are numbered as they are committed to the WAL
/// (where a crash of this process cannot lose them); each append is answered with its group's
/// number, and `synced` is the last group on disk.
struct SyncState {
    synced: tokio::sync::watch::Sender<u64>,
    /// An fsync failed: nothing is durable any more (`synced` is then `u64::MAX`).
    failed: std::sync::atomic::AtomicBool,
}

fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
    Ok(conn)
}

/// Brings the schema up to date, refusing databases this version does not understand.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let corrupt = |e: rusqlite::Error| {
        StoreError::Corrupt(format!(
            "{} is not a readable chat database: {e}",
            path.display()
        ))
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(corrupt)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Corrupt(format!(
            "{} has schema version {version}, newer than this server's {known}; refusing to touch it",
            path.display()
        )));
    }
    if version == 0 {
        // A database without our schema must be empty: never adopt someone else's file.
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(corrupt)?;
        if tables > 0 {
            return Err(StoreError::Corrupt(format!(
                "{} holds tables but no chat schema version; refusing to touch it",
                path.display()
            )));
        }
        // A new database: bigger pages, fewer WAL frames (and writes) per group commit.
        conn.pragma_update(None, "page_size", 16384).map_err(err)?;
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(err)?;
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) `<data_dir>/chat.db`. A missing directory is created; a directory
    /// that cannot be used or a database that is not ours is a clear error, never overwritten.
    pub fn open(
        data_dir: &Path,
        retention: Retention,
        sync_full: bool,
    ) -> Result<Self, StoreError> {
        Self::open_with(data_dir, retention, sync_full, SYNC_DEFER_MAX)
    }

    /// `open`, with the longest an early answer's fsync waits for the hub (`SYNC_DEFER_MAX`).
    pub(crate) fn open_with(
        data_dir: &Path,
        retention: Retention,
        sync_full: bool,
        sync_defer_max: Duration,
    ) -> Result<Self, StoreError> {
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
        let path: PathBuf = data_dir.join("chat.db");
        let mut wconn = open_conn(&path)?;
        migrate(&mut wconn, &path)?;
        wconn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        wconn
            // Commits land in the WAL without an fsync; with `sync_full` the writer fsyncs the
            // WAL after each commit itself (what FULL would do): after answering a small group,
            // before answering a big one (see `writer`).
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        let epoch: String = wconn
            .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
                r.get(0)
            })
            .map_err(err)?;
        let ids = load_client_ids(&wconn).map_err(err)?;
        let reader = open_conn(&path)?;
        reader
            .pragma_update(None, "query_only", true)
            .map_err(err)?;

        let inbox = Arc::new(Inbox::default());
        let sync = Arc::new(SyncState {
            synced: tokio::sync::watch::Sender::new(0),
            failed: Default::default(),
        });
        let wal = sync_full.then(|| Wal::new(&path));
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn({
                let (inbox, sync) = (inbox.clone(), sync.clone());
                move || writer(wconn, &inbox, &sync, wal, retention, ids, sync_defer_max)
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        Ok(SqliteStore {
            epoch,
            inbox,
            sync,
            reader: Arc::new(Mutex::new(reader)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, op: Op) -> Result<(), StoreError> {
        self.inbox.send(op)
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().unwrap_or_else(|e| e.into_inner());
            f(&conn).map_err(err)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("reader task failed: {e}")))?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Closing the inbox ends the writer after it commits what it holds.
        self.inbox.close();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// The client ids of the newest `CLIENT_ID_WINDOW` messages that have one, oldest first, as
/// the writer's idempotency window.
fn load_client_ids(conn: &Connection) -> rusqlite::Result<ClientIds> {
    let mut rows: Vec<(String, String, StoredAck)> = conn
        .prepare(
            "SELECT sender, client_id, channel, id, ts FROM messages
             WHERE client_id IS NOT NULL ORDER BY seq DESC LIMIT ?1",
        )?
        .query_map([CLIENT_ID_WINDOW as i64], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                StoredAck {
                    channel: r.get(2)?,
                    id: r.get::<_, i64>(3)? as MessageId,
                    ts: r.get(4)?,
                },
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.reverse();
    let mut ids = ClientIds::new(CLIENT_ID_WINDOW);
    let mut unreadable = 0;
    for (sender, cid, ack) in rows {
        match (Nickname::new(sender), ClientMsgId::new(cid)) {
            (Ok(sender), Ok(cid)) => {
                ids.insert(sender, cid, ack);
            }
            _ => unreadable += 1,
        }
    }
    if unreadable > 0 {
        tracing::warn!(
            unreadable,
            "skipped unreadable entries of the idempotency window"
        );
    }
    Ok(ids)
}

/// The WAL file, fsynced by the writer after each commit (full sync).
struct Wal {
    path: PathBuf,
    dir: PathBuf,
    file: Option<std::fs::File>,
}

impl Wal {
    fn new(db: &Path) -> Wal {
        let mut name = db.as_os_str().to_owned();
        name.push("-wal");
        Wal {
            path: PathBuf::from(name),
            dir: db
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            file: None,
        }
    }

    /// fdatasync of the WAL (and, the first time, of the directory that holds it).
    fn sync(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            let f = std::fs::File::open(&self.path)?;
            std::fs::File::open(&self.dir)?.sync_all()?;
            self.file = Some(f);
        }
        match &self.file {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }
}

fn writer(
    mut conn: Connection,
    inbox: &Inbox,
    sync: &SyncState,
    mut wal: Option<Wal>,
    retention: Retention,
    mut ids: ClientIds,
    sync_defer_max: Duration,
) {
    let mut last_prune = Instant::now();
    let mut written = 0u64;
    let mut ops: Vec<Op> = Vec::new();
    let mut group: Vec<Append> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    let mut later: Vec<Answer> = Vec::new();
    // No waiting to gather: senders do not wait for their commit before sending more, so
    // whatever arrives while one commit runs forms the next group by itself. A lone message
    // is committed at once.
    let mut last_group = 0;
    // Groups answered early and not yet fsynced: their fsync waits until the hub has
    // delivered them, or until this deadline.
    let mut deferred: Option<Instant> = None;
    // Some of those groups hold stored messages, which the hub delivers.
    let mut deliverable = false;
    loop {
        let got = match deferred {
            None => inbox.take(&mut ops),
            Some(deadline) => inbox.take_until(&mut ops, deadline),
        };
        if got.is_none() {
            break;
        }
        if last_group > EARLY_ANSWER_MAX && ops.len() < last_group {
            // Busy: the senders of the last group are sending again, one by one as their acks
            // reach them. A moment's wait lets them form one group again, and one fsync
            // (a fixed cost, whatever it covers) serves them all.
            std::thread::sleep(GATHER_WAIT);
            inbox.take_queued(&mut ops);
        }
        if !ops.is_empty() {
            last_group = ops.len();
        }
        let mut ops = ops.drain(..).peekable();
        while ops.peek().is_some() {
            for op in ops.by_ref() {
                match op {
                    Op::Append(a) => group.push(a),
                    Op::Flush(f) => flushes.push(f),
                }
                if group.len() >= MAX_GROUP {
                    break;
                }
            }
            if group.is_empty() {
                continue;
            }
            written += 1;
            // A small group (the store is not busy) is answered now, so the hub delivers it
            // before the fsync, and acks after it. A big one (the store is busy) is answered
            // after the fsync: its acks are then ready with the answer, one wake-up per send
            // instead of two, which is what a busy store's throughput needs.
            let now = wal.is_none() || group.len() <= EARLY_ANSWER_MAX;
            commit_group(&mut conn, &mut group, written, &mut ids, &mut answers);
            if now {
                // Only a stored message has deliveries to wait for (a resend of a stored
                // one, or a failed group, has none: the hub would not go idle for it).
                if wal.is_some() && answers.iter().any(|a| matches!(a.1, Ok(Appended::Stored))) {
                    inbox.expect_idle();
                    deliverable = true;
                }
                answer(&mut answers);
            } else {
                later.append(&mut answers);
            }
        }
        drop(ops);
        if deliverable && later.is_empty() && flushes.is_empty() && written > synced(sync) {
            // Only early answers wait for this fsync. On a shared core its I/O wake-ups would
            // interrupt the fan-out of the very messages just answered: it waits until the hub
            // has delivered them (it goes idle) or, when the hub stays busy, for
            // `sync_defer_max`. The acks wait for it either way.
            let deadline = *deferred.get_or_insert_with(|| Instant::now() + sync_defer_max);
            if !inbox.idle() && Instant::now() < deadline {
                continue;
            }
        }
        deferred = None;
        deliverable = false;
        inbox.no_idle_wanted();
        if !sync_and_publish(&mut wal, written, inbox, sync) {
            return;
        }
        answer(&mut later);
        for f in flushes.drain(..) {
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
            let _ = f.send(());
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            if let Err(e) = prune(&conn, retention) {
                tracing::warn!(cause = %e, "retention pass failed");
            }
        }
    }
    if written > synced(sync) && !sync_and_publish(&mut wal, written, inbox, sync) {
        return;
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

/// The last group on disk.
fn synced(sync: &SyncState) -> u64 {
    *sync.synced.borrow()
}

/// fsyncs the WAL (with full sync) and publishes `written` as durable. False when the fsync
/// failed: the store has stopped.
fn sync_and_publish(wal: &mut Option<Wal>, written: u64, inbox: &Inbox, sync: &SyncState) -> bool {
    if let Some(w) = wal {
        if let Err(e) = w.sync() {
            // Pages that failed to reach the disk may be gone from the cache too: nothing
            // written from here on can be called durable. Stop; waiters get an error.
            tracing::error!(cause = %e, "fsync of the WAL failed; the store stops");
            inbox.close();
            sync.failed
                .store(true, std::sync::atomic::Ordering::Release);
            sync.synced.send_replace(u64::MAX);
            return false;
        }
    }
    sync.synced.send_replace(written);
    true
}

/// An append's outcome, ready to be sent to the one waiting for it.
type Answer = (
    oneshot::Sender<(Result<Appended, StoreError>, StoredMessage, u64)>,
    Result<Appended, StoreError>,
    StoredMessage,
    u64,
);

fn answer(answers: &mut Vec<Answer>) {
    for (done, outcome, msg, mark) in answers.drain(..) {
        let _ = done.send((outcome, msg, mark));
    }
}

/// Commits `group` (number `mark`) in one transaction and adds each append's outcome to
/// `answers`.
fn commit_group(
    conn: &mut Connection,
    group: &mut Vec<Append>,
    mark: u64,
    ids: &mut ClientIds,
    answers: &mut Vec<Answer>,
) {
    if group.is_empty() {
        return;
    }
    let mut remembered = 0;
    let result = commit(conn, group, ids, &mut remembered);
    if result.is_err() {
        // Nothing of the group was stored: its client ids must not look stored either.
        ids.forget_newest(remembered);
    }
    match result {
        Ok(outcomes) => {
            answers.extend(
                group
                    .drain(..)
                    .zip(outcomes)
                    .map(|(a, o)| (a.done, Ok(o), a.msg, mark)),
            );
        }
        Err(e) => {
            tracing::error!(cause = %e, "group commit failed");
            answers.extend(
                group
                    .drain(..)
                    .map(|a| (a.done, Err(StoreError::Unavailable(e.clone())), a.msg, mark)),
            );
        }
    }
}

/// Inserts a group in one transaction. A message whose sender already stored its client id
/// (within the window) is not inserted; its outcome names the original. Client ids the group
/// adds to `ids` are counted in `remembered`.
fn commit(
    conn: &mut Connection,
    group: &[Append],
    ids: &mut ClientIds,
    remembered: &mut usize,
) -> Result<Vec<Appended>, String> {
    let e = |e: rusqlite::Error| e.to_string();
    let tx = conn.transaction().map_err(e)?;
    let mut outcomes = Vec::with_capacity(group.len());
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO messages (channel, id, sender, text, ts, client_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .map_err(e)?;
        for a in group {
            let m = &a.msg;
            if let Some(cid) = &m.client_id {
                let ack = StoredAck {
                    channel: m.channel.clone(),
                    id: m.id,
                    ts: m.ts,
                };
                if let Some(original) = ids.remember(m.sender.clone(), cid.clone(), ack) {
                    outcomes.push(Appended::Duplicate(original));
                    continue;
                }
                // Counted before the insert: if it fails, the group is forgotten whole.
                *remembered += 1;
            }
            insert
                .execute(params![
                    m.channel,
                    m.id as i64,
                    m.sender.as_str(),
                    m.text.as_str(),
                    m.ts,
                    m.client_id.as_ref().map(|c| c.as_str())
                ])
                .map_err(e)?;
            outcomes.push(Appended::Stored);
        }
    }
    tx.commit().map_err(e)?;
    Ok(outcomes)
}

/// Applies retention: the per-channel cap and the age limit. Returns how many messages were
/// deleted.
pub fn prune(conn: &Connection, retention: Retention) -> rusqlite::Result<usize> {
    let mut deleted = 0;
    if let Some(age) = retention.max_age {
        let cutoff = crate::util::now_ms() - age.as_millis() as i64;
        deleted += conn.execute("DELETE FROM messages WHERE ts < ?1", [cutoff])?;
    }
    if retention.per_channel > 0 {
        let channels: Vec<String> = conn
            .prepare("SELECT channel FROM messages GROUP BY channel HAVING count(*) > ?1")?
            .query_map([retention.per_channel as i64], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for ch in channels {
            deleted += conn.execute(
                "DELETE FROM messages WHERE channel = ?1 AND id <= (
                    SELECT id FROM messages WHERE channel = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                params![ch, retention.per_channel as i64],
            )?;
        }
    }
    Ok(deleted)
}

fn row_to_message(channel: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredMessage> {
    let bad = |i: usize, e: shared::ValidationError| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let id: i64 = r.get(0)?;
    let sender: String = r.get(1)?;
    let text: String = r.get(2)?;
    let client_id: Option<String> = r.get(4)?;
    Ok(StoredMessage {
        channel: channel.to_string(),
        id: id as MessageId,
        sender: Nickname::new(sender).map_err(|e| bad(1, e))?,
        text: MessageText::new(text).map_err(|e| bad(2, e))?,
        ts: r.get(3)?,
        client_id: client_id
            .map(ClientMsgId::new)
            .transpose()
            .map_err(|e| bad(4, e))?,
    })
}

#[async_trait]
impl History for SqliteStore {
    async fn last_id(&self, channel: &str) -> Result<MessageId, StoreError> {
        let channel = channel.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT max(id) FROM messages WHERE channel = ?1")?
                .query_row([channel], |r| r.get::<_, Option<i64>>(0))
                .map(|v| v.unwrap_or(0) as MessageId)
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
                "SELECT id, sender, text, ts, client_id FROM messages
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
                "SELECT id, sender, text, ts, client_id FROM messages
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
        let (done, rx) = oneshot::channel();
        self.send(Op::Append(Append { msg, done }))?;
        let (outcome, _msg, mark) = rx
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?;
        outcome.map(|a| (a, mark))
    }

    async fn wait_durable(&self, mark: u64) -> Result<(), StoreError> {
        let stopped = || StoreError::Unavailable("the writer stopped".into());
        let failed = || self.sync.failed.load(std::sync::atomic::Ordering::Acquire);
        // The common case, already on disk: no subscription.
        if *self.sync.synced.borrow() >= mark {
            return if failed() { Err(stopped()) } else { Ok(()) };
        }
        let mut rx = self.sync.synced.subscribe();
        rx.wait_for(|synced| *synced >= mark)
            .await
            .map_err(|_| stopped())?;
        if failed() {
            return Err(stopped());
        }
        Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(channel: &str, id: u64, cid: Option<&str>) -> StoredMessage {
        StoredMessage {
            channel: channel.into(),
            id,
            sender: Nickname::new("a").expect("nick"),
            text: MessageText::new(format!("m{id}")).expect("text"),
            ts: crate::util::now_ms(),
            client_id: cid.map(|c| ClientMsgId::new(c).expect("cid")),
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("chat-sqlite-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    const KEEP: Retention = Retention {
        per_channel: 0,
        max_age: None,
    };

    #[tokio::test]
    async fn persists_pages_and_client_ids_across_reopen() {
        let dir = tmpdir("reopen");
        {
            let s = SqliteStore::open(&dir, KEEP, true).expect("open");
            for id in 1..=10 {
                s.append(msg("general", id, Some(&format!("c{id}"))))
                    .await
                    .expect("append");
            }
            s.append(msg("dm:a:b", 1, None)).await.expect("append");
        }
        let epoch = SqliteStore::open(&dir, KEEP, true).expect("reopen").epoch();
        let s = SqliteStore::open(&dir, KEEP, true).expect("reopen");
        assert_eq!(s.epoch(), epoch, "the epoch is stored with the history");
        assert_eq!(epoch.len(), 32);
        assert_eq!(s.last_id("general").await.expect("last"), 10);
        assert_eq!(s.last_id("nowhere").await.expect("last"), 0);
        let p = s.before("general", 11, 3).await.expect("page");
        assert_eq!(
            p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        assert!(p.has_more);
        let p = s.after("general", 7, 9, 10).await.expect("page");
        assert_eq!(
            p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![8, 9]
        );
        assert!(!p.has_more);
        // A resend of client id c4, even under another id and channel, is recognised.
        match s
            .append(msg("other", 99, Some("c4")))
            .await
            .expect("append")
        {
            Appended::Duplicate(a) => assert_eq!((a.channel.as_str(), a.id), ("general", 4)),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.last_id("other").await.expect("last"), 0);
    }

    #[tokio::test]
    async fn concurrent_appends_share_commits() {
        let dir = tmpdir("group");
        let s = Arc::new(SqliteStore::open(&dir, KEEP, true).expect("open"));
        let mut tasks = Vec::new();
        for ch in 0..20 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                for id in 1..=20 {
                    s.append(msg(&format!("room{ch}"), id, None))
                        .await
                        .expect("append");
                }
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        for ch in 0..20 {
            assert_eq!(s.last_id(&format!("room{ch}")).await.expect("last"), 20);
        }
    }

    #[tokio::test]
    async fn an_append_is_written_before_it_is_fsynced_and_the_mark_says_when() {
        for full in [true, false] {
            let dir = tmpdir(&format!("durable-{full}"));
            let s = SqliteStore::open(&dir, KEEP, full).expect("open");
            let mut last = 0;
            for id in 1..=3 {
                let (stored, mark) = s
                    .append_marked(msg("general", id, None))
                    .await
                    .expect("append");
                assert!(matches!(stored, Appended::Stored));
                assert!(
                    mark > last,
                    "each group gets the next number: {mark} after {last}"
                );
                last = mark;
                tokio::time::timeout(Duration::from_secs(10), s.wait_durable(mark))
                    .await
                    .expect("the fsync follows")
                    .expect("durable");
            }
            // Committed, so readable (the reader is another connection) as soon as answered.
            let page = s.after("general", 0, 10, 10).await.expect("read");
            assert_eq!(page.messages.len(), 3);
            drop(s);
            let wal = Wal::new(&dir.join("chat.db"));
            assert!(wal.path.ends_with("chat.db-wal"));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[tokio::test]
    async fn an_early_answer_is_fsynced_once_the_hub_is_idle_and_its_ack_waits_for_that() {
        let dir = tmpdir("defer");
        let hour = Duration::from_secs(3600);
        let s = SqliteStore::open_with(&dir, KEEP, true, hour).expect("open");
        let (stored, mark) = s
            .append_marked(msg("general", 1, Some("c1")))
            .await
            .expect("append");
        assert!(matches!(stored, Appended::Stored));
        // Answered, so deliverable and readable at once; not durable until the hub is idle.
        assert_eq!(s.last_id("general").await.expect("last"), 1);
        let early = tokio::time::timeout(Duration::from_millis(300), s.wait_durable(mark)).await;
        assert!(early.is_err(), "fsynced before the hub went idle");
        s.deliveries_idle();
        tokio::time::timeout(Duration::from_secs(10), s.wait_durable(mark))
            .await
            .expect("the fsync follows the hub's idle")
            .expect("durable");
        // A resend of a stored client id has nothing to deliver: its fsync does not wait.
        let (dup, mark) = s
            .append_marked(msg("general", 9, Some("c1")))
            .await
            .expect("resend");
        assert!(matches!(dup, Appended::Duplicate(_)));
        tokio::time::timeout(Duration::from_secs(10), s.wait_durable(mark))
            .await
            .expect("a resend's fsync does not wait for the hub")
            .expect("durable");
        // A flush does not wait for the hub: it fsyncs what was put off.
        let (_, mark) = s
            .append_marked(msg("general", 2, None))
            .await
            .expect("append");
        tokio::time::timeout(Duration::from_secs(10), s.flush())
            .await
            .expect("flushed")
            .expect("flush");
        s.wait_durable(mark).await.expect("durable after a flush");
        // Nor does closing: the writer fsyncs what was put off before it exits.
        let (_, mark) = s
            .append_marked(msg("general", 3, None))
            .await
            .expect("append");
        let sync = s.sync.clone();
        drop(s);
        assert!(*sync.synced.borrow() >= mark, "closed without its fsync");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn when_the_hub_never_goes_idle_the_fsync_runs_at_its_deadline() {
        let dir = tmpdir("defer-deadline");
        let s = SqliteStore::open_with(&dir, KEEP, true, Duration::from_millis(50)).expect("open");
        for id in 1..=3 {
            let (_, mark) = s
                .append_marked(msg("general", id, None))
                .await
                .expect("append");
            tokio::time::timeout(Duration::from_secs(10), s.wait_durable(mark))
                .await
                .expect("durable by the deadline, with no word from the hub")
                .expect("durable");
        }
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_new_database_gets_16_kib_pages_and_keeps_them_across_restarts() {
        let dir = tmpdir("page-size");
        let page_size = || {
            let c = Connection::open(dir.join("chat.db")).expect("open");
            c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
                .expect("page_size")
        };
        let s = SqliteStore::open(&dir, KEEP, false).expect("open");
        s.append(msg("general", 1, None)).await.expect("append");
        drop(s);
        assert_eq!(page_size(), 16384);
        let s = SqliteStore::open(&dir, KEEP, false).expect("reopen");
        s.append(msg("general", 2, None)).await.expect("append");
        let page = s.after("general", 0, 10, 10).await.expect("read");
        assert_eq!(page.messages.len(), 2);
        drop(s);
        assert_eq!(page_size(), 16384);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn retention_caps_rooms_and_ages() {
        let dir = tmpdir("retention");
        let s = SqliteStore::open(&dir, KEEP, false).expect("open");
        for id in 1..=10 {
            s.append(msg("general", id, None)).await.expect("append");
        }
        let mut old = msg("old", 1, None);
        old.ts = 1000;
        s.append(old).await.expect("append");
        s.flush().await.expect("flush");
        let conn = open_conn(&dir.join("chat.db")).expect("conn");
        let n = prune(
            &conn,
            Retention {
                per_channel: 4,
                max_age: Some(Duration::from_secs(3600)),
            },
        )
        .expect("prune");
        assert_eq!(n, 7);
        let p = s.before("general", u64::MAX, 100).await.expect("page");
        assert_eq!(
            p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![7, 8, 9, 10]
        );
        assert_eq!(s.last_id("old").await.expect("last"), 0);
    }

    #[tokio::test]
    async fn a_resend_within_one_group_is_a_duplicate() {
        let dir = tmpdir("samegroup");
        let s = SqliteStore::open(&dir, KEEP, true).expect("open");
        let (a, b) = tokio::join!(
            s.append(msg("general", 1, Some("same"))),
            s.append(msg("general", 2, Some("same")))
        );
        let outcomes = [a.expect("append"), b.expect("append")];
        assert_eq!(outcomes[0], Appended::Stored);
        match &outcomes[1] {
            Appended::Duplicate(ack) => assert_eq!(ack.id, 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.last_id("general").await.expect("last"), 1);
    }

    #[tokio::test]
    async fn migrating_a_version_2_database_keeps_its_client_ids() {
        let dir = tmpdir("v2");
        std::fs::create_dir_all(&dir).expect("mkdir");
        {
            let c = Connection::open(dir.join("chat.db")).expect("open");
            c.execute_batch(MIGRATIONS[0]).expect("v1");
            c.execute_batch(MIGRATIONS[1]).expect("v2");
            c.execute_batch(
                "PRAGMA user_version = 2;
                 INSERT INTO messages VALUES ('general', 1, 'a', 'one', 10, 'c1');
                 INSERT INTO messages VALUES ('general', 2, 'a', 'two', 20, NULL);
                 INSERT INTO messages VALUES ('dm:a:b', 1, 'a', 'three', 30, 'c3');",
            )
            .expect("rows");
        }
        let s = SqliteStore::open(&dir, KEEP, true).expect("migrated");
        for (cid, channel, id) in [("c1", "general", 1), ("c3", "dm:a:b", 1)] {
            match s
                .append(msg("general", 9, Some(cid)))
                .await
                .expect("append")
            {
                Appended::Duplicate(a) => assert_eq!((a.channel.as_str(), a.id), (channel, id)),
                other => panic!("{cid}: {other:?}"),
            }
        }
        assert_eq!(
            s.append(msg("general", 3, Some("new")))
                .await
                .expect("append"),
            Appended::Stored
        );
        drop(s);
        let c = Connection::open(dir.join("chat.db")).expect("open");
        let (version, index): (i64, i64) = c
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version),
                        (SELECT count(*) FROM sqlite_master
                         WHERE name IN ('messages_client_id', 'sends'))",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("query");
        assert_eq!((version, index), (MIGRATIONS.len() as i64, 0));
        let s = SqliteStore::open(&dir, KEEP, true).expect("reopen");
        match s
            .append(msg("general", 4, Some("new")))
            .await
            .expect("append")
        {
            Appended::Duplicate(a) => assert_eq!(a.id, 3),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refuses_foreign_or_corrupt_files_without_touching_them() {
        let dir = tmpdir("corrupt");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let db = dir.join("chat.db");
        let garbage = b"this is not a database, and it must stay exactly like this".repeat(100);
        std::fs::write(&db, &garbage).expect("write");
        let e = SqliteStore::open(&dir, KEEP, true).err().expect("refused");
        assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
        assert_eq!(std::fs::read(&db).expect("read"), garbage);

        let dir2 = tmpdir("foreign");
        std::fs::create_dir_all(&dir2).expect("mkdir");
        let c = Connection::open(dir2.join("chat.db")).expect("open");
        c.execute_batch("CREATE TABLE mine (x); INSERT INTO mine VALUES (1);")
            .expect("create");
        drop(c);
        let e = SqliteStore::open(&dir2, KEEP, true).err().expect("refused");
        assert!(e.to_string().contains("refusing"), "{e}");

        let dir3 = tmpdir("newer");
        std::fs::create_dir_all(&dir3).expect("mkdir");
        let c = Connection::open(dir3.join("chat.db")).expect("open");
        c.execute_batch("PRAGMA user_version = 99;")
            .expect("pragma");
        drop(c);
        let e = SqliteStore::open(&dir3, KEEP, true).err().expect("refused");
        assert!(e.to_string().contains("newer"), "{e}");

        let file = tmpdir("notadir");
        std::fs::write(&file, "x").expect("write");
        let e = SqliteStore::open(&file, KEEP, true).err().expect("refused");
        assert!(e.to_string().contains("not a directory"), "{e}");
    }
}
