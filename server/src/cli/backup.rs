//! `server backup PATH`: a consistent copy of the SQLite store under `--data-dir`, taken while
//! the server runs (see `crate::store::backup`). Redis and memory hold nothing here to copy.

use crate::config::{Config, StoreKind};
use crate::store::backup::{self, BackupError};
use std::io::Write;
use std::path::Path;

/// Why the command failed: the message goes to stderr and the process exits with 1.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(
        "with --redis the data lives in Redis: back it up with Redis's persistence (an RDB \
         snapshot or the AOF; see the README's \"Backup and restore\")"
    )]
    Redis,
    #[error("the memory store keeps nothing to back up (--store sqlite keeps it on disk)")]
    MemoryStore,
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error("writing stdout failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Copies the store `config` names to `dest` and writes what it copied to `out`.
pub fn run(config: &Config, dest: &Path, mut out: impl Write) -> Result<(), CommandError> {
    if config.redis.is_some() {
        return Err(CommandError::Redis);
    }
    if config.store == StoreKind::Memory {
        return Err(CommandError::MemoryStore);
    }
    let copied = backup::backup(&config.data_dir, dest)?;
    writeln!(
        out,
        "copied {} to {}: {} messages, {} accounts, {} bytes",
        copied.source.display(),
        dest.display(),
        copied.messages,
        copied.accounts,
        copied.bytes
    )?;
    writeln!(
        out,
        "to restore: stop the server, put this file in an empty data directory as `{}`, \
         and start the server on that directory",
        backup::STORE_FILE
    )?;
    Ok(())
}
