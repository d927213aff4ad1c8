//! A connection to `chat.db` on a thread of its own, for the accounts and the conversations
//! stores: every guest's `hello` and every join asks them something, and on Tokio's blocking
//! pool a burst of connections would start a thread (and a stack) for each query in flight.
//! Their queries run there one at a time, except reads of a row or a few by an index, which
//! run on the caller's thread when [`Lookup`] can take them (the hop costs more than such a
//! read: in a reconnect storm, waking these threads took as much of the server's CPU as the
//! queries did).

use super::ensure_data_dir;
use super::lookup::Lookup;
use super::schema::{err, open_migrated};
use crate::error::StoreError;
use crate::util::lock;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Mutex;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

pub(crate) struct OwnThread {
    /// To the connection's thread, which ends when this is dropped.
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    lookup: Lookup,
    name: &'static str,
}

impl OwnThread {
    /// Opens `<data_dir>/chat.db` (creating the directory and the database if missing),
    /// brings its schema up to date, and starts the thread `name`.
    pub(crate) fn open(data_dir: &Path, name: &'static str) -> Result<OwnThread, StoreError> {
        ensure_data_dir(data_dir)?;
        let path = data_dir.join("chat.db");
        let mut conn = open_migrated(&path)?;
        let lookup = Lookup::open(&path)?;
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                for job in queue {
                    job(&mut conn);
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the {name} thread: {e}")))?;
        Ok(OwnThread {
            jobs: Mutex::new(jobs),
            lookup,
            name,
        })
    }

    /// Runs `f` on the connection, on its thread.
    pub(crate) async fn run<T, E>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |c| {
            let _ = done.send(f(c));
        });
        let gone = || StoreError::Unavailable(format!("the {} thread has stopped", self.name));
        lock(&self.jobs).send(job).map_err(|_| gone())?;
        result.await.map_err(|_| gone())?
    }

    /// `run`, with SQLite's errors as [`StoreError`]s.
    pub(crate) async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(move |c| f(c).map_err(err)).await
    }

    /// A read by index: on the caller's thread when [`Lookup`] can take it, else `query`'s way.
    pub(crate) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        match self.lookup.now(&f) {
            Some(answer) => answer,
            None => self.query(move |c| f(c)).await,
        }
    }

    #[cfg(test)]
    pub(crate) fn lookup(&self) -> &Lookup {
        &self.lookup
    }
}
