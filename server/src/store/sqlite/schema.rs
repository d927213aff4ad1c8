//! Opening the database: connections, pragmas, schema migrations.

use crate::error::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many have run.
pub(super) const MIGRATIONS: &[&str] = &[
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
    //    an append fills the table's last page instead of splitting leaves inside a B-tree.
    //  - The idempotency window leaves the unique index over (sender, client_id) (random keys:
    //    one dirty index page per message) for an append-only log, whose newest
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
    //    column, newest first by seq), so an append is one insert. Client ids of messages
    //    that retention deleted are forgotten at a restart.
    "DROP TABLE sends;",
    // 5: the highest id of each channel whose messages retention deleted, all of them: its
    //    ids go on from there (`last_id`).
    "CREATE TABLE emptied (channel TEXT PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;",
    // 6: accounts, their sessions (only a SHA-256 of each token), the accounts whose sessions
    //    were ended (what a running server learns from `server user …`), and each message's
    //    author account (NULL: a guest, as every message before accounts existed).
    "CREATE TABLE accounts (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        name     TEXT    NOT NULL,
        name_key TEXT    NOT NULL UNIQUE,
        phc      TEXT,
        external TEXT    UNIQUE,
        disabled INTEGER NOT NULL DEFAULT 0,
        created  INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        hash      BLOB    PRIMARY KEY,
        account   INTEGER NOT NULL,
        created   INTEGER NOT NULL,
        last_used INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_account ON sessions (account, last_used);
    CREATE TABLE revocations (seq INTEGER PRIMARY KEY, account INTEGER NOT NULL);
    ALTER TABLE messages ADD COLUMN author INTEGER;",
    // 7: edits and deletions (`target`: the message one is about; `flags`: bit 0 edited, bit
    //    1 deleted), mentions (names separated by spaces), and the conversation state: rooms'
    //    rules, each account's conversations with its read mark, bans and mutes per room,
    //    server-wide guest bans (`kind` 'name' or 'addr').
    "ALTER TABLE messages ADD COLUMN target INTEGER;
    ALTER TABLE messages ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE messages ADD COLUMN mentions TEXT;
    CREATE TABLE rooms (
        name        TEXT    PRIMARY KEY,
        invite_only INTEGER NOT NULL,
        owner       INTEGER
    ) WITHOUT ROWID;
    CREATE TABLE conversations (
        account INTEGER NOT NULL,
        channel TEXT    NOT NULL,
        read    INTEGER NOT NULL,
        active  INTEGER NOT NULL,
        PRIMARY KEY (account, channel)
    ) WITHOUT ROWID;
    CREATE INDEX conversations_active ON conversations (account, active);
    CREATE TABLE sanctions (
        room    TEXT    NOT NULL,
        subject TEXT    NOT NULL,
        kind    TEXT    NOT NULL,
        until   INTEGER NOT NULL,
        PRIMARY KEY (room, subject, kind)
    ) WITHOUT ROWID;
    CREATE TABLE guest_bans (
        kind  TEXT    NOT NULL,
        value TEXT    NOT NULL,
        until INTEGER NOT NULL,
        PRIMARY KEY (kind, value)
    ) WITHOUT ROWID;",
    // 8: a user's own mute of one of its conversations (no notifications, not counted).
    "ALTER TABLE conversations ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;",
];

/// How long a connection waits for another's lock.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer connection's page cache.
const WRITER_CACHE_KIB: i64 = 32 * 1024;
/// The page size of a new database (see `migrate`).
const PAGE_SIZE: i64 = 4096;

pub(crate) fn err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

pub(super) fn open_conn(path: &Path) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    Ok(conn)
}

/// The writer's connection: the schema brought up to date, WAL mode.
pub(super) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = open_conn(path)?;
    migrate(&mut conn, path)?;
    wal_mode(&conn)?;
    conn
        // Commits land in the WAL without an fsync; with `sync_full` the writer fsyncs the
        // WAL after each commit itself (what FULL would do): after answering a small group,
        // before answering a big one (see `writer`).
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    // Retention's deletes touch an index page per channel and rows all over the table: with
    // SQLite's default 2 MB cache a step read most of them back from the OS and spilled its
    // own dirty pages.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(err)?;
    // A deleted message's text must leave the files: freed space in a page (the old cell of
    // an updated row, moved cells, freed pages) is zeroed rather than left as it was, and the
    // checkpoint after a deletion (see `rewrite`) leaves none in the WAL. Only this
    // connection writes messages; retention's deletes pay for it by zeroing what they free.
    conn.pragma_update(None, "secure_delete", true)
        .map_err(err)?;
    Ok(conn)
}

/// A connection of its own beside the writer's, or alone on the file (the operator's CLI):
/// the schema brought up to date and WAL mode, as the writer sets them. Beside a running
/// writer both are already so and nothing is written.
pub(crate) fn open_migrated(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = open_conn(path)?;
    migrate(&mut conn, path)?;
    wal_mode(&conn)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(err)?;
    Ok(conn)
}

/// Switches `conn` to WAL mode. On a new file several connections may ask at once, and the
/// switch can answer "database is locked" without waiting out the busy timeout (it needs the
/// file to itself for a moment): it is asked again until the busy timeout has passed.
fn wal_mode(conn: &Connection) -> Result<(), StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Ok(()) => return Ok(()),
            Err(e)
                if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(err(e)),
        }
    }
}

/// A read-only connection beside the writer's (WAL lets it read while the writer commits).
pub(super) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = open_conn(path)?;
    conn.pragma_update(None, "query_only", true).map_err(err)?;
    Ok(conn)
}

/// The name of this database's id space (`History::epoch`).
pub(super) fn epoch(conn: &Connection) -> Result<String, StoreError> {
    conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
        r.get(0)
    })
    .map_err(err)
}

/// Brings the schema up to date, refusing databases this version does not understand.
///
/// Several connections migrate the same file at start (the writer, accounts, conversations,
/// an operator's `server user` beside a running server): each step reads the version and
/// applies the next migration inside one IMMEDIATE transaction, so two of them never run
/// the same step (which failed with "duplicate column name").
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let corrupt = |e: rusqlite::Error| {
        StoreError::Corrupt(format!(
            "{} is not a readable chat database: {e}",
            path.display()
        ))
    };
    let known = MIGRATIONS.len() as i64;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(corrupt)?;
    if version == 0 {
        // A new database: 4 KiB pages (SQLite's default, asked for by name). A message alone
        // in its commit (any light load) writes a table page and an index page to the WAL:
        // 8 KiB to write, checksum and fsync rather than 32 with 16 KiB pages, for the same
        // number of frames (bench/README, "4 KiB pages"). It must be asked before the
        // transaction below reads the file's header; a file that already has pages keeps
        // its size (databases made with 16 KiB pages stay so).
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(err)?;
    }
    loop {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::NotADatabase) => corrupt(e),
                _ => err(e),
            })?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(corrupt)?;
        if version > known {
            return Err(StoreError::Corrupt(format!(
                "{} has schema version {version}, newer than this server's {known}; refusing to touch it",
                path.display()
            )));
        }
        if version == known {
            return Ok(());
        }
        if version == 0 {
            // A database without our schema must be empty: never adopt someone else's file.
            let tables: i64 = tx
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(corrupt)?;
            if tables > 0 {
                return Err(StoreError::Corrupt(format!(
                    "{} holds tables but no chat schema version; refusing to touch it",
                    path.display()
                )));
            }
        }
        tx.execute_batch(MIGRATIONS[version as usize])
            .map_err(err)?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(err)?;
        tx.commit().map_err(err)?;
    }
}
