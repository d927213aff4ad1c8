//! Reads answered on the caller's thread (see `own_thread` for why): a read-only connection
//! of a store's own (WAL: a writer never blocks it), used when it is free and SQLite answers
//! without waiting (a busy timeout of zero). Otherwise the caller sends the read to its
//! store's thread (history: to the blocking pool), whose connection waits as it always has.

use super::schema::{err, open_reader};
use crate::error::StoreError;
use rusqlite::{Connection, ErrorCode};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

pub(crate) struct Lookup {
    /// Only ever tried, never waited for: a caller that finds it taken uses the thread.
    conn: Mutex<Connection>,
}

impl Lookup {
    /// A read-only connection to the database at `path`, which must exist with its schema.
    pub(crate) fn open(path: &Path) -> Result<Lookup, StoreError> {
        let conn = open_reader(path)?;
        conn.busy_timeout(Duration::ZERO).map_err(err)?;
        Ok(Lookup {
            conn: Mutex::new(conn),
        })
    }

    /// `f`'s answer, read here; `None` when another thread holds the connection or SQLite
    /// would have to wait for a lock (the caller then asks its store's thread).
    pub(crate) fn now<T>(
        &self,
        f: &impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> Option<Result<T, StoreError>> {
        let conn = self.conn.try_lock().ok()?;
        match f(&conn) {
            Err(e) if would_wait(&e) => None,
            answer => Some(answer.map_err(err)),
        }
    }
}

#[cfg(test)]
impl Lookup {
    /// Takes the connection, as a read on another thread would.
    pub(crate) fn hold(&self) -> std::sync::MutexGuard<'_, Connection> {
        crate::util::lock(&self.conn)
    }
}

/// SQLite would have had to wait for a lock (its busy timeout was zero).
pub(super) fn would_wait(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::schema::open_migrated;

    fn count(c: &Connection) -> rusqlite::Result<i64> {
        c.query_row("SELECT count(*) FROM rooms", [], |r| r.get(0))
    }

    /// A new database in a directory of the test's own, with one room.
    fn database(name: &str) -> (std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("chat-lookup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chat.db");
        let conn = open_migrated(&path).unwrap();
        conn.execute("INSERT INTO rooms (name, invite_only) VALUES ('a', 0)", [])
            .unwrap();
        (path, conn)
    }

    #[test]
    fn a_free_connection_answers_here_and_sees_what_others_committed() {
        let (path, conn) = database("free");
        let lookup = Lookup::open(&path).unwrap();
        assert_eq!(lookup.now(&count).unwrap().unwrap(), 1);
        conn.execute("INSERT INTO rooms (name, invite_only) VALUES ('b', 0)", [])
            .unwrap();
        assert_eq!(lookup.now(&count).unwrap().unwrap(), 2);
        // An error that is no lock is the answer, not a reason to ask again.
        let bad = |c: &Connection| c.query_row("SELECT nothing FROM rooms", [], |r| r.get(0));
        assert!(matches!(lookup.now::<i64>(&bad), Some(Err(_))));
    }

    #[test]
    fn a_taken_connection_or_a_locked_database_leaves_the_read_to_the_caller() {
        let (path, conn) = database("locked");
        let lookup = Lookup::open(&path).unwrap();
        {
            let _held = lookup.hold();
            assert!(lookup.now(&count).is_none(), "in use on another thread");
        }
        // A connection in exclusive locking mode keeps every other one out of the file.
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .unwrap();
        conn.execute("INSERT INTO rooms (name, invite_only) VALUES ('b', 0)", [])
            .unwrap();
        assert!(
            lookup.now(&count).is_none(),
            "locked: it would have to wait"
        );
        conn.pragma_update(None, "locking_mode", "NORMAL").unwrap();
        // The lock goes with the next access in normal mode.
        count(&conn).unwrap();
        assert_eq!(lookup.now(&count).unwrap().unwrap(), 2);
    }
}
