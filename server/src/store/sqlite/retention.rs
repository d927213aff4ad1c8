//! Retention, a bounded step at a time. A pass starts every `Retention::every`; the writer
//! runs its steps between group commits (or while it has nothing else to do), never two in a
//! row without a rest, and a step deletes at most `batch` messages: an ack never waits behind
//! more than one batch.
//!
//! A step's deletions dirty an index page per channel and table pages all over, which its
//! commit writes to the WAL and a checkpoint to the database: some milliseconds for a batch,
//! which every op arriving meanwhile waits for. So each op that waited buys `OPS_PER_DELAYED`
//! ops that the next step waits for: at most one ack in `OPS_PER_DELAYED` meets a step, well
//! below the 1% that would move the p99, however many senders there are. Once the writer has
//! had no op for `IDLE` it steps on anyway; after each step it rests as long as the step took,
//! so an idle store catches up in half the writer's time. Under a sustained load that fills
//! the table faster than that deletes, it runs over its limits until the load drops.
//!
//! A pass first deletes the messages past the age limit, in arrival order (the table's rowid
//! order, which is `ts` order up to the moments a send spends on its way to the writer; after
//! the wall clock is set back, messages behind newer ones wait for those to expire), and
//! then walks every channel in key order and trims those over the per-channel cap: it finds
//! the oldest message to keep by counting down the channel's index (`COUNTED_PER_DELETED`
//! entries per message a step may delete), and deletes everything older, `batch` messages a
//! step. Only this deletes messages, and it trims only after its age phase, so what a count
//! found stays true while new messages arrive above it: the newest `per_channel` messages of a
//! channel are always kept.
//!
//! A channel whose every message expired keeps its highest id in the `emptied` table, so
//! `last_id`, and with it the ids the hub assigns, never goes back.

use super::Retention;
use crate::util::now_ms;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Messages deleted by one step at most.
pub(super) const BATCH: usize = 1000;
/// Index entries one step counts, per message it may delete: counting reads the pages of one
/// channel's range of the index and writes nothing.
const COUNTED_PER_DELETED: u64 = 20;
/// Channels one step of the sweep looks at (each one is two index look-ups).
const CHANNELS_PER_STEP: usize = 64;
/// Ops the writer takes, per op that waited behind a step, before the next step (unless it
/// is idle).
const OPS_PER_DELAYED: u64 = 300;
/// The writer counts as idle when no op has come for this long.
const IDLE: Duration = Duration::from_millis(50);

pub(super) struct Pruner {
    retention: Retention,
    batch: usize,
    next_pass: Instant,
    /// No step before this: the last one took as long.
    rest_until: Instant,
    /// Ops to take before the next step, unless the writer goes idle (see `OPS_PER_DELAYED`).
    owed: u64,
    /// When the last op came.
    last_op: Instant,
    /// Where the pass under way stands (None: no pass under way).
    phase: Option<Phase>,
}

enum Phase {
    /// Deleting messages with `ts` below `cutoff`.
    Age { cutoff: i64 },
    /// Looking for channels over the cap among those after `after` (from the first when None).
    Sweep { after: Option<String> },
    /// Counting `channel`'s newest messages down from `below`: `left` more to the oldest one
    /// kept.
    Count {
        channel: String,
        below: i64,
        left: u64,
    },
    /// Deleting `channel`'s messages with ids below `keep` (the oldest one kept).
    Trim { channel: String, keep: i64 },
}

impl Pruner {
    /// The first pass starts `retention.every` from now.
    pub(super) fn new(retention: Retention, batch: usize) -> Pruner {
        Pruner {
            retention,
            batch: batch.max(1),
            next_pass: Instant::now() + retention.every,
            rest_until: Instant::now(),
            owed: 0,
            last_op: Instant::now(),
            phase: None,
        }
    }

    /// A pass is under way.
    pub(super) fn busy(&self) -> bool {
        self.phase.is_some()
    }

    /// When the next step is due: after the rest that followed the last one, once the ops it
    /// owes have come or the writer has been idle for `IDLE`, and when no pass is under way,
    /// at the next pass. None when retention is off.
    pub(super) fn next_step(&self) -> Option<Instant> {
        if !self.enabled() {
            return None;
        }
        let mut at = match self.phase {
            Some(_) => self.rest_until,
            None => self.next_pass.max(self.rest_until),
        };
        if self.owed > 0 {
            at = at.max(self.last_op + IDLE);
        }
        Some(at)
    }

    /// A step is due.
    pub(super) fn due(&self) -> bool {
        self.next_step().is_some_and(|at| at <= Instant::now())
    }

    /// The writer took `n` ops.
    pub(super) fn ops_came(&mut self, n: usize) {
        self.last_op = Instant::now();
        self.owed = self.owed.saturating_sub(n as u64);
    }

    /// The last step (with its checkpoint) took `took`, and `delayed` ops waited for it.
    pub(super) fn rest(&mut self, took: Duration, delayed: usize) {
        self.rest_until = Instant::now() + took;
        self.owed = delayed as u64 * OPS_PER_DELAYED;
    }

    fn enabled(&self) -> bool {
        self.retention.per_channel > 0 || self.retention.max_age.is_some()
    }

