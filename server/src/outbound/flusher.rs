//! The [`Flusher`] and its [`Job`]s: the passes that write to sockets, never a task per
//! connection. A room's broadcasts reach it as a job, which sends each member everything posted
//! since the last pass with one `send` (`Conn::send_batch`). Anything else for one connection
//! (a reply, a direct message) is queued, and the connection is handed to the flusher when its
//! queue goes from empty to non-empty. At low rates that is one syscall per delivery and no
//! task wake-up per receiver; under load, everything for a receiver since its last write goes
//! out together, so the cost per delivery falls as the rate rises.

use super::conn::Conn;
use crate::metrics::{observe, Timings};
use crate::util::lock;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Work a flusher pass runs before it writes the connections handed to it: a room's
/// fan-out of what was posted since the last pass.
pub trait Job: Send + Sync {
    /// Does one step; `true` asks for another once the runtime's other tasks had their turn
    /// (what they post meanwhile joins that step).
    fn run(&self) -> bool;
}

/// Writes the queues of connections that have frames waiting, one pass at a time: a pass
/// runs the jobs handed to it (rooms sending what was posted since the last pass, straight to
/// sockets that have nothing queued), then writes every connection scheduled since the last
/// pass, so a burst of messages to the same receivers leaves in one write each. Sharded (one
/// task per core) so writes spread over the runtime's workers.
pub struct Flusher {
    shards: Vec<Arc<Shard>>,
    coming: Arc<Coming>,
}

/// Posts that are moments away: messages already read whose store commit is running. A pass
/// waits for them (at most `COMING_WAIT`), so they go out in this pass and not in the one
/// after it. Under load a pass to a big room takes tens of milliseconds, and without the wait
/// a message read just before a pass would sit out that whole pass, its commit done early on.
#[derive(Default)]
struct Coming {
    count: AtomicUsize,
    settled: Notify,
    /// Called when a pass ends with nothing coming (see `Flusher::when_idle`).
    idle: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
}

/// Longest a pass waits for posts that are coming.
const COMING_WAIT: Duration = Duration::from_millis(1);

impl Coming {
    async fn settled(&self) {
        loop {
            let notified = self.settled.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One post on its way (see `Flusher::coming`); dropped once it is posted, or given up.
pub struct ComingPost(Arc<Coming>);

impl Drop for ComingPost {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, AcqRel) == 1 {
            self.0.settled.notify_waiters();
        }
    }
}

/// A job handed to a pass, and when it was handed over: its room's first message since the
/// last pass was posted then (for the fan-out delay).
type Handed = (Arc<dyn Job>, Instant);

#[derive(Default)]
struct Shard {
    ready: Mutex<Vec<Arc<Conn>>>,
    jobs: Mutex<Vec<Handed>>,
    wake: Notify,
}

impl Flusher {
    /// Starts the flushing tasks on the current Tokio runtime.
    pub fn start() -> Arc<Flusher> {
        Flusher::recording(None)
    }

    /// [`Flusher::start`], recording each pass's time and each room's fan-out delay in
    /// `timings` (once per pass and room, never per delivery).
    pub fn recording(timings: Option<Timings>) -> Arc<Flusher> {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shards: Vec<Arc<Shard>> = (0..n).map(|_| Arc::new(Shard::default())).collect();
        let coming = Arc::new(Coming::default());
        for s in &shards {
            tokio::spawn(run_shard(s.clone(), coming.clone(), timings.clone()));
        }
        Arc::new(Flusher { shards, coming })
    }

    /// A flusher whose tasks never run (tests look at what was queued).
    #[cfg(test)]
    pub(crate) fn paused() -> Arc<Flusher> {
        Arc::new(Flusher {
            shards: vec![Arc::new(Shard::default())],
            coming: Arc::default(),
        })
    }

    /// One pass by hand (a paused flusher's, in tests): the jobs, then the connections.
    #[cfg(test)]
    pub(crate) fn run_pass(&self) {
        for s in &self.shards {
            let mut jobs: Vec<_> = std::mem::take(&mut *lock(&s.jobs))
                .into_iter()
                .map(|(job, _)| job)
                .collect();
            while !jobs.is_empty() {
                jobs.retain(|j| j.run());
            }
            let ready = std::mem::take(&mut *lock(&s.ready));
            ready.iter().for_each(|c| c.flush_scheduled());
        }
    }

    pub(super) fn schedule(&self, conn: Arc<Conn>) {
        let shard = &self.shards[(conn.id as usize) % self.shards.len()];
        let mut ready = lock(&shard.ready);
        let first = ready.is_empty();
        ready.push(conn);
        drop(ready);
        if first {
            shard.wake.notify_one();
        }
    }

    /// Tells the passes that a post is coming (a message read, its commit running); they wait
    /// for it briefly. Drop the guard once it is posted.
    pub fn coming(&self) -> ComingPost {
        self.coming.count.fetch_add(1, AcqRel);
        ComingPost(self.coming.clone())
    }

    /// Has `f` called each time a pass ends with nothing left to do and no post on its way:
    /// what was handed to the flusher has gone out. Set once; `f` must be cheap.
    pub fn when_idle(&self, f: impl Fn() + Send + Sync + 'static) {
        let _ = self.coming.idle.set(Box::new(f));
    }

    /// Runs `job` in the next pass of the shard `key` picks. The caller hands a job over once
    /// until it has run.
    pub fn schedule_job(&self, key: usize, job: Arc<dyn Job>) {
        let shard = &self.shards[key % self.shards.len()];
        let mut jobs = lock(&shard.jobs);
        let first = jobs.is_empty();
        jobs.push((job, Instant::now()));
        drop(jobs);
        if first {
            shard.wake.notify_one();
        }
    }
}

async fn run_shard(shard: Arc<Shard>, coming: Arc<Coming>, timings: Option<Timings>) {
    let mut batch = Vec::new();
    let mut jobs: Vec<(Arc<dyn Job>, Option<Instant>)> = Vec::new();
    // Jobs that asked for another step (their fan-out delay is recorded already).
    let mut unfinished: Vec<(Arc<dyn Job>, Option<Instant>)> = Vec::new();
    loop {
        if unfinished.is_empty() {
            if coming.count.load(Acquire) == 0 {
                if let Some(idle) = coming.idle.get() {
                    idle();
                }
            }
            shard.wake.notified().await;
            // Let the tasks that are ready run first: what they queue joins this pass.
            tokio::task::yield_now().await;
            if coming.count.load(Acquire) > 0 {
                let _ = tokio::time::timeout(COMING_WAIT, coming.settled()).await;
            }
        } else {
            // Between two steps of a long job, the other tasks run (reads, acks, posts).
            tokio::task::yield_now().await;
        }
        let began = Instant::now();
        loop {
            jobs.append(&mut unfinished);
            jobs.extend(lock(&shard.jobs).drain(..).map(|(j, at)| (j, Some(at))));
            for (job, handed) in jobs.drain(..) {
                let more = job.run();
                if let (Some(t), Some(at)) = (&timings, handed) {
                    observe(&t.fanout_delay, at.elapsed());
                }
                if more {
                    unfinished.push((job, None));
                }
            }
            std::mem::swap(&mut batch, &mut *lock(&shard.ready));
            let idle = batch.is_empty();
            for conn in batch.drain(..) {
                conn.flush_scheduled();
            }
            if !unfinished.is_empty() || (idle && lock(&shard.jobs).is_empty()) {
                break;
            }
        }
        if let Some(t) = &timings {
            observe(&t.flusher_pass, began.elapsed());
        }
    }
}

#[cfg(test)]
mod tests;
