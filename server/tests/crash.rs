//! Durability: the real server on SQLite is killed with SIGKILL mid-stream and restarted on
//! the same data directory. Every acked message is in history exactly once, every reader sees
//! the same order, and readers resume without gaps or duplicates. Run at several kill points.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use shared::{ClientMessage, ClientMsgId, ServerMessage};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const ROOMS: [&str; 2] = ["alpha", "beta"];

fn spawn(dir: &Path) -> (Child, String) {
    let dir = dir.to_str().expect("utf-8 temp path");
    spawn_binary(&[
        "--store",
        "sqlite",
        "--rate-per-sec",
        "0",
        "--data-dir",
        dir,
    ])
}

async fn connect(addr: &str, nick: &str) -> Client {
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    assert!(matches!(c.hello(nick).await, ServerMessage::Welcome { .. }));
    c
}

#[derive(Default)]
struct SenderLog {
    /// client_id -> (room, text), in send order.
    sent: Vec<(String, String, String)>,
    acked: HashMap<String, u64>,
}

/// Sends steadily until the connection breaks; logs what was sent and acked.
async fn sender(addr: String, idx: usize, log: Arc<Mutex<SenderLog>>) {
    let mut c = connect(&addr, &format!("sender{idx}")).await;
    for r in ROOMS {
        c.join(r, None).await;
    }
    let (mut tx, mut rx) = c.ws.split();
    let log2 = log.clone();
    let acks = tokio::spawn(async move {
        while let Some(Ok(Message::Text(t))) = rx.next().await {
            if let Ok(ServerMessage::Ack { client_id, id, .. }) = serde_json::from_str(&t) {
                log2.lock()
                    .expect("log")
                    .acked
                    .insert(client_id.to_string(), id);
            }
        }
    });
    // At most the idempotency window's share of one sender (its newest 1,000 client ids): the
    // resends after the restart must all be recognised.
    for n in 0..1000 {
        let room_s = ROOMS[n % 2];
        let cid = format!("s{idx}-{n}");
        let body = format!("msg {cid}");
        log.lock()
            .expect("log")
            .sent
            .push((cid.clone(), room_s.to_string(), body.clone()));
        let m = ClientMessage::Send {
            room: room(room_s),
            text: text(&body),
            client_id: ClientMsgId::new(cid).expect("cid"),
        };
        if tx.send(Message::Text(m.to_json().into())).await.is_err() {
            break;
        }
        // About 1,000 a second at most: still sending when the late kill comes.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = acks.await;
}

/// Reads a room live until the connection breaks; returns the ids seen.
async fn reader(addr: String, nick: String, room_s: &'static str) -> Vec<u64> {
    let mut c = connect(&addr, &nick).await;
    let mut seen = Vec::new();
    if let ServerMessage::Joined { history, .. } = c.join(room_s, None).await {
        seen.extend(history.iter().map(|m| m.id));
    }
    while let Some(Ok(m)) = c.ws.next().await {
        if let Message::Text(t) = m {
            if let Ok(ServerMessage::Message(m)) = serde_json::from_str(&t) {
                seen.push(m.id);
            }
        }
    }
    seen
}

async fn crash_and_recover(kill_after: Duration, tag: &str) {
    let dir = std::env::temp_dir().join(format!("chat-crash-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut child, addr) = spawn(&dir);

    let logs: Vec<Arc<Mutex<SenderLog>>> = (0..3).map(|_| Arc::default()).collect();
    let mut readers = Vec::new();
    for (i, r) in ROOMS.iter().enumerate() {
        for k in 0..2 {
            readers.push((
                r,
                tokio::spawn(reader(addr.clone(), format!("reader{i}{k}"), r)),
            ));
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let senders: Vec<_> = logs
        .iter()
        .enumerate()
        .map(|(i, l)| tokio::spawn(sender(addr.clone(), i, l.clone())))
        .collect();

    tokio::time::sleep(kill_after).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    for s in senders {
        tokio::time::timeout(Duration::from_secs(10), s)
            .await
            .expect("sender ends")
            .expect("sender");
    }
    let mut live: Vec<(&str, Vec<u64>)> = Vec::new();
    for (r, h) in readers {
        live.push((
            r,
            tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .expect("reader ends")
                .expect("reader"),
        ));
    }
    let acked_before: usize = logs
        .iter()
        .map(|l| l.lock().expect("log").acked.len())
        .sum();
    assert!(
        acked_before > 0,
        "no message was acked before the kill at {kill_after:?}"
    );

    // Restart on the same data directory.
    let (mut child, addr) = spawn(&dir);

    // Senders come back and resend everything (same client ids): acked ones are recognised,
    // the rest are stored now.
    for (i, log) in logs.iter().enumerate() {
        let mut c = connect(&addr, &format!("sender{i}")).await;
        for r in ROOMS {
            c.join(r, None).await;
        }
        let sent = log.lock().expect("log").sent.clone();
        for (cid, room_s, t) in sent {
            c.send(&ClientMessage::Send {
                room: room(&room_s),
                text: text(&t),
                client_id: ClientMsgId::new(cid.clone()).expect("cid"),
            })
            .await;
            let ServerMessage::Ack { id, duplicate, .. } = c
                .recv_until(|m| {
                    matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. })
                })
                .await
            else {
                panic!("resend refused")
            };
            let before = log.lock().expect("log").acked.get(&cid).copied();
            if let Some(old) = before {
                assert!(
                    duplicate,
                    "{cid} was acked before the crash: the resend must be a duplicate"
                );
                assert_eq!(old, id, "{cid}: same id as the original ack");
            }
        }
    }

    // Everything acked is stored exactly once, in one order.
    let mut checker = connect(&addr, "checker").await;
    let mut histories = HashMap::new();
    for r in ROOMS {
        let h = full_history(&mut checker, r).await;
        let ids: Vec<u64> = h.iter().map(|m| m.0).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase in {r}");
        let texts: HashSet<&String> = h.iter().map(|m| &m.1).collect();
        assert_eq!(texts.len(), h.len(), "no message stored twice in {r}");
        histories.insert(r, h);
    }
    for log in &logs {
        let log = log.lock().expect("log");
        for (cid, room_s, t) in &log.sent {
            let h = &histories[room_s.as_str()];
            let found: Vec<&(u64, String)> = h.iter().filter(|m| &m.1 == t).collect();
            assert_eq!(found.len(), 1, "{cid} must be stored exactly once");
            if let Some(id) = log.acked.get(cid) {
                assert_eq!(found[0].0, *id, "{cid} keeps its acked id");
            }
        }
    }

    // Readers resume from their last seen id: live + resumed == the room's history, exactly.
    for (i, (r, seen)) in live.into_iter().enumerate() {
        let mut c = connect(&addr, &format!("reader-again{i}")).await;
        let after = seen.last().copied().unwrap_or(0);
        let mut all = seen.clone();
        let mut page_after = after;
        let ServerMessage::Joined {
            history,
            mut has_more,
            ..
        } = c.join(r, Some(after)).await
        else {
            panic!()
        };
        all.extend(history.iter().map(|m| m.id));
        page_after = history.last().map_or(page_after, |m| m.id);
        while has_more {
            c.send(&ClientMessage::History {
                room: room(r),
                before: None,
                after: Some(page_after),
                limit: Some(200),
            })
            .await;
            let ServerMessage::History {
                messages,
                has_more: more,
                ..
            } = c
                .recv_until(|m| matches!(m, ServerMessage::History { .. }))
                .await
            else {
                unreachable!()
            };
            all.extend(messages.iter().map(|m| m.id));
            page_after = messages.last().map_or(page_after, |m| m.id);
            has_more = more;
        }
        let expected: Vec<u64> = histories[r].iter().map(|m| m.0).collect();
        assert_eq!(
            all, expected,
            "reader {i} of {r}: no gap, no duplicate, same order"
        );
    }

    eprintln!(
        "kill after {kill_after:?}: {acked_before} acked before the kill, {} + {} messages stored",
        histories["alpha"].len(),
        histories["beta"].len()
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_early_loses_nothing_acked() {
    crash_and_recover(Duration::from_millis(150), "early").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_acked() {
    crash_and_recover(Duration::from_millis(500), "mid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_late_loses_nothing_acked() {
    crash_and_recover(Duration::from_millis(1200), "late").await;
}

#[test]
fn unusable_data_directory_is_a_clear_startup_error() {
    let file = std::env::temp_dir().join(format!("chat-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, "keep me").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", "127.0.0.1:0", "--store", "sqlite", "--data-dir"])
        .arg(&file)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a directory"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");

    let dir = std::env::temp_dir().join(format!("chat-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("chat.db"), "garbage ".repeat(1000)).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", "127.0.0.1:0", "--store", "sqlite", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a readable chat database"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("chat.db")).expect("read"),
        "garbage ".repeat(1000)
    );
}

async fn welcome_epoch(addr: &str) -> String {
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    match c.hello("epoch-check").await {
        ServerMessage::Welcome { epoch, .. } => epoch,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn history_epoch_is_kept_by_sqlite_and_new_for_each_memory_process() {
    let dir = std::env::temp_dir().join(format!("chat-epoch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut first, addr) = spawn(&dir);
    let e1 = welcome_epoch(&addr).await;
    first.kill().expect("kill");
    let _ = first.wait();
    let (mut second, addr) = spawn(&dir);
    assert_eq!(
        welcome_epoch(&addr).await,
        e1,
        "same database, same id space"
    );
    second.kill().expect("kill");
    let _ = second.wait();
    let _ = std::fs::remove_dir_all(&dir);

    let mut epochs = Vec::new();
    for _ in 0..2 {
        let (mut child, addr) = spawn_binary(&["--store", "memory"]);
        epochs.push(welcome_epoch(&addr).await);
        child.kill().expect("kill");
        let _ = child.wait();
    }
    assert_ne!(
        epochs[0], epochs[1],
        "a restarted memory store starts a new id space"
    );
}
