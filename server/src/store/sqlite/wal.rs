//! The WAL's fsync (full sync) and the mark of how far it has got, which acks wait for.

use crate::error::StoreError;
use crate::metrics::Timings;
use prometheus_client::metrics::histogram::Histogram;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::OnceLock;
use std::time::Instant;
use tokio::sync::watch;

/// The WAL file, fsynced by the writer after each commit (full sync).
pub(super) struct Wal {
    pub(super) path: PathBuf,
    dir: PathBuf,
    file: Option<std::fs::File>,
}

impl Wal {
    pub(super) fn new(db: &Path) -> Wal {
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
    pub(super) fn sync(&mut self) -> std::io::Result<()> {
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

/// How far the writer's fsyncs have got. Groups are numbered as they are committed to the WAL
/// (where a crash of this process cannot lose them); each append is answered with its group's
/// number, and `synced` is the last group on disk.
pub(super) struct SyncState {
    synced: watch::Sender<u64>,
    /// An fsync failed: nothing is durable any more (`synced` is then `u64::MAX`).
    failed: AtomicBool,
    /// Why the writer stopped for good, once it has (`Journal::ready`, `Journal::failed`).
    stopped: watch::Sender<Option<String>>,
    /// Where the writer records how long commits and fsyncs take, once `/metrics` is set up.
    timings: OnceLock<Timings>,
}

impl SyncState {
    pub(super) fn new() -> SyncState {
        SyncState {
            synced: watch::Sender::new(0),
            failed: Default::default(),
            stopped: watch::Sender::new(None),
            timings: OnceLock::new(),
        }
    }

    /// Has the writer record its commit and fsync times in `timings` from now on.
    pub(super) fn record_timings(&self, timings: &Timings) {
        let _ = self.timings.set(timings.clone());
    }

    /// Records the time since `began` in the histogram `which` picks (if timings are set).
    pub(super) fn timed(&self, which: fn(&Timings) -> &Histogram, began: Instant) {
        if let Some(t) = self.timings.get() {
            crate::metrics::observe(which(t), began.elapsed());
        }
    }

    /// The last group on disk.
    pub(super) fn synced(&self) -> u64 {
        *self.synced.borrow()
    }

    /// Groups up to `written` are on disk.
    pub(super) fn publish(&self, written: u64) {
        self.synced.send_replace(written);
    }

    /// An fsync failed: every wait ends, with an error, and the store reports `reason`.
    pub(super) fn fail(&self, reason: String) {
        self.failed.store(true, Release);
        self.synced.send_replace(u64::MAX);
        self.stopped.send_replace(Some(reason));
    }

    /// Why the writer stopped for good, if it has.
    pub(super) fn stopped_reason(&self) -> Option<String> {
        self.stopped.borrow().clone()
    }

    /// Resolves once the writer has stopped for good, with the reason.
    pub(super) async fn stopped(&self) -> String {
        let mut rx = self.stopped.subscribe();
        let reason = match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone(),
            // The sender lives as long as `self`: not reached while anyone can wait here.
            Err(_) => None,
        };
        match reason {
            Some(reason) => reason,
            None => std::future::pending().await,
        }
    }

    /// Waits until group `mark` is on disk (`Journal::wait_durable`).
    pub(super) async fn wait_durable(&self, mark: u64) -> Result<(), StoreError> {
        let stopped = || StoreError::Unavailable("the writer stopped".into());
        let failed = || self.failed.load(Acquire);
        // The common case, already on disk: no subscription.
        if *self.synced.borrow() >= mark {
            return if failed() { Err(stopped()) } else { Ok(()) };
        }
        let mut rx = self.synced.subscribe();
        rx.wait_for(|synced| *synced >= mark)
            .await
            .map_err(|_| stopped())?;
        if failed() {
            return Err(stopped());
        }
        Ok(())
    }
}
