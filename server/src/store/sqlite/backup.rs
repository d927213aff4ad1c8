//! An online copy of the store: `server backup PATH` beside a running server.
//!
//! Everything the server keeps in SQLite is in one database, `chat.db` (messages, accounts,
//! sessions, rooms' rules, conversations, bans); `chat.lock` only names the running server and
//! `chat.db-wal`/`-shm` are part of `chat.db` while it is open. So one snapshot of `chat.db`
//! is a consistent copy of all of it.
//!
//! The copy is made with `VACUUM INTO` rather than the online backup API. Both read one
//! snapshot in WAL mode without stopping the writer, but the backup API copies page by page
//! and restarts whenever another process's connection writes the source between its steps,
//! so beside a busy server it would have to copy everything in a single step anyway; `VACUUM
//! INTO` is that single read transaction, leaves free pages out (a deleted message's zeroed
//! pages are not carried along) and needs no extra feature of `rusqlite`.
//!
//! The copy is written to `PATH.partial` beside `PATH`, fsynced and renamed into place, so
//! `PATH` never holds half a copy. An existing `PATH` is never replaced.
//!
//! The copy gets a new `epoch`: a server restored from it hands out again the ids given after
//! the backup (to other messages), so clients that saw those must drop what they hold and
//! rejoin, which a changed epoch tells them.

use super::schema::{err, BUSY_TIMEOUT};
use crate::error::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The file the store keeps under the data directory.
pub const STORE_FILE: &str = "chat.db";

/// What a backup copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The store that was copied.
    pub source: PathBuf,
    pub messages: u64,
    pub accounts: u64,
    /// The size of the copy.
    pub bytes: u64,
}

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} exists; a backup never replaces a file (remove it, or pick another path)")]
    Exists(PathBuf),
    #[error("no SQLite store at {0} (is --data-dir right?)")]
    NoStore(PathBuf),
    #[error("{0}: the path is not UTF-8, which SQLite needs")]
    NotUtf8(PathBuf),
    #[error("writing {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Copies the store under `data_dir` to `dest`, a file that must not exist yet.
pub fn backup(data_dir: &Path, dest: &Path) -> Result<Copied, BackupError> {
    let source = data_dir.join(STORE_FILE);
    if !source.is_file() {
        return Err(BackupError::NoStore(source));
    }
    if dest.exists() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    let mut partial = dest.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let partial_str = partial
        .to_str()
        .ok_or_else(|| BackupError::NotUtf8(partial.clone()))?;
    // Created empty here (VACUUM INTO accepts an empty file), so two backups to one path
    // cannot both write it.
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |cause| BackupError::Write { path, cause }
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::Exists(partial.clone()),
            _ => write_err(&partial)(e),
        })?;
    let copied = copy(&source, &partial, partial_str).and_then(|copied| {
        publish(&partial, dest)?;
        Ok(copied)
    });
    if copied.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    copied
}

/// The snapshot of `source` in `partial`, with a new epoch, on disk.
fn copy(source: &Path, partial: &Path, partial_str: &str) -> Result<Copied, BackupError> {
    // Opened without CREATE: a missing store is not made here. Read-write, because a
    // reader in WAL mode needs the shared-memory index (and a crashed server's WAL is
    // recovered first).
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let src = Connection::open_with_flags(source, flags)
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", source.display())))?;
    src.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
    let version: i64 = src
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not_ours(source, e))?;
    if version == 0 {
        return Err(BackupError::Store(StoreError::Corrupt(format!(
            "{} has no chat schema; nothing to back up",
            source.display()
        ))));
    }
    src.execute("VACUUM INTO ?1", [partial_str]).map_err(err)?;
    drop(src);

    let dst = Connection::open_with_flags(partial, flags).map_err(err)?;
    // One file, whatever mode the copy came out in: nothing is left in a WAL beside it.
    dst.pragma_update(None, "journal_mode", "DELETE")
        .map_err(err)?;
    dst.execute(
        "UPDATE meta SET value = lower(hex(randomblob(16))) WHERE key = 'epoch'",
        [],
    )
    .map_err(err)?;
    let count = |table: &str| -> Result<u64, BackupError> {
        let n: i64 = dst
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .map_err(err)?;
        Ok(n.max(0) as u64)
    };
    let messages = count("messages")?;
    // Accounts came with schema version 6.
    let accounts = if version >= 6 { count("accounts")? } else { 0 };
    drop(dst);
    let file = File::open(partial).map_err(|e| BackupError::Write {
        path: partial.to_owned(),
        cause: e,
    })?;
    file.sync_all().map_err(|e| BackupError::Write {
        path: partial.to_owned(),
        cause: e,
    })?;
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(Copied {
        source: source.to_owned(),
        messages,
        accounts,
        bytes,
    })
}

/// Moves the finished copy to `dest`, unless something appeared there meanwhile.
fn publish(partial: &Path, dest: &Path) -> Result<(), BackupError> {
    // A hard link fails if `dest` exists, where a rename would replace it; on a file system
    // without hard links, a rename after one more look.
    match std::fs::hard_link(partial, dest) {
        Ok(()) => {
            let _ = std::fs::remove_file(partial);
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || dest.exists() => {
            return Err(BackupError::Exists(dest.to_owned()));
        }
        Err(_) => std::fs::rename(partial, dest).map_err(|cause| BackupError::Write {
            path: dest.to_owned(),
            cause,
        })?,
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

fn not_ours(path: &Path, e: rusqlite::Error) -> BackupError {
    BackupError::Store(StoreError::Corrupt(format!(
        "{} is not a readable chat database: {e}",
        path.display()
    )))
}
