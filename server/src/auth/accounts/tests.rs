//! One conformance suite run against both [`Accounts`] implementations, and what only the
//! SQLite one has to do: keep everything across a reopen, share `chat.db` with the store.

use super::memory::MemoryAccounts;
use super::sqlite::SqliteAccounts;
use super::*;
use crate::store::{History, Journal, Retention, SqliteStore, StoredMessage};
use shared::MessageText;
use std::path::PathBuf;
use std::time::Duration;

const LIFE: Lifetimes = Lifetimes {
    idle_ms: 600_000,
    absolute_ms: 3_600_000,
};

/// A fixed clock: the lifetimes are checked against the `now` the caller passes.
const T: Timestamp = 1_700_000_000_000;

fn nick(s: &str) -> Nickname {
    Nickname::new(s).expect("nick")
}

fn key(s: &str) -> NickKey {
    NickKey::of(&nick(s))
}

fn new(name: &str, external: Option<&str>, cap: u64) -> NewAccount {
    NewAccount {
        name: nick(name),
        phc: external.is_none().then(|| format!("phc-{name}")),
        external: external.map(str::to_string),
        now: T,
        cap,
    }
}

fn hash(i: u8) -> [u8; 32] {
    let mut h = [0xa5; 32];
    h[0] = i;
    h
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("chat-accounts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Everything the trait promises, on an empty `a`.
async fn conformance(a: &dyn Accounts) {
    accounts(a).await;
    sessions(a).await;
    session_cap(a).await;
}

/// Creating (unique by key and by external identity, under a cap), finding, listing.
async fn accounts(a: &dyn Accounts) {
    let alice = a.create(new("Alice", None, 0)).await.expect("create");
    assert_eq!(alice.id, 1);
    assert_eq!(alice.name, nick("Alice"));
    assert_eq!(alice.phc.as_deref(), Some("phc-Alice"));
    assert!(!alice.disabled);
    assert_eq!(alice.created, T);
    for clash in ["alice", "ALICE", "ａｌｉｃｅ"] {
        let got = a.create(new(clash, None, 0)).await;
        assert!(matches!(got, Err(CreateError::Exists)), "{clash}: {got:?}");
    }
    let bob = a
        .create(new("bob", Some("sub-1"), 0))
        .await
        .expect("create");
    assert_eq!((bob.id, bob.phc.as_deref()), (2, None));
    let got = a.create(new("carol", Some("sub-1"), 0)).await;
    assert!(matches!(got, Err(CreateError::Exists)), "{got:?}");
    assert_eq!(a.count().await.expect("count"), 2);

    let got = a.create(new("dave", None, 2)).await;
    assert!(matches!(got, Err(CreateError::Full)), "{got:?}");
    let dave = a.create(new("dave", None, 3)).await.expect("create");
    assert_eq!(dave.id, 3, "ids go on from the last, refusals take none");
    assert_eq!(a.count().await.expect("count"), 3);

    assert_eq!(
        a.by_key(&key("ａｌｉｃｅ")).await.expect("by_key"),
        Some(alice)
    );
    assert_eq!(a.by_key(&key("zed")).await.expect("by_key"), None);
    assert_eq!(a.by_id(2).await.expect("by_id"), Some(bob.clone()));
    assert_eq!(a.by_id(99).await.expect("by_id"), None);
    assert_eq!(a.by_id(u64::MAX).await.expect("by_id"), None);
    assert_eq!(a.by_external("sub-1").await.expect("ext"), Some(bob));
    assert_eq!(a.by_external("sub-2").await.expect("ext"), None);
    let keys = [key("alice"), key("zed"), key("BOB")];
    assert_eq!(
        a.registered(&keys).await.expect("registered"),
        [key("alice"), key("bob")]
    );

    let ids = |v: Vec<Account>| v.iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(a.list(0, 2).await.expect("list")), [1, 2]);
    assert_eq!(ids(a.list(2, 2).await.expect("list")), [3]);
    assert_eq!(ids(a.list(3, 2).await.expect("list")), Vec::<u64>::new());
    assert_eq!(
        ids(a.list(u64::MAX, 2).await.expect("list")),
        Vec::<u64>::new()
    );

    assert!(!a.set_password(99, "x").await.expect("set_password"));
    assert!(!a.set_disabled(99, true).await.expect("set_disabled"));
}

/// Sessions: lookups, both lifetimes, deletes, and what a new password or disabling ends.
async fn sessions(a: &dyn Accounts) {
    assert_eq!(a.session(&hash(0), T, LIFE).await.expect("session"), None);

    a.create_session(hash(1), 1, T).await.expect("create");
    assert_eq!(
        a.session(&hash(1), T, LIFE).await.expect("session"),
        Some(1)
    );
    assert!(a.set_password(1, "phc-new").await.expect("set_password"));
    assert_eq!(a.session(&hash(1), T, LIFE).await.expect("session"), None);
    let alice = a.by_id(1).await.expect("by_id").expect("alice");
    assert_eq!(alice.phc.as_deref(), Some("phc-new"));

    a.create_session(hash(2), 2, T).await.expect("create");
    assert!(a.set_disabled(2, true).await.expect("disable"));
    assert!(a.by_id(2).await.expect("by_id").expect("bob").disabled);
    assert_eq!(a.session(&hash(2), T, LIFE).await.expect("session"), None);
    assert!(a.set_disabled(2, false).await.expect("enable"));
    assert!(!a.by_id(2).await.expect("by_id").expect("bob").disabled);
    a.create_session(hash(3), 2, T).await.expect("create");
    assert!(a.set_disabled(2, false).await.expect("enable"));
    assert_eq!(
        a.session(&hash(3), T, LIFE).await.expect("session"),
        Some(2),
        "enabling ends no session"
    );

    // Idle expiry: each use (minutes apart) starts the idle time again.
    a.create_session(hash(4), 1, T).await.expect("create");
    for t in [500_000, 1_000_000, 1_500_000] {
        assert_eq!(
            a.session(&hash(4), T + t, LIFE).await.expect("session"),
            Some(1),
            "used after {t} ms"
        );
    }
    assert_eq!(
        a.session(&hash(4), T + 2_100_000, LIFE)
            .await
            .expect("session"),
        None,
        "unused for the idle lifetime"
    );
    assert_eq!(
        a.delete_session(&hash(4)).await.expect("delete"),
        None,
        "an expired session is deleted when looked up"
    );

    // Absolute expiry: used all along, it ends at its age limit.
    a.create_session(hash(5), 1, T).await.expect("create");
    for t in (500_000..3_600_000).step_by(500_000) {
        assert_eq!(
            a.session(&hash(5), T + t, LIFE).await.expect("session"),
            Some(1),
            "used at {t} ms"
        );
    }
    assert_eq!(
        a.session(&hash(5), T + 3_600_000, LIFE)
            .await
            .expect("session"),
        None,
        "as old as the absolute lifetime"
    );
    assert_eq!(a.delete_session(&hash(5)).await.expect("delete"), None);

    a.create_session(hash(6), 1, T).await.expect("create");
    assert_eq!(a.delete_session(&hash(6)).await.expect("delete"), Some(1));
    assert_eq!(a.delete_session(&hash(6)).await.expect("delete"), None);
    assert_eq!(a.session(&hash(6), T, LIFE).await.expect("session"), None);

    a.create_session(hash(7), 1, T).await.expect("create");
    a.create_session(hash(8), 1, T).await.expect("create");
    a.delete_sessions(1).await.expect("delete_sessions");
    for h in [7, 8] {
        assert_eq!(a.session(&hash(h), T, LIFE).await.expect("session"), None);
    }
    assert_eq!(
        a.session(&hash(3), T, LIFE).await.expect("session"),
        Some(2),
        "another account's session stays"
    );
}

/// One session too many ends the account's least recently used one, and only that.
async fn session_cap(a: &dyn Accounts) {
    let erin = a.create(new("erin", None, 0)).await.expect("create").id;
    let n = SESSIONS_PER_ACCOUNT as u8;
    for i in 0..n {
        let h = hash(100 + i);
        a.create_session(h, erin, T + i64::from(i) * 1000)
            .await
            .expect("create");
    }
    // The oldest is used (minutes later): the second oldest is now the least recently used.
    let later = T + 200_000;
    assert_eq!(
        a.session(&hash(100), later, LIFE).await.expect("session"),
        Some(erin)
    );
    a.create_session(hash(100 + n), erin, later + 1000)
        .await
        .expect("create");
    let now = later + 2000;
    assert_eq!(
        a.session(&hash(101), now, LIFE).await.expect("session"),
        None
    );
    for i in (0..=n).filter(|&i| i != 1) {
        assert_eq!(
            a.session(&hash(100 + i), now, LIFE).await.expect("session"),
            Some(erin),
            "session {i}"
        );
    }
    assert_eq!(
        a.session(&hash(3), now, LIFE).await.expect("session"),
        Some(2),
        "another account's session stays"
    );
}

#[tokio::test]
async fn memory_accounts_conform() {
    conformance(&MemoryAccounts::new()).await;
}

#[tokio::test]
async fn sqlite_accounts_conform() {
    let dir = tmpdir("conform");
    conformance(&SqliteAccounts::open(&dir).expect("open")).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sqlite_accounts_and_sessions_survive_a_reopen() {
    let dir = tmpdir("reopen");
    {
        let a = SqliteAccounts::open(&dir).expect("open");
        a.create(new("Alice", None, 0)).await.expect("create");
        a.create_session(hash(1), 1, T).await.expect("session");
    }
    let a = SqliteAccounts::open(&dir).expect("reopen");
    let alice = a
        .by_key(&key("alice"))
        .await
        .expect("by_key")
        .expect("alice");
    assert_eq!((alice.id, alice.name), (1, nick("Alice")));
    assert_eq!(
        a.session(&hash(1), T, LIFE).await.expect("session"),
        Some(1)
    );
    assert_eq!(a.create(new("bob", None, 0)).await.expect("create").id, 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sqlite_accounts_open_alone_migrate_and_set_wal_mode() {
    let dir = tmpdir("alone");
    let a = SqliteAccounts::open(&dir).expect("open");
    a.create(new("Alice", None, 0)).await.expect("create");
    let c = rusqlite::Connection::open(dir.join("chat.db")).expect("open");
    let version: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version");
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!((version, mode.as_str()), (8, "wal"));
    drop(c);
    // The store opens the database the accounts made.
    let s = SqliteStore::open(&dir, KEEP, true).expect("store");
    assert_eq!(s.last_id("general").await.expect("last_id"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

const KEEP: Retention = Retention {
    per_channel: 0,
    max_age: None,
    every: Duration::from_secs(30),
};

#[tokio::test]
async fn sqlite_accounts_share_the_database_with_a_running_store() {
    let dir = tmpdir("beside");
    let store = SqliteStore::open(&dir, KEEP, true).expect("store");
    let a = SqliteAccounts::open(&dir).expect("accounts");
    for i in 1..=20u64 {
        store
            .append(StoredMessage {
                channel: "general".into(),
                id: i,
                sender: nick("Alice"),
                text: MessageText::new(format!("m{i}")).expect("text"),
                ts: T,
                client_id: None,
                author: Some(1),
                meta: Default::default(),
            })
            .await
            .expect("append");
        let made = a
            .create(new(&format!("user{i}"), None, 0))
            .await
            .expect("create");
        a.create_session(hash(i as u8), made.id, T)
            .await
            .expect("session");
    }
    assert_eq!(store.last_id("general").await.expect("last_id"), 20);
    assert_eq!(a.count().await.expect("count"), 20);
    assert_eq!(
        a.session(&hash(20), T, LIFE).await.expect("session"),
        Some(20)
    );
    drop(store);
    drop(a);
    let a = SqliteAccounts::open(&dir).expect("reopen");
    assert_eq!(a.count().await.expect("count"), 20);
    let _ = std::fs::remove_dir_all(&dir);
}
