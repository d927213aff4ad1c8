//! A database written by an older server opens, migrates and keeps everything: history, ids
//! that go on, and the client ids of sends already stored. `fixtures/chat-8b4ee9e.db` was
//! written by the server at 8b4ee9e (schema 4), the baseline the store shipped with: Alice
//! sent five messages to `general` and to `old-room` (client ids `<room>-<n>`) and one
//! direct message to bob (`dm-1`). Migrated, it holds the accounts too (schema 6).

mod common;

use common::*;
use server::auth::accounts::sqlite::SqliteAccounts;
use server::auth::{Accounts, NewAccount};
use server::nick_key::NickKey;
use shared::{ClientMessage, ClientMsgId, ServerMessage};
use std::path::PathBuf;

fn fixture_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-migrate-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let src = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chat-8b4ee9e.db"
    );
    std::fs::copy(src, dir.join("chat.db")).expect("copy the fixture");
    dir
}

fn send(room_s: &str, t: &str, cid: &str) -> ClientMessage {
    ClientMessage::Send {
        room: room(room_s),
        text: text(t),
        client_id: ClientMsgId::new(cid).expect("cid"),
    }
}

async fn ack(c: &mut Client, msg: ClientMessage) -> (u64, bool) {
    c.send(&msg).await;
    match c
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
        .await
    {
        ServerMessage::Ack { id, duplicate, .. } => (id, duplicate),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_database_of_the_first_release_opens_migrates_and_keeps_everything() {
    let dir = fixture_dir("keep");
    let dir_s = dir.to_string_lossy().to_string();
    let (server, addr) = run_binary(&["--data-dir", dir_s.as_str()]);
    let mut alice = Client::open(&format!("ws://{addr}/chat")).await;
    alice.hello("Alice").await;
    let ServerMessage::Joined { history, .. } = alice.join("general", None).await else {
        panic!("joined")
    };
    let got: Vec<(u64, String, String)> = history
        .iter()
        .map(|m| (m.id, m.sender.to_string(), m.text.to_string()))
        .collect();
    let want: Vec<(u64, String, String)> = (1..=5)
        .map(|i| (i, "Alice".into(), format!("general message {i} é <b>")))
        .collect();
    assert_eq!(got, want);
    // Sends stored by the old server are recognised, and ids go on after them (the resend
    // was given id 6 before the store recognised it, which stays a hole).
    assert_eq!(
        ack(&mut alice, send("general", "again", "general-3")).await,
        (3, true)
    );
    assert_eq!(
        ack(&mut alice, send("general", "new", "general-6")).await,
        (7, false)
    );
    let ServerMessage::Joined { history, .. } = alice.join("old-room", Some(2)).await else {
        panic!("joined")
    };
    assert_eq!(history.iter().map(|m| m.id).collect::<Vec<_>>(), [3, 4, 5]);
    // Guests' direct messages are live only now: delivered, not stored, so their ids do not
    // go on from the stored conversation's.
    let mut bob = Client::open(&format!("ws://{addr}/chat")).await;
    bob.hello("bob").await;
    let dm = ClientMessage::Direct {
        to: nick("bob"),
        text: text("still there?"),
        client_id: ClientMsgId::new("dm-2").expect("cid"),
    };
    let (id, duplicate) = ack(&mut alice, dm).await;
    assert!(id > 2 && !duplicate, "a live id: {id}");
    drop(server);
    let version: i64 = rusqlite::Connection::open(dir.join("chat.db"))
        .expect("open")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    assert_eq!(version, 8, "migrated from 4");
    // The accounts open on the migrated database, beside its history.
    let accounts = SqliteAccounts::open(&dir).expect("open the accounts");
    let made = accounts
        .create(NewAccount {
            name: nick("Alice"),
            phc: Some("phc".into()),
            external: None,
            now: 1,
            cap: 0,
        })
        .await
        .expect("create an account");
    assert_eq!(made.id, 1);
    assert_eq!(
        accounts
            .by_key(&NickKey::of(&nick("alice")))
            .await
            .expect("by_key"),
        Some(made)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A database from a newer server is refused, untouched, with a clear error.
#[test]
fn a_database_newer_than_the_server_is_refused_untouched() {
    let dir = fixture_dir("newer");
    let db = dir.join("chat.db");
    rusqlite::Connection::open(&db)
        .expect("open")
        .pragma_update(None, "user_version", 99)
        .expect("set version");
    let before = std::fs::read(&db).expect("read");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("newer than this server"), "{stderr}");
    assert_eq!(
        std::fs::read(&db).expect("read"),
        before,
        "the file is untouched"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
