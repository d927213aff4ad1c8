//! The directory backend's bounded cache of file contents, so that any number of concurrent
//! downloads of a file share one copy of its bytes.

use crate::util::lock;
use bytes::Bytes;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// What identifies one version of a file on disk, from one cheap `metadata` call: a file
/// rewritten in place changes one or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub modified: Option<SystemTime>,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

/// At most this many bytes of file contents stay cached (the client's files total well
/// under a megabyte; this leaves room for a larger one without letting a stray file in the
/// directory pin memory). A file larger than the whole budget is read per request and not
/// kept. Bytes evicted while responses still send them live until those responses end.
pub const BUDGET: u64 = 64 * 1024 * 1024;

pub struct FileCache {
    budget: u64,
    entries: Mutex<Entries>,
    /// Held while a file is read into the cache: concurrent misses of one file wait for the
    /// first read and share its bytes instead of each reading a copy. Loads only happen
    /// when a file is first asked for or changes, so one at a time is enough.
    loading: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Entries {
    files: HashMap<PathBuf, Entry>,
    total: u64,
    /// Ticks on each hit or insert: eviction drops the least recently used.
    clock: u64,
}

struct Entry {
    stamp: Stamp,
    bytes: Bytes,
    used: u64,
}

impl FileCache {
    pub fn new(budget: u64) -> FileCache {
        FileCache {
            budget,
            entries: Mutex::new(Entries::default()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    /// The contents of `path` as of `stamp`: the cached copy when its stamp still matches,
    /// else read (and cached when it fits the budget).
    pub async fn get(&self, path: &Path, stamp: Stamp) -> io::Result<Bytes> {
        if let Some(bytes) = self.hit(path, stamp) {
            return Ok(bytes);
        }
        if stamp.len > self.budget {
            return read(path).await;
        }
        let _loading = self.loading.lock().await;
        if let Some(bytes) = self.hit(path, stamp) {
            return Ok(bytes);
        }
        let bytes = read(path).await?;
        // A length other than the stamp's means the file changed while it was read: send
        // what was read, but do not keep it under a stamp it does not match.
        if bytes.len() as u64 == stamp.len {
            self.insert(path, stamp, bytes.clone());
        }
        Ok(bytes)
    }

    fn hit(&self, path: &Path, stamp: Stamp) -> Option<Bytes> {
        let mut entries = lock(&self.entries);
        entries.clock += 1;
        let now = entries.clock;
        let entry = entries.files.get_mut(path)?;
        if entry.stamp != stamp {
            return None;
        }
        entry.used = now;
        Some(entry.bytes.clone())
    }

    fn insert(&self, path: &Path, stamp: Stamp, bytes: Bytes) {
        let mut entries = lock(&self.entries);
        if let Some(old) = entries.files.remove(path) {
            entries.total -= old.bytes.len() as u64;
        }
        let len = bytes.len() as u64;
        while entries.total + len > self.budget {
            let oldest = entries
                .files
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(p, _)| p.clone());
            let Some(oldest) = oldest else { break };
            if let Some(old) = entries.files.remove(&oldest) {
                entries.total -= old.bytes.len() as u64;
            }
        }
        entries.clock += 1;
        let used = entries.clock;
        entries.total += len;
        entries
            .files
            .insert(path.to_path_buf(), Entry { stamp, bytes, used });
    }

    #[cfg(test)]
    pub fn cached_bytes(&self) -> u64 {
        lock(&self.entries).total
    }
}

async fn read(path: &Path) -> io::Result<Bytes> {
    tokio::fs::read(path).await.map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp_of(path: &Path) -> Stamp {
        Stamp::of(&std::fs::metadata(path).expect("metadata"))
    }

    #[tokio::test]
    async fn concurrent_reads_share_one_copy() {
        let dir = tempdir("share");
        let path = dir.join("a.wasm");
        std::fs::write(&path, vec![7u8; 4096]).expect("write");
        let cache = std::sync::Arc::new(FileCache::new(BUDGET));
        let stamp = stamp_of(&path);
        let reads = (0..32).map(|_| {
            let (cache, path) = (cache.clone(), path.clone());
            tokio::spawn(async move { cache.get(&path, stamp).await.expect("read") })
        });
        let mut bodies = Vec::new();
        for r in reads {
            bodies.push(r.await.expect("task"));
        }
        // One allocation behind every body: same pointer, one copy counted.
        assert!(bodies.iter().all(|b| b.as_ptr() == bodies[0].as_ptr()));
        assert_eq!(cache.cached_bytes(), 4096);
    }

    #[tokio::test]
    async fn a_changed_file_is_read_again() {
        let dir = tempdir("change");
        let path = dir.join("index.html");
        std::fs::write(&path, "one").expect("write");
        let cache = FileCache::new(BUDGET);
        assert_eq!(
            cache.get(&path, stamp_of(&path)).await.expect("read"),
            "one"
        );
        std::fs::write(&path, "second").expect("write");
        assert_eq!(
            cache.get(&path, stamp_of(&path)).await.expect("read"),
            "second"
        );
        assert_eq!(cache.cached_bytes(), 6);
    }

    #[tokio::test]
    async fn the_budget_bounds_what_stays() {
        let dir = tempdir("budget");
        let cache = FileCache::new(10);
        let (a, b, big) = (dir.join("a"), dir.join("b"), dir.join("big"));
        std::fs::write(&a, "123456").expect("write");
        std::fs::write(&b, "abcdef").expect("write");
        std::fs::write(&big, "x".repeat(11)).expect("write");
        cache.get(&a, stamp_of(&a)).await.expect("read");
        cache.get(&b, stamp_of(&b)).await.expect("read");
        // Both do not fit: the least recently used one went.
        assert_eq!(cache.cached_bytes(), 6);
        assert!(cache.hit(&b, stamp_of(&b)).is_some());
        assert!(cache.hit(&a, stamp_of(&a)).is_none());
        // Larger than the whole budget: served, never kept.
        assert_eq!(
            cache.get(&big, stamp_of(&big)).await.expect("read").len(),
            11
        );
        assert_eq!(cache.cached_bytes(), 6);
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("chat-assets-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }
}
