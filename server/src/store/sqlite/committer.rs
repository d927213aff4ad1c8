//! The writer's connection and what goes with it: the idempotency window and the number of
//! the last group committed. The writer thread commits through it, and so does a sender that
//! finds the writer asleep with nothing queued (`Inbox::claim`): a lone message committed on
//! its sender's thread costs neither the hop to the writer nor the wake-up back.
//!
//! A sender's thread runs the async runtime, so it must never wait for the disk or a lock:
//! its commit gives up at once if another connection holds the write lock (`try_one`), and
//! SQLite's automatic checkpoint, which fsyncs the database and runs inside the commit that
//! crosses its threshold, is left to the writer thread (`checkpoint_due`).

use super::inbox::Append;
use super::lookup::would_wait;
use super::schema::BUSY_TIMEOUT;
use crate::error::StoreError;
use crate::store::client_ids::{ClientIds, CLIENT_ID_WINDOW};
use crate::store::{Appended, StoredAck, StoredMessage};
use rusqlite::{params, Connection};
use shared::{ClientMsgId, MessageId, Nickname};
use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

pub(super) struct Committer {
    pub(super) conn: Connection,
    ids: ClientIds,
    /// Groups are numbered as they are committed; the last one's number (what `wait_durable`
    /// waits for, and what an fsync makes durable).
    written: u64,
    /// Frames in the WAL after the last commit (SQLite's WAL hook reports them), and how many
    /// call for a checkpoint (SQLite's `wal_autocheckpoint`, which the hook replaces).
    frames: Arc<AtomicI64>,
    checkpoint_at: i64,
}

/// An append's outcome, ready to be sent to the one waiting for it.
pub(super) type Answer = (
    oneshot::Sender<(Result<Appended, StoreError>, StoredMessage, u64)>,
    Result<Appended, StoreError>,
    StoredMessage,
    u64,
);

impl Committer {
    /// The writer's connection, with the idempotency window loaded from it.
    pub(super) fn open(mut conn: Connection) -> rusqlite::Result<Committer> {
        let ids = load_client_ids(&conn)?;
        let checkpoint_at = conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?;
        let frames = Arc::new(AtomicI64::new(0));
        let seen = frames.clone();
        // Replaces the automatic checkpoint: the writer runs it (`checkpoint_due`).
        conn.wal_hook(Some(
            move |_: &mut rusqlite::hooks::Wal, n: std::ffi::c_int| {
                seen.store(n.into(), Relaxed);
                Ok(())
            },
        ))?;
        Ok(Committer {
            conn,
            ids,
            written: 0,
            frames,
            checkpoint_at,
        })
    }

    /// Whether the WAL has grown past the automatic checkpoint's threshold. The writer then
    /// checkpoints it (`checkpoint`), after its fsync, as SQLite would have after the commit.
    pub(super) fn checkpoint_due(&self) -> bool {
        self.checkpoint_at > 0 && self.frames.load(Relaxed) >= self.checkpoint_at
    }

