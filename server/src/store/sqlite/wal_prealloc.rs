//! Writing the WAL out to its working size when the store opens.
//!
//! SQLite checkpoints the WAL once it holds `wal_autocheckpoint` pages and then writes it again
//! from the start, so a server that has run a while appends its commits over blocks the file
//! already has. A fresh WAL (a new database, or any start: the shutdown's checkpoint truncates
//! it) grows with every commit instead, and each commit's fdatasync must then also write the
//! file's new size and block map: on ext4 over virtio, one more write and wait per commit. One
//! sender at 50 msg/s (4 alternating runs each): the writer spent 406–451 µs of CPU and 5.4
//! context switches per message in a growing WAL, 355–361 µs and 4.1 in a written one. Written
//! once at the start, the WAL costs the latter from the first message on.
//!
//! The bytes written are zeros. Recovery reads frames from the start while each one carries the
//! header's salt and a valid checksum; a zero header is no WAL at all, and zeros after the last
//! frame end it, as a stale frame of an older generation does.

use rusqlite::Connection;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

/// Frames SQLite adds to its header per page (`WAL_FRAME_HDRSIZE`), and its header's size.
const FRAME_HEADER: u64 = 24;
const WAL_HEADER: u64 = 32;
/// Frames past the checkpoint's threshold: the commit that crosses it, and a group's margin.
const SPARE_FRAMES: u64 = 64;
/// Zeros written per `write`. The page cache sizes a new folio by the write that makes it, and
/// every later write into a folio walks all its buffer heads (ext4), as its writeback does: in
/// 1 MiB writes the WAL was 1 MiB folios, and a commit's small writes walked 256 of them each.
/// 64 KiB folios cost a frame's write 16, and a big group's fsync 16 times fewer folios than
/// page-sized ones (see bench/README.md: the writer's CPU, and throughput, for all three).
const CHUNK: usize = 64 * 1024;

/// The size the WAL of `conn` reaches before its automatic checkpoint starts it over.
pub(super) fn working_size(conn: &Connection) -> rusqlite::Result<u64> {
    let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages: i64 = conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?;
    let pages = pages.max(0) as u64 + SPARE_FRAMES;
    Ok(WAL_HEADER + pages * (page.max(0) as u64 + FRAME_HEADER))
}

/// Extends the WAL at `wal` with zeros to `size` bytes and fsyncs it; a WAL that already has
/// that size is left as it is. Returns the bytes added.
pub(super) fn extend(wal: &Path, size: u64) -> std::io::Result<u64> {
    let mut f = OpenOptions::new().append(true).open(wal)?;
    let len = f.metadata()?.len();
    if len >= size {
        return Ok(0);
    }
    let zeros = vec![0u8; CHUNK];
    let mut left = size - len;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        f.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    f.sync_data()?;
    Ok(size - len)
}
