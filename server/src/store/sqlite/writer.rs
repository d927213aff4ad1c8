//! The writer thread: takes groups from the inbox, commits each in one transaction, answers
//! its appends, fsyncs the WAL and publishes the mark; applies edits and deletions in their
//! turn; runs a step of retention between two group commits.

use super::inbox::{Append, Inbox, Op};
use super::linger::{Linger, Round, SYNC_LINGER};
use super::retention::{Pruner, BATCH};
use super::rewrite;
use super::wal::{SyncState, Wal};
use super::Retention;
use crate::error::StoreError;
use crate::store::client_ids::{ClientIds, CLIENT_ID_WINDOW};
use crate::store::{Appended, StoredAck, StoredMessage};
use rusqlite::{params, Connection};
use shared::{ClientMsgId, MessageId, Nickname};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Largest group committed at once.
const MAX_GROUP: usize = 4096;

/// How long a busy writer waits for the rest of a group (see `run`).
const GATHER_WAIT: Duration = Duration::from_micros(200);

/// Groups up to this size are answered (and so delivered) before their fsync; bigger ones
/// after it, together with their acks.
const EARLY_ANSWER_MAX: usize = 8;
/// Longest an fsync of early-answered groups waits for the hub to deliver them (see `run`).
pub(super) const SYNC_DEFER_MAX: Duration = Duration::from_millis(20);

/// How long the fsync of early-answered groups may wait: for the hub to deliver them
/// (`defer_max`), and then for more groups to share it (`linger`, from the first's commit; see
/// `linger`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncWaits {
    pub(crate) defer_max: Duration,
    pub(crate) linger: Duration,
}

impl Default for SyncWaits {
    fn default() -> Self {
        Self {
            defer_max: SYNC_DEFER_MAX,
            linger: SYNC_LINGER,
        }
    }
}

