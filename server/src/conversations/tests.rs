//! The conformance suite on memory and SQLite, and what only SQLite has to do: keep it all
//! across a reopen, beside the message store.

use super::memory::MemoryConversations;
use super::sqlite::SqliteConversations;
use super::*;
use crate::store::{History, Journal, Retention, SqliteStore, StoredMessage};
use shared::{MessageText, Nickname, FOREVER};
use std::time::Duration;

const T: Timestamp = 1_700_000_000_000;

#[tokio::test]
async fn memory_conforms() {
    conformance::run(&MemoryConversations::new()).await;
}

#[tokio::test]
async fn sqlite_conforms() {
    let dir = tmpdir("conform");
    conformance::run(&SqliteConversations::open(&dir).expect("open")).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sqlite_keeps_everything_across_a_reopen() {
    let dir = tmpdir("reopen");
    let private = RoomRules {
        invite_only: true,
        owner: Some(7),
    };
    let public = RoomRules {
        invite_only: false,
        owner: None,
    };
    let ban = Sanction {
        subject: subject(Some(11), "alice"),
        kind: SanctionKind::Ban,
        until: FOREVER,
    };
    let mute = Sanction {
        subject: subject(None, "mallory"),
        kind: SanctionKind::Mute,
        until: T + 60_000,
    };
    {
        let c = SqliteConversations::open(&dir).expect("open");
        assert!(c.create_room("ops", private).await.expect("create"));
        c.set_rules("lobby", public).await.expect("set");
        assert_eq!(c.add(1, "ops", 3, T).await.expect("add"), Added::New);
        assert_eq!(c.add(1, "dm:a:b", 0, T + 1).await.expect("add"), Added::New);
        assert_eq!(c.add(2, "general", 8, T).await.expect("add"), Added::New);
        assert_eq!(c.mark_read(1, "ops", 12).await.expect("mark"), Some(12));
        assert!(c.sanction("ops", ban.clone(), T).await.expect("ban"));
        assert!(c.sanction("ops", mute.clone(), T).await.expect("mute"));
        assert!(c
            .ban_guest("eve", Some("10.0.0.1"), FOREVER, T)
            .await
            .expect("guest ban"));
    }
    let c = SqliteConversations::open(&dir).expect("reopen");
    assert_eq!(c.rules("ops").await.expect("rules"), Some(private));
    assert_eq!(c.rules("lobby").await.expect("rules"), Some(public));
    assert_eq!(
        c.invite_only_among(&["ops".into(), "lobby".into()])
            .await
            .expect("among"),
        vec!["ops".to_string()]
    );
    assert_eq!(
        c.list(1, 10).await.expect("list"),
        vec![("dm:a:b".to_string(), 0), ("ops".to_string(), 12)]
    );
    assert_eq!(c.read_mark(2, "general").await.expect("mark"), Some(8));
    assert_eq!(
        c.sanctions("ops", T).await.expect("sanctions"),
        vec![ban, mute]
    );
    assert!(c.guest_banned("eve", None, T).await.expect("by name"));
    assert!(c
        .guest_banned("other", Some("10.0.0.1"), T)
        .await
        .expect("by address"));
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

const KEEP: Retention = Retention {
    per_channel: 0,
    max_age: None,
    every: Duration::from_secs(30),
};

#[tokio::test]
async fn sqlite_conversations_share_the_database_with_a_running_store() {
    let dir = tmpdir("beside");
    let store = SqliteStore::open(&dir, KEEP, true).expect("store");
    let c = SqliteConversations::open(&dir).expect("conversations");
    for i in 1..=20u64 {
        store
            .append(StoredMessage {
                channel: "general".into(),
                id: i,
                sender: Nickname::new("Alice").expect("nick"),
                text: MessageText::new(format!("m{i}")).expect("text"),
                ts: T,
                client_id: None,
                author: Some(1),
                meta: Default::default(),
            })
            .await
            .expect("append");
        c.add(i, "general", i, T + i as i64).await.expect("add");
        assert_eq!(c.mark_read(1, "general", i).await.expect("mark"), Some(i));
    }
    assert!(c
        .sanction(
            "general",
            Sanction {
                subject: subject(Some(2), "bob"),
                kind: SanctionKind::Mute,
                until: FOREVER,
            },
            T
        )
        .await
        .expect("sanction"));
    assert_eq!(store.last_id("general").await.expect("last_id"), 20);
    assert_eq!(c.read_mark(1, "general").await.expect("mark"), Some(20));
    assert_eq!(c.read_mark(20, "general").await.expect("mark"), Some(20));
    drop(store);
    drop(c);
    let c = SqliteConversations::open(&dir).expect("reopen");
    assert_eq!(c.read_mark(1, "general").await.expect("mark"), Some(20));
    assert_eq!(c.sanctions("general", T).await.expect("sanctions").len(), 1);
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A read that cannot be answered on the caller's thread (another thread is reading there)
/// goes to the store's thread, with the same answer.
#[tokio::test]
#[allow(clippy::await_holding_lock)] // held on purpose: the reads must find it taken
async fn a_read_the_lookup_cannot_take_is_answered_by_the_thread() {
    let dir = tmpdir("taken");
    let c = SqliteConversations::open(&dir).expect("open");
    let rules = RoomRules {
        invite_only: true,
        owner: Some(7),
    };
    assert!(c.create_room("private", rules).await.expect("create"));
    c.ban_guest("eve", None, T + 1_000, T).await.expect("ban");
    c.add(7, "private", 1, T).await.expect("add");
    let held = c.hold_lookup();
    assert_eq!(c.rules("private").await.expect("rules"), Some(rules));
    assert!(c.guest_banned("eve", None, T).await.expect("banned"));
    assert!(c.has(7, "private").await.expect("has"));
    drop(held);
    assert_eq!(c.rules("private").await.expect("rules"), Some(rules));
    assert!(c.guest_banned("eve", None, T).await.expect("banned"));
    let _ = std::fs::remove_dir_all(&dir);
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "chat-conversations-{name}-{}-{}",
        std::process::id(),
        crate::util::random_hex()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
