//! What the durable default costs per message at its best, for `bench/run.sh`: the store's part
//! of the throughput scenario's durable bound (see `bench/README.md`).
//!
//! The throughput scenario has at most `GROUP` (its window: 100 senders × 8) messages in flight,
//! so no server can commit more than that many in one group: the CPU per message at that group
//! size is the least the store can add to each message's fan-out. Two measures, each alone on
//! the CPU this runs on:
//!
//! - `ours`: the SQLite store itself (`SqliteStore`: its schema, writer thread and fsync), `GROUP`
//!   appends handed over at once, then their durable mark awaited, `MESSAGES` in all. Its CPU is
//!   the writer thread's (the commits, fsyncs and answers) and nothing else: what the hub spends
//!   on a message (building it, awaiting the answer) is left to the fan-out's side, so this
//!   stays a least cost.
//! - `bare`: the least any store that puts each message in SQLite costs: a rowid table of one
//!   column (the message as JSON), `GROUP` inserts per transaction, the WAL fsynced after each.
//!
//! Usage: `store-floor DIR [GROUP] [MESSAGES]` (defaults 800, 200000). Prints one JSON line: the
//! group size, the groups `ours` committed, and each measure's CPU per message (µs).

use futures_util::future::join_all;
use rusqlite::Connection;
use server::store::{Journal, Meta, Retention, SqliteStore, StoredMessage};
use shared::{MessageText, Nickname};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(Path::new) else {
        eprintln!("usage: store-floor DIR [GROUP] [MESSAGES]");
        std::process::exit(2);
    };
    let num = |i: usize, default: usize| -> usize {
        args.get(i).map_or(default, |s| {
            s.parse().unwrap_or_else(|_| {
                eprintln!("store-floor: not a number: {s}");
                std::process::exit(2)
            })
        })
    };
    let (group, messages) = (num(1, 800).max(1), num(2, 200_000).max(1));
    let rounds = messages.div_ceil(group);
    let ours = ours(&dir.join("ours"), group, rounds);
    let bare = bare(&dir.join("bare"), group, rounds);
    match (ours, bare) {
        (Ok((ours_us, groups)), Ok(bare_us)) => println!(
            "{}",
            serde_json::json!({
                "group": group,
                "messages": rounds * group,
                "ours_groups": groups,
                "ours_cpu_us_per_message": ours_us,
                "bare_cpu_us_per_message": bare_us,
            })
        ),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("store-floor: {e}");
            std::process::exit(1);
        }
    }
}

/// A message as the hub stores one of the throughput scenario's (`/ws`, 100 bytes of text).
fn message(id: u64) -> StoredMessage {
    StoredMessage {
        channel: "general".into(),
        id,
        sender: Nickname::new(format!("tp{}", id % 100)).expect("a valid nickname"),
        text: MessageText::new("m".repeat(100)).expect("a valid text"),
        ts: 1_700_000_000_000 + id as i64,
        client_id: None,
        author: None,
        meta: Meta::default(),
    }
}

/// Our store: CPU per message (µs) over `rounds` groups of `group` appends, and how many
/// groups the writer made of them. A tenth as many rounds go first as a warm-up.
fn ours(dir: &Path, group: usize, rounds: usize) -> Result<(f64, usize), String> {
    let _ = std::fs::remove_dir_all(dir);
    let retention = Retention {
        per_channel: 0,
        max_age: None,
        every: Duration::from_secs(3600),
    };
    let store = SqliteStore::open(dir, retention, true).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| e.to_string())?;
    let warmup = (rounds / 10).max(1);
    let mut ids = 1u64..;
    let mut batch = |n: usize| -> Vec<Vec<StoredMessage>> {
        (0..n)
            .map(|_| ids.by_ref().take(group).map(message).collect())
            .collect()
    };
    let (warm, measured) = (batch(warmup), batch(rounds));
    let run = |batches: Vec<Vec<StoredMessage>>| -> Result<usize, String> {
        rt.block_on(async {
            let mut marks = HashSet::new();
            for b in batches {
                let done = join_all(b.into_iter().map(|m| store.append_marked(m))).await;
                let mut last = 0;
                for d in done {
                    let (_, mark) = d.map_err(|e| e.to_string())?;
                    marks.insert(mark);
                    last = last.max(mark);
                }
                store.wait_durable(last).await.map_err(|e| e.to_string())?;
            }
            Ok(marks.len())
        })
    };
    run(warm)?;
    let cpu0 = cpu_ns(Some("sqlite-writer"))?;
    let groups = run(measured)?;
    let cpu = cpu_ns(Some("sqlite-writer"))? - cpu0;
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
    Ok((cpu as f64 / 1e3 / (rounds * group) as f64, groups))
}

/// A bare SQLite table: CPU per message (µs), warm-up as in `ours`.
fn bare(dir: &Path, group: usize, rounds: usize) -> Result<f64, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let e = |e: rusqlite::Error| e.to_string();
    let mut conn = Connection::open(dir.join("bare.db")).map_err(e)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(e)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(e)?;
    conn.execute_batch("CREATE TABLE m (body BLOB NOT NULL)")
        .map_err(e)?;
    let wal = std::fs::File::open(dir.join("bare.db-wal")).map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&serde_json::json!({
        "sender": "tp1", "msg": "m".repeat(100), "channel": "general", "id": 1, "ts": 0
    }))
    .map_err(|e| e.to_string())?;
    let round = |conn: &mut Connection| -> Result<(), String> {
        let tx = conn.transaction().map_err(e)?;
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO m (body) VALUES (?1)")
                .map_err(e)?;
            for _ in 0..group {
                insert.execute([&body]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        wal.sync_data().map_err(|e| e.to_string())
    };
    for _ in 0..(rounds / 10).max(1) {
        round(&mut conn)?;
    }
    let cpu0 = cpu_ns(None)?;
    for _ in 0..rounds {
        round(&mut conn)?;
    }
    let cpu = cpu_ns(None)? - cpu0;
    drop(conn);
    let _ = std::fs::remove_dir_all(dir);
    Ok(cpu as f64 / 1e3 / (rounds * group) as f64)
}

/// Time on a CPU so far (ns) of this process's threads named `name` (all of them with None):
/// the sum of their `schedstat`.
fn cpu_ns(name: Option<&str>) -> Result<u64, String> {
    let mut total = 0;
    let tasks = std::fs::read_dir("/proc/self/task").map_err(|e| e.to_string())?;
    for t in tasks {
        let dir = t.map_err(|e| e.to_string())?.path();
        // A thread that ended meanwhile has no files any more.
        if let Some(name) = name {
            match std::fs::read_to_string(dir.join("comm")) {
                Ok(comm) if comm.trim_end() == name => {}
                _ => continue,
            }
        }
        let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) else {
            continue;
        };
        total += s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("unreadable {}", dir.display()))?;
    }
    Ok(total)
}