    /// A passive checkpoint, as SQLite's automatic one: if a reader holds back part of the WAL,
    /// the next commit's frames keep it due.
    pub(super) fn checkpoint(&self) {
        if let Err(e) = self.conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::warn!(cause = %e, "checkpoint failed");
        }
        self.frames.store(0, Relaxed);
    }

    /// The last group committed.
    pub(super) fn written(&self) -> u64 {
        self.written
    }

    /// Commits `group` in one transaction and adds each append's outcome, with the group's
    /// number, to `answers`.
    pub(super) fn group(&mut self, group: &mut Vec<Append>, answers: &mut Vec<Answer>) {
        if group.is_empty() {
            return;
        }
        let Some((outcomes, mark)) = self.commit(group.iter().map(|a| &a.msg), true) else {
            return;
        };
        match outcomes {
            Ok(outcomes) => answers.extend(
                group
                    .drain(..)
                    .zip(outcomes)
                    .map(|(a, o)| (a.done, Ok(o), a.msg, mark)),
            ),
            Err(e) => answers.extend(group.drain(..).map(|a| {
                let e = StoreError::Unavailable(e.clone());
                (a.done, Err(e), a.msg, mark)
            })),
        }
    }

    /// Commits `msg` alone, a group of its own, unless that would wait for another
    /// connection's write lock: its outcome and the group's number, or `None` (nothing was
    /// committed: the writer's thread can wait for it).
    pub(super) fn try_one(
        &mut self,
        msg: &StoredMessage,
    ) -> Option<(Result<Appended, StoreError>, u64)> {
        let _ = self.conn.busy_timeout(Duration::ZERO);
        let committed = self.commit(std::iter::once(msg), false);
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        let (outcomes, mark) = committed?;
        let outcome = outcomes.map_err(StoreError::Unavailable).and_then(|o| {
            o.into_iter()
                .next()
                .ok_or_else(|| StoreError::Unavailable("no outcome for the append".into()))
        });
        Some((outcome, mark))
    }

    /// Commits `msgs` as the next group: their outcomes, in order (or why none was stored),
    /// and its number. `None` when SQLite would have waited for a lock and `wait` is false
    /// (nothing was committed).
    fn commit<'a>(
        &mut self,
        msgs: impl Iterator<Item = &'a StoredMessage>,
        wait: bool,
    ) -> Option<(Result<Vec<Appended>, String>, u64)> {
        let mut remembered = 0;
        let result = insert(&self.conn, msgs, &mut self.ids, &mut remembered);
        if result.is_err() {
            // Nothing of the group was stored: its client ids must not look stored either.
            self.ids.forget_newest(remembered);
        }
        let result = match result {
            Err(e) if !wait && would_wait(&e) => return None,
            Err(e) => {
                tracing::error!(cause = %e, "group commit failed");
                Err(e.to_string())
            }
            Ok(outcomes) => Ok(outcomes),
        };
        self.written += 1;
        Some((result, self.written))
    }
}

/// Inserts a group in one transaction. A message whose sender already stored its client id
/// (within the window) is not inserted; its outcome names the original. Client ids the group
/// adds to `ids` are counted in `remembered`.
///
/// `BEGIN` and `COMMIT` are cached statements: rusqlite's `transaction()` runs them through
/// `execute_batch`, which parses each anew, and that parsing was 11% of a lone message's
/// commit at a light load (bench/README, "BEGIN and COMMIT"). Whatever fails rolls the
/// transaction back, as dropping a rusqlite `Transaction` would.
fn insert<'a>(
    conn: &Connection,
    msgs: impl Iterator<Item = &'a StoredMessage>,
    ids: &mut ClientIds,
    remembered: &mut usize,
) -> rusqlite::Result<Vec<Appended>> {
    conn.prepare_cached("BEGIN")?.execute([])?;
    let inserted = insert_rows(conn, msgs, ids, remembered)
        .and_then(|outcomes| conn.prepare_cached("COMMIT")?.execute([]).map(|_| outcomes));
    if inserted.is_err() && !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(cause = %e, "rolling back a failed group commit failed");
        }
    }
    inserted
}

/// The inserts of `insert`, inside its transaction.
fn insert_rows<'a>(
    conn: &Connection,
    msgs: impl Iterator<Item = &'a StoredMessage>,
    ids: &mut ClientIds,
    remembered: &mut usize,
) -> rusqlite::Result<Vec<Appended>> {
    let mut outcomes = Vec::with_capacity(msgs.size_hint().0);
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO messages
                    (channel, id, sender, text, ts, client_id, author, target, flags, mentions)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        for m in msgs {
            if let Some(cid) = &m.client_id {
                let ack = StoredAck { id: m.id, ts: m.ts };
                if let Some(original) = ids.remember(&m.sender, m.author, cid, ack) {
                    outcomes.push(Appended::Duplicate(original));
                    continue;
                }
                // Counted before the insert: if it fails, the group is forgotten whole.
                *remembered += 1;
            }
            insert.execute(params![
                m.channel,
                m.id as i64,
                m.sender.as_str(),
                m.text.as_str(),
                m.ts,
                m.client_id.as_ref().map(|c| c.as_str()),
                m.author.map(|a| a as i64),
                m.meta.target.map(|t| t as i64),
                m.meta.flags(),
                m.meta.mentions_text()
            ])?;
            outcomes.push(Appended::Stored);
        }
    }
    Ok(outcomes)
}

