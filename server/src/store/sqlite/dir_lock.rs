//! The data directory's lock: one server per directory. Two writers would each count ids from
//! what they loaded and hand out the same ones, so a second server refuses to start.

use crate::error::StoreError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// An exclusive `flock` on `<data_dir>/chat.lock`, held while this value lives. The kernel
/// drops it when the process dies, however it dies, so a crash never leaves a stale lock; the
/// pid written inside only names the holder in the error.
pub(super) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(super) fn acquire(data_dir: &Path) -> Result<DirLock, StoreError> {
        let path = data_dir.join("chat.lock");
        let unavailable = |e: std::io::Error| {
            StoreError::Unavailable(format!("lock file {}: {e}", path.display()))
        };
        // Not truncated on open: the holder's pid must stay readable for the error below.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(unavailable)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let pid = match holder.trim() {
                    "" => "unknown".to_string(),
                    pid => pid.to_string(),
                };
                return Err(StoreError::Unavailable(format!(
                    "data directory {} is in use by another server (pid {pid})",
                    data_dir.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(unavailable(e)),
        }
        file.set_len(0).map_err(unavailable)?;
        file.seek(SeekFrom::Start(0)).map_err(unavailable)?;
        writeln!(file, "{}", std::process::id()).map_err(unavailable)?;
        Ok(DirLock { _file: file })
    }
}
