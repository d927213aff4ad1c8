//! `server backup PATH` as an operator runs it: the real binary beside a running server that
//! keeps storing messages, then a fresh server on a data directory holding only the copy.

mod common;

use common::{Client, WAIT};
use shared::ServerMessage;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

const ROOM: &str = "backup";

/// An empty directory of its own under the system's temporary one.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-backup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn utf8(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `server <args>`, with no CHAT_* variable from around the test.
fn server(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CHAT_") {
            cmd.env_remove(key);
        }
    }
    cmd.args(args).output().expect("run server")
}

/// Sends `text` and waits for its ack: the id it was stored under.
async fn say_acked(c: &mut Client, text: &str) -> u64 {
    let cid = c.say(ROOM, text).await;
    let ack = c
        .recv_until(
            |m| matches!(m, ServerMessage::Ack { client_id, .. } if client_id.as_str() == cid),
        )
        .await;
    let ServerMessage::Ack { id, duplicate, .. } = ack else {
        unreachable!()
    };
    assert!(!duplicate, "{text} was a new message");
    id
}

/// The welcome's epoch, after `hello` as `nick`, joined to the room.
async fn joined(addr: &str, nick: &str) -> (Client, String) {
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    let ServerMessage::Welcome { epoch, .. } = c.hello(nick).await else {
        panic!("no welcome for {nick}")
    };
    let j = c.join(ROOM, None).await;
    assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
    (c, epoch)
}

/// A backup taken while a client keeps sending holds every message acked before it began;
/// a server started on a data directory holding only the copy serves them all, once each,
/// under the ids they were acked with, and announces a new epoch (its later ids are reused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_messages_arrive_restores_every_acked_one() {
    let dir = fresh_dir("online");
    let data = dir.join("data");
    let copy = dir.join("copy.db");
    let (running, addr) = common::run_binary(&["--data-dir", utf8(&data), "--rate-per-sec", "0"]);

    let (mut alice, epoch) = joined(&addr, "alice").await;
    let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    for i in 0..40 {
        let text = format!("alice {i}");
        let id = say_acked(&mut alice, &text).await;
        acked.lock().expect("lock").push((id, text));
    }
    drop(alice);

    // Bob keeps sending, one message after another's ack, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let (mut bob, _) = joined(&addr, "bob").await;
    let sender = tokio::spawn({
        let (acked, stop) = (acked.clone(), stop.clone());
        async move {
            let mut i = 0;
            while !stop.load(SeqCst) {
                let text = format!("bob {i}");
                let id = say_acked(&mut bob, &text).await;
                acked.lock().expect("lock").push((id, text));
                i += 1;
            }
            i
        }
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    while acked.lock().expect("lock").len() < 60 {
        assert!(tokio::time::Instant::now() < deadline, "bob's sends stall");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let before: Vec<(u64, String)> = acked.lock().expect("lock").clone();
    let args = ["backup", utf8(&copy), "--data-dir", utf8(&data)].map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        server(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .expect("backup ran");
    let during = acked.lock().expect("lock").len() - before.len();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    stop.store(true, SeqCst);
    let bobs = tokio::time::timeout(WAIT, sender)
        .await
        .expect("bob stops")
        .expect("bob's task");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" messages, "), "{stdout}");
    assert!(
        !dir.join("copy.db.partial").exists(),
        "the partial file is gone"
    );
    drop(running);

    let restored = dir.join("restored");
    std::fs::create_dir_all(&restored).expect("mkdir");
    std::fs::copy(&copy, restored.join("chat.db")).expect("restore the copy");
    let (_again, addr) = common::run_binary(&["--data-dir", utf8(&restored)]);
    let (mut carol, new_epoch) = joined(&addr, "carol").await;
    assert_ne!(new_epoch, epoch, "a restored store names a new id space");
    let got = common::full_history(&mut carol, ROOM).await;

    let ids: Vec<u64> = got.iter().map(|(id, _)| *id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids in order, once each: {ids:?}"
    );
    let texts: HashSet<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), got.len(), "no message twice: {got:?}");
    let by_text: HashMap<&str, u64> = got.iter().map(|(id, t)| (t.as_str(), *id)).collect();
    for (id, text) in &before {
        assert_eq!(
            by_text.get(text.as_str()),
            Some(id),
            "`{text}` (acked as {id} before the backup) is restored under its id"
        );
    }
    let sent: HashMap<String, u64> = acked
        .lock()
        .expect("lock")
        .iter()
        .map(|(id, t)| (t.clone(), *id))
        .collect();
    for (id, text) in &got {
        // A message committed but not yet acked when the snapshot was taken may be there too.
        let known = text.starts_with("bob ") || sent.contains_key(text);
        assert!(known, "`{text}` was never sent");
        if let Some(acked_id) = sent.get(text) {
            assert_eq!(acked_id, id, "`{text}` keeps its id");
        }
    }
    eprintln!(
        "{} acked before the backup, {during} during it, {bobs} by bob in all; {} restored",
        before.len(),
        got.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file at PATH is never replaced: the command fails with a clear message and leaves it.
#[test]
fn a_backup_never_replaces_a_file() {
    let dir = fresh_dir("exists");
    let data = dir.join("data");
    let (running, _addr) = common::run_binary(&["--data-dir", utf8(&data)]);
    let path = dir.join("precious");
    std::fs::write(&path, "keep me").expect("write");
    let out = server(&["backup", utf8(&path), "--data-dir", utf8(&data)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "keep me");
    assert!(!dir.join("precious.partial").exists());
    // The same command to a new path works.
    let fresh = dir.join("fresh.db");
    let out = server(&["backup", utf8(&fresh), "--data-dir", utf8(&data)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fresh.is_file());
    drop(running);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without a store there is nothing to copy: a clear error, and nothing is created.
#[test]
fn a_backup_needs_a_store() {
    let dir = fresh_dir("missing");
    let data = dir.join("nothing-here");
    let path = dir.join("copy.db");
    let out = server(&["backup", utf8(&path), "--data-dir", utf8(&data)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no SQLite store"), "{err}");
    assert!(!data.exists(), "the data directory was not made");
    assert!(!path.exists() && !dir.join("copy.db.partial").exists());

    let out = server(&["backup", utf8(&path), "--store", "memory"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("memory store"), "{err}");
    let out = server(&["backup", utf8(&path), "--redis", "redis://127.0.0.1:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Redis"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
