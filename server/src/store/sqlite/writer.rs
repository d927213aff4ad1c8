//! The writer thread: takes groups from the inbox, commits each in one transaction, answers
//! its appends, fsyncs the WAL and publishes the mark; applies edits and deletions in their
//! turn; runs a step of retention between two group commits.

use super::committer::{Answer, Committer};
use super::inbox::{Append, Inbox, Op};
use super::linger::{Linger, Round, SYNC_LINGER};
use super::retention::{Pruner, BATCH};
use super::rewrite;
use super::wal::{SyncState, Wal};
use super::Retention;
use crate::store::Appended;
use crate::util::lock;
use std::sync::Mutex;
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

/// The writer thread: commits, answers and fsyncs until the inbox is closed and empty.
pub(super) fn run(
    committer: &Mutex<Committer>,
    inbox: &Inbox,
    sync: &SyncState,
    mut wal: Option<Wal>,
    retention: Retention,
    waits: SyncWaits,
) {
    let mut pruner = Pruner::new(retention, BATCH);
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
        // Asleep at a light load (messages came one at a time), the writer lets one sender
        // commit its message itself (`Inbox::claim`); it learns of that group here
        // (`inlined`). At a heavier one they form groups: one commit (and one fsync) for all.
        let light = last_group <= 1;
        let got = match (deferred, round.waiting_until()) {
            // Sleeps until an op arrives or a retention step is due.
            (None, _) => inbox.take(&mut ops, pruner.next_step(), false, light),
            // A round: for more groups to share the fsync.
            (Some(_), Some(until)) => inbox.take(&mut ops, Some(until), true, light),
            // A round: for the hub to deliver what is committed.
            (Some(deadline), None) => inbox.take_until(&mut ops, deadline, light),
        };
        let Some(inlined) = got else {
            break;
        };
        let now = Instant::now();
        // Not held while the writer sleeps: a sender that commits by itself takes it (never
        // waiting for it: the writer holds it through fsyncs).
        let mut c = lock(committer);
        // A group its sender committed waits for an fsync, unless one has run since. If it
        // holds a stored message, its sender had the hub expect to go idle.
        let inline = inlined.groups > 0 && c.written() > sync.synced();
        deliverable |= inline && inlined.deliverable;
        if round.woke(!ops.is_empty() || inline, now) {
            // A group to share the fsync: it too is delivered before the fsync runs (its I/O
            // would interrupt that fan-out), for at most `defer_max` from now.
            deferred = Some(now + waits.defer_max);
        }
        if ops.is_empty() && deferred.is_none() && !inline {
            // Nothing to commit, and everything committed is synced: retention's turn.
            if !prune_step(&mut pruner, &c, &mut wal, inbox, sync) {
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
        let came = ops.len() + if inline { inlined.groups } else { 0 };
        if came > 0 {
            last_group = came;
            pruner.ops_came(came);
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
                // A small group (the store is not busy) is answered now, so the hub delivers it
                // before the fsync, and acks after it. A big one (the store is busy) is answered
                // after the fsync: its acks are then ready with the answer, one wake-up per send
                // instead of two, which is what a busy store's throughput needs.
                let now = wal.is_none() || group.len() <= EARLY_ANSWER_MAX;
                let began = Instant::now();
                c.group(&mut group, &mut answers);
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
            if let Some(change) = change {
                let written = c.written();
                if !rewrite::apply(&mut c.conn, change, &mut wal, written, inbox, sync) {
                    return;
                }
            }
        }
        drop(ops);
        let written = c.written();
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
            c.checkpoint();
            let _ = f.send(());
        }
        if c.checkpoint_due() {
            // SQLite's automatic checkpoint, here rather than in a sender's commit (it fsyncs
            // the database); after the fsync, so the WAL it syncs first has nothing left.
            c.checkpoint();
        }
        // At most one bounded step between two group commits: the next group waits for no
        // more.
        if !prune_step(&mut pruner, &c, &mut wal, inbox, sync) {
            return;
        }
    }
    let c = lock(committer);
    if c.written() > sync.synced() && !sync_and_publish(&mut wal, c.written(), inbox, sync) {
        return;
    }
    let _ = c.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
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

fn answer(answers: &mut Vec<Answer>) {
    for (done, outcome, msg, mark) in answers.drain(..) {
        let _ = done.send((outcome, msg, mark));
    }
}

/// A step of retention, if one is due. When it deleted messages, a checkpoint writes the
/// pages it dirtied to the database (fsyncing the WAL first): left in the WAL, they would make
/// the next checkpoint, which a group commit runs, that much longer. `written` is the last
/// group committed (all synced by now). False when the fsync failed: the store has stopped.
fn prune_step(
    pruner: &mut Pruner,
    c: &Committer,
    wal: &mut Option<Wal>,
    inbox: &Inbox,
    sync: &SyncState,
) -> bool {
    let (conn, written) = (&c.conn, c.written());
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
