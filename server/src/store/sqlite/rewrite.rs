//! Edits and deletions: the `Rewrites` impl queues them in the writer's inbox, and the writer
//! applies each in its turn, after the appends queued before it.

use super::inbox::{Change, Op};
use super::wal::{SyncState, Wal};
use super::writer::sync_and_publish;
use super::{Inbox, SqliteStore};
use crate::error::StoreError;
use crate::store::{Rewrite, Rewrites};
use async_trait::async_trait;
use rusqlite::{params, Connection};
use shared::MessageId;
use std::time::Duration;
use tokio::sync::oneshot;

/// Tries of the checkpoint that follows a deletion while a read holds an older snapshot.
const CHECKPOINT_TRIES: u32 = 5;
/// How long one try waits for the reader (and the pause before the next).
const CHECKPOINT_WAIT: Duration = Duration::from_millis(20);

#[async_trait]
impl Rewrites for SqliteStore {
    async fn rewrite(
        &self,
        channel: &str,
        id: MessageId,
        change: Rewrite,
    ) -> Result<bool, StoreError> {
        let (done, rx) = oneshot::channel();
        self.send(Op::Rewrite(Change {
            channel: channel.to_string(),
            id,
            change,
            done,
        }))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }
}

/// Applies `c` on the writer's connection and answers it: once durable with full sync, and a
/// deletion once the WAL is checkpointed and truncated. `written` is the last group committed.
/// False when the fsync failed: the store has stopped.
pub(super) fn apply(
    conn: &mut Connection,
    c: Change,
    wal: &mut Option<Wal>,
    written: u64,
    inbox: &Inbox,
    sync: &SyncState,
) -> bool {
    let outcome = match &c.change {
        Rewrite::Edit(text) => edit(conn, &c.channel, c.id, text.as_str()),
        Rewrite::Delete => delete(conn, &c.channel, c.id),
    };
    match outcome {
        Ok(true) => {}
        Ok(false) => {
            let _ = c.done.send(Ok(false));
            return true;
        }
        Err(e) => {
            tracing::error!(cause = %e, "rewrite failed");
            let _ = c.done.send(Err(StoreError::Unavailable(e.to_string())));
            return true;
        }
    }
    // Everything committed so far is synced with it.
    if wal.is_some() && !sync_and_publish(wal, written, inbox, sync) {
        return false;
    }
    if matches!(c.change, Rewrite::Delete) {
        checkpoint(conn);
    }
    let _ = c.done.send(Ok(true));
    true
}

/// Replaces the text of a plain message that is not deleted, and marks it edited.
fn edit(conn: &Connection, channel: &str, id: MessageId, text: &str) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE messages SET text = ?1, flags = flags | 1
             WHERE channel = ?2 AND id = ?3 AND target IS NULL AND flags & 2 = 0",
        )?
        .execute(params![text, channel, id as i64])?;
    Ok(changed > 0)
}

/// Erases the text of a plain message and marks it deleted, and erases the text of its edits
/// (which come after it), in one transaction.
fn delete(conn: &mut Connection, channel: &str, id: MessageId) -> rusqlite::Result<bool> {
    let tx = conn.transaction()?;
    let changed = tx
        .prepare_cached(
            "UPDATE messages SET text = '', flags = flags | 2
             WHERE channel = ?1 AND id = ?2 AND target IS NULL AND flags & 2 = 0",
        )?
        .execute(params![channel, id as i64])?;
    if changed == 0 {
        return Ok(false);
    }
    tx.prepare_cached(
        "UPDATE messages SET text = '' WHERE channel = ?1 AND id > ?2 AND target = ?2",
    )?
    .execute(params![channel, id as i64])?;
    tx.commit()?;
    Ok(true)
}

/// Copies the WAL into the database and truncates it, so that no old frame keeps text a
/// deletion erased (`secure_delete` zeroes it in the pages themselves). A read in progress
/// holds the frames of its snapshot: tried a few times, briefly, and then left to the next
/// checkpoint that completes (the shutdown's, at the latest).
fn checkpoint(conn: &Connection) {
    let mut cause = String::new();
    let _ = conn.busy_timeout(CHECKPOINT_WAIT);
    for i in 0..CHECKPOINT_TRIES {
        if i > 0 {
            std::thread::sleep(CHECKPOINT_WAIT);
        }
        // The first column: 1 when a reader or another writer kept it from completing.
        match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(0) => {
                cause.clear();
                break;
            }
            Ok(_) => cause = "busy".into(),
            Err(e) => cause = e.to_string(),
        }
    }
    let _ = conn.busy_timeout(super::schema::BUSY_TIMEOUT);
    if !cause.is_empty() {
        tracing::warn!(
            %cause,
            "the WAL could not be truncated after a deletion; the erased text stays in it \
             until the next checkpoint"
        );
    }
}