/// The client ids of the newest `CLIENT_ID_WINDOW` messages that have one, oldest first, as
/// the writer's idempotency window.
pub(super) fn load_client_ids(conn: &Connection) -> rusqlite::Result<ClientIds> {
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

/// The writer thread: commits, answers and fsyncs until the inbox is closed and empty.
pub(super) fn run(
    mut conn: Connection,
    inbox: &Inbox,
    sync: &SyncState,
    mut wal: Option<Wal>,
    retention: Retention,
    mut ids: ClientIds,
    waits: SyncWaits,
) {
    let mut pruner = Pruner::new(retention, BATCH);
    let mut written = 0u64;
    let mut ops: Vec<Op> = Vec::new();
    let mut group: Vec<Append> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    let mut later: Vec<Answer> = Vec::new();
    // How many ops the last wake-up took. What arrives while one commit runs forms the next
    // group by itself, and a lone message is committed at once; only after a big group (over
    // EARLY_ANSWER_MAX), when fewer are queued than it held, the writer waits GATHER_WAIT for
    // the rest of its senders (below).
    let mut last_group = 0;
    // Groups answered early and not yet fsynced: their fsync waits until the hub has
    // delivered them, or until this deadline.
    let mut deferred: Option<Instant> = None;
    // Some of those groups hold stored messages, which the hub delivers.
    let mut deliverable = false;
    // Once the hub has delivered them, their fsync may wait for more groups to share it, until
    // `SYNC_LINGER` after the first (see `linger`).
    let mut linger = Linger::new(waits.linger);
    let mut round = Round::default();
    loop {
        let got = match (deferred, round.waiting_until()) {
            // Sleeps until an op arrives or a retention step is due.
            (None, _) => inbox.take(&mut ops, pruner.next_step()),
            (Some(_), Some(until)) => inbox.take(&mut ops, Some(until)),
            (Some(deadline), None) => inbox.take_until(&mut ops, deadline),
        };
        if got.is_none() {
            break;
        }
        let now = Instant::now();
        if round.woke(!ops.is_empty(), now) {
            // A group to share the fsync: it too is delivered before the fsync runs (its I/O
            // would interrupt that fan-out), for at most `defer_max` from now.
            deferred = Some(now + waits.defer_max);
        }
        if ops.is_empty() && deferred.is_none() {
            // Nothing to commit, and everything committed is synced: retention's turn.
            if !prune_step(&mut pruner, &conn, &mut wal, written, inbox, sync) {
                return;
            }
            continue;
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
            pruner.ops_came(ops.len());
        }
        let mut ops = ops.drain(..).peekable();
        while ops.peek().is_some() {
            // A rewrite ends the group: the appends queued before it are committed first, so
            // an edit finds a message appended just before.
            let mut change = None;
            for op in ops.by_ref() {
                match op {
                    Op::Append(a) => group.push(a),
                    Op::Flush(f) => flushes.push(f),
                    Op::Rewrite(c) => {
                        change = Some(c);
                        break;
                    }
                }
                if group.len() >= MAX_GROUP {
                    break;
                }
            }
            if !group.is_empty() {
                written += 1;
                // A small group (the store is not busy) is answered now, so the hub delivers it
                // before the fsync, and acks after it. A big one (the store is busy) is answered
                // after the fsync: its acks are then ready with the answer, one wake-up per send
                // instead of two, which is what a busy store's throughput needs.
                let now = wal.is_none() || group.len() <= EARLY_ANSWER_MAX;
                let began = Instant::now();
                commit_group(&mut conn, &mut group, written, &mut ids, &mut answers);
                sync.timed(|t| &t.store_commit, began);
                if now {
                    // Only a stored message has deliveries to wait for (a resend of a stored
                    // one, or a failed group, has none: the hub would not go idle for it).
                    if wal.is_some() && answers.iter().any(|a| matches!(a.1, Ok(Appended::Stored)))
                    {
                        inbox.expect_idle();
                        deliverable = true;
                    }
                    answer(&mut answers);
                } else {
                    later.append(&mut answers);
                }
            }
            if let Some(c) = change {
                if !rewrite::apply(&mut conn, c, &mut wal, written, inbox, sync) {
                    return;
                }
            }
        }
        drop(ops);
        if deliverable && later.is_empty() && flushes.is_empty() && written > sync.synced() {
            // Only early answers wait for this fsync. On a shared core its I/O wake-ups would
            // interrupt the fan-out of the very messages just answered: it waits until the hub
            // has delivered them (it goes idle) or, when the hub stays busy, for
            // `waits.defer_max`; then, while `linger` allows, for more groups to share it, until
            // `waits.linger` after the first. The acks wait for it either way.
            let now = Instant::now();
            let deadline = *deferred.get_or_insert_with(|| now + waits.defer_max);
            round.begin(&linger, now);
            if !inbox.idle() {
                if now < deadline {
                    continue;
                }
            } else if round.wait(now) {
                continue;
            }
        }
        round.end(&mut linger, Instant::now());
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
        // At most one bounded step between two group commits: the next group waits for no
        // more.
        if !prune_step(&mut pruner, &conn, &mut wal, written, inbox, sync) {
            return;
        }
    }
    if written > sync.synced() && !sync_and_publish(&mut wal, written, inbox, sync) {
        return;
    }
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}

/// fsyncs the WAL (with full sync) and publishes `written` as durable. False when the fsync
/// failed: the store has stopped.
pub(super) fn sync_and_publish(
    wal: &mut Option<Wal>,
    written: u64,
    inbox: &Inbox,
    sync: &SyncState,
) -> bool {
    if let Some(w) = wal {
        let began = Instant::now();
        let synced = w.sync();
        sync.timed(|t| &t.store_fsync, began);
        if let Err(e) = synced {
            // Pages that failed to reach the disk may be gone from the cache too: nothing
            // written from here on can be called durable. Stop; waiters get an error.
            tracing::error!(cause = %e, "fsync of the WAL failed; the store stops");
            inbox.close();
            sync.fail(format!("fsync of the WAL failed: {e}"));
            return false;
        }
    }
    sync.publish(written);
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
                "INSERT INTO messages
                    (channel, id, sender, text, ts, client_id, author, target, flags, mentions)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .map_err(e)?;
        for a in group {
            let m = &a.msg;
            if let Some(cid) = &m.client_id {
                let ack = StoredAck { id: m.id, ts: m.ts };
                if let Some(original) = ids.remember(&m.sender, m.author, cid, ack) {
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
                    m.client_id.as_ref().map(|c| c.as_str()),
                    m.author.map(|a| a as i64),
                    m.meta.target.map(|t| t as i64),
                    m.meta.flags(),
                    m.meta.mentions_text()
                ])
                .map_err(e)?;
            outcomes.push(Appended::Stored);
        }
    }
    tx.commit().map_err(e)?;
    Ok(outcomes)
}

/// A step of retention, if one is due. When it deleted messages, a checkpoint writes the
/// pages it dirtied to the database (fsyncing the WAL first): left in the WAL, they would make
/// the next checkpoint, which a group commit runs, that much longer. `written` is the last
/// group committed (all synced by now). False when the fsync failed: the store has stopped.
fn prune_step(
    pruner: &mut Pruner,
    conn: &Connection,
    wal: &mut Option<Wal>,
    written: u64,
    inbox: &Inbox,
    sync: &SyncState,
) -> bool {
    if !pruner.due() {
        return true;
    }
    let start = Instant::now();
    let deleted = pruner.step(conn).unwrap_or_else(|e| {
        tracing::warn!(cause = %e, "retention step failed; the pass is abandoned");
        0
    });
    if deleted > 0 {
        if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
            tracing::warn!(cause = %e, "checkpoint after a retention step failed");
        }
    }
    let synced = deleted == 0 || sync_and_publish(wal, written, inbox, sync);
    let took = start.elapsed();
    // What came meanwhile waited for the step.
    let delayed = inbox.queued();
    pruner.rest(took, delayed);
    tracing::debug!(
        deleted,
        took_us = took.as_micros() as u64,
        delayed,
        busy = pruner.busy(),
        "retention step"
    );
    synced
}