/// The client ids of the newest `CLIENT_ID_WINDOW` messages that have one, oldest first, as
/// the writer's idempotency window.
fn load_client_ids(conn: &Connection) -> rusqlite::Result<ClientIds> {
    let mut rows: Vec<(String, String, StoredAck, Option<i64>)> = conn
        .prepare(
            "SELECT sender, client_id, id, ts, author FROM messages
             WHERE client_id IS NOT NULL ORDER BY seq DESC LIMIT ?1",
        )?
        .query_map([CLIENT_ID_WINDOW as i64], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                StoredAck {
                    id: r.get::<_, i64>(2)? as MessageId,
                    ts: r.get(3)?,
                },
                r.get(4)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    rows.reverse();
    let mut ids = ClientIds::new(CLIENT_ID_WINDOW);
    let mut unreadable = 0;
    for (sender, cid, ack, author) in rows {
        match (Nickname::new(sender), ClientMsgId::new(cid)) {
            (Ok(sender), Ok(cid)) => {
                ids.insert(&sender, author.map(|a| a as u64), &cid, ack);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::schema::open_writer;
    use crate::store::sqlite::tests::{msg, tmpdir};
    use std::path::PathBuf;

    /// A committer on a new database in a fresh directory `name`: the directory, the
    /// database's path and the committer.
    fn committer(name: &str) -> (PathBuf, PathBuf, Committer) {
        let dir = tmpdir(name);
        std::fs::create_dir_all(&dir).expect("dir");
        let db = dir.join("chat.db");
        let c = Committer::open(open_writer(&db).expect("open")).expect("committer");
        (dir, db, c)
    }

    #[test]
    fn commits_never_checkpoint_and_the_writer_does_once_it_is_due() {
        let (dir, db, mut c) = committer("committer-checkpoint");
        assert!(
            c.checkpoint_at > 0,
            "SQLite's threshold, read before the hook"
        );
        let size = || std::fs::metadata(&db).expect("db").len();
        let before = size();
        let mut id = 0;
        while !c.checkpoint_due() {
            id += 1;
            assert!(id < 10_000, "never due");
            let (outcome, mark) = c.try_one(&msg("general", id, None)).expect("no lock");
            assert!(matches!(outcome, Ok(Appended::Stored)));
            assert_eq!(mark, id, "one group each");
        }
        // Past SQLite's threshold, and no commit wrote the database: all of it is in the WAL.
        assert_eq!(size(), before, "a commit checkpointed");
        c.checkpoint();
        assert!(size() > before, "the checkpoint wrote the database");
        assert!(!c.checkpoint_due());
        // The WAL starts over: the next commit is far from the threshold.
        let (outcome, _) = c.try_one(&msg("general", id + 1, None)).expect("no lock");
        assert!(outcome.is_ok());
        assert!(!c.checkpoint_due());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A group that fails part-way (a message whose id its channel already has) is rolled
    /// back whole: none of it stays, its client ids are forgotten, and the next commit runs
    /// in a transaction of its own.
    #[test]
    fn a_failed_group_is_rolled_back_whole_and_the_next_commits() {
        let (dir, _, mut c) = committer("committer-rollback");
        let (outcome, _) = c.try_one(&msg("general", 1, None)).expect("no lock");
        assert!(matches!(outcome, Ok(Appended::Stored)));
        let (result, _) = c
            .commit(
                [msg("general", 2, Some("c2")), msg("general", 1, None)].iter(),
                true,
            )
            .expect("a group waits for no lock here");
        assert!(result.is_err(), "id 1 is taken: the group fails");
        assert!(c.conn.is_autocommit(), "no transaction left open");
        let (outcome, _) = c.try_one(&msg("general", 2, Some("c2"))).expect("no lock");
        assert!(
            matches!(outcome, Ok(Appended::Stored)),
            "id 2 and client id c2 were not kept from the failed group: {outcome:?}"
        );
        let ids: Vec<i64> = c
            .conn
            .prepare("SELECT id FROM messages WHERE channel = 'general' ORDER BY id")
            .expect("select")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<rusqlite::Result<_>>()
            .expect("ids");
        assert_eq!(ids, [1, 2]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