    /// One bounded step of the pass under way, or of a new one if one is due. Returns how many
    /// messages it deleted. After an error the pass is abandoned; the next one starts over.
    pub(super) fn step(&mut self, conn: &Connection) -> rusqlite::Result<usize> {
        if self.phase.is_none() {
            if !self.enabled() || Instant::now() < self.next_pass {
                return Ok(0);
            }
            self.next_pass = Instant::now() + self.retention.every;
            self.phase = Some(match self.retention.max_age {
                Some(age) => Phase::Age {
                    cutoff: now_ms().saturating_sub(age.as_millis() as i64),
                },
                None => Phase::Sweep { after: None },
            });
        }
        let Some(phase) = self.phase.take() else {
            return Ok(0);
        };
        let (deleted, next) = match phase {
            Phase::Age { cutoff } => {
                let n = expire(conn, cutoff, self.batch)?;
                let next = if n > 0 {
                    Some(Phase::Age { cutoff })
                } else if self.retention.per_channel > 0 {
                    Some(Phase::Sweep { after: None })
                } else {
                    None
                };
                (n, next)
            }
            Phase::Sweep { after } => (0, self.sweep(conn, after)?),
            Phase::Count {
                channel,
                below,
                left,
            } => (0, Some(self.count(conn, channel, below, left)?)),
            Phase::Trim { channel, keep } => {
                let n = conn
                    .prepare_cached(
                        "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages
                         WHERE channel = ?1 AND id < ?2 ORDER BY id LIMIT ?3)",
                    )?
                    .execute(params![channel, keep, self.batch as i64])?;
                let next = if n < self.batch {
                    Phase::Sweep {
                        after: Some(channel),
                    }
                } else {
                    Phase::Trim { channel, keep }
                };
                (n, Some(next))
            }
        };
        self.phase = next;
        Ok(deleted)
    }

    /// Looks at up to `CHANNELS_PER_STEP` channels after `after`: the first one that may hold
    /// more than the cap is counted next. None when the pass is done.
    fn sweep(
        &self,
        conn: &Connection,
        mut after: Option<String>,
    ) -> rusqlite::Result<Option<Phase>> {
        let cap = self.retention.per_channel;
        if cap == 0 {
            return Ok(None);
        }
        for _ in 0..CHANNELS_PER_STEP {
            let next: Option<String> = match &after {
                None => conn
                    .prepare_cached("SELECT channel FROM messages ORDER BY channel LIMIT 1")?
                    .query_row([], |r| r.get(0))
                    .optional()?,
                Some(a) => conn
                    .prepare_cached(
                        "SELECT channel FROM messages WHERE channel > ?1 ORDER BY channel LIMIT 1",
                    )?
                    .query_row([a], |r| r.get(0))
                    .optional()?,
            };
            let Some(channel) = next else {
                return Ok(None);
            };
            let (lo, hi): (i64, i64) = conn
                .prepare_cached(
                    "SELECT (SELECT min(id) FROM messages WHERE channel = ?1),
                            (SELECT max(id) FROM messages WHERE channel = ?1)",
                )?
                .query_row([&channel], |r| Ok((r.get(0)?, r.get(1)?)))?;
            // Ids are unique: a channel whose ids span no more than the cap is within it. One
            // that spans more may still be (ids have gaps): its messages are counted.
            if hi.abs_diff(lo) >= cap {
                return Ok(Some(Phase::Count {
                    channel,
                    below: i64::MAX,
                    left: cap,
                }));
            }
            after = Some(channel);
        }
        Ok(Some(Phase::Sweep { after }))
    }

    /// Counts some more of `channel`'s messages down from `below`.
    fn count(
        &self,
        conn: &Connection,
        channel: String,
        below: i64,
        left: u64,
    ) -> rusqlite::Result<Phase> {
        let k = left.min(self.batch as u64 * COUNTED_PER_DELETED).max(1);
        let found: Option<i64> = conn
            .prepare_cached(
                "SELECT id FROM messages WHERE channel = ?1 AND id < ?2
                 ORDER BY id DESC LIMIT 1 OFFSET ?3",
            )?
            .query_row(params![channel, below, (k - 1) as i64], |r| r.get(0))
            .optional()?;
        Ok(match found {
            // No more than the cap.
            None => Phase::Sweep {
                after: Some(channel),
            },
            Some(id) if k >= left => Phase::Trim { channel, keep: id },
            Some(id) => Phase::Count {
                channel,
                below: id,
                left: left - k,
            },
        })
    }
}

/// Deletes the messages older than `cutoff` among the `batch` that arrived first; records the
/// highest id of each channel this empties. Returns how many it deleted.
fn expire(conn: &Connection, cutoff: i64, batch: usize) -> rusqlite::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let mut tops: HashMap<String, i64> = HashMap::new();
    let mut n = 0;
    {
        let mut delete = tx.prepare_cached(
            "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages ORDER BY seq LIMIT ?2)
             AND ts < ?1 RETURNING channel, id",
        )?;
        let mut rows = delete.query(params![cutoff, batch as i64])?;
        while let Some(r) = rows.next()? {
            let (channel, id): (String, i64) = (r.get(0)?, r.get(1)?);
            let top = tops.entry(channel).or_insert(id);
            *top = (*top).max(id);
            n += 1;
        }
    }
    {
        let mut left = tx.prepare_cached("SELECT 1 FROM messages WHERE channel = ?1 LIMIT 1")?;
        let mut record = tx.prepare_cached(
            "INSERT INTO emptied (channel, last_id) VALUES (?1, ?2)
             ON CONFLICT (channel) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
        )?;
        for (channel, top) in &tops {
            if !left.exists([channel])? {
                record.execute(params![channel, top])?;
            }
        }
    }
    tx.commit()?;
    Ok(n)
}
