//! `RedisAccounts` against a real redis-server: the behaviours the `Accounts` trait promises
//! (uniqueness by nickname key, the cap, external identities, sessions and their lifetimes,
//! revocation, paging). Times are passed in, so no test waits for a clock.

mod common;

use common::cluster::Redis;
use server::auth::accounts::{
    AccountId, Accounts, CreateError, Lifetimes, NewAccount, SESSIONS_PER_ACCOUNT,
};
use server::cluster::RedisAccounts;
use server::nick_key::NickKey;
use shared::Nickname;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
/// Lifetimes long enough that Redis's own expiry (real time) never fires during a test.
const LIFE: Lifetimes = Lifetimes {
    idle_ms: 24 * HOUR,
    absolute_ms: 30 * 24 * HOUR,
};

fn nick(s: &str) -> Nickname {
    Nickname::new(s).expect("nickname")
}

fn new(name: &str) -> NewAccount {
    NewAccount {
        name: nick(name),
        phc: Some(format!("$argon2id$v=19$fake${name}")),
        external: None,
        now: T0,
        cap: 0,
    }
}

async fn start(tag: &str) -> (Redis, RedisAccounts) {
    let redis = Redis::start_with(tag, &[]);
    let accounts = RedisAccounts::connect(&redis.url()).await.expect("connect");
    (redis, accounts)
}

async fn add(a: &RedisAccounts, name: &str) -> AccountId {
    a.create(new(name)).await.expect("create").id
}

#[tokio::test]
async fn create_and_read_back() {
    let (_redis, a) = start("acct-create").await;
    let alice = a.create(new("Alice")).await.expect("create");
    assert_eq!(alice.name.as_str(), "Alice");
    assert!(!alice.disabled);
    let bob = add(&a, "bob").await;
    assert!(bob > alice.id, "ids increase");
    let by_id = a.by_id(alice.id).await.expect("by_id");
    assert_eq!(by_id.as_ref(), Some(&alice));
    let key = NickKey::of(&nick("alice"));
    assert_eq!(a.by_key(&key).await.expect("by_key"), Some(alice.clone()));
    assert_eq!(a.by_id(9999).await.expect("by_id"), None);
    assert_eq!(
        a.by_key(&NickKey::of(&nick("carol")))
            .await
            .expect("by_key"),
        None
    );
    assert_eq!(a.count().await.expect("count"), 2);
}

#[tokio::test]
async fn names_are_unique_by_key() {
    let (_redis, a) = start("acct-unique").await;
    add(&a, "Alice").await;
    for variant in ["Alice", "alice", "ＡＬＩＣＥ", "ａｌｉｃｅ"] {
        let again = a.create(new(variant)).await;
        assert!(
            matches!(again, Err(CreateError::Exists)),
            "{variant}: {again:?}"
        );
    }
    assert_eq!(a.count().await.expect("count"), 1);
}

#[tokio::test]
async fn the_cap_refuses_one_more() {
    let (_redis, a) = start("acct-cap").await;
    for name in ["a1", "a2"] {
        a.create(NewAccount {
            cap: 2,
            ..new(name)
        })
        .await
        .expect("under the cap");
    }
    let third = a
        .create(NewAccount {
            cap: 2,
            ..new("a3")
        })
        .await;
    assert!(matches!(third, Err(CreateError::Full)), "{third:?}");
    a.create(NewAccount {
        cap: 0,
        ..new("a3")
    })
    .await
    .expect("no cap");
}

#[tokio::test]
async fn external_identities() {
    let (_redis, a) = start("acct-ext").await;
    let made = a
        .create(NewAccount {
            phc: None,
            external: Some("site|42".into()),
            ..new("dora")
        })
        .await
        .expect("create");
    assert_eq!(made.phc, None);
    let found = a.by_external("site|42").await.expect("by_external");
    assert_eq!(found, Some(made));
    assert_eq!(a.by_external("site|43").await.expect("by_external"), None);
    let same_sub = a
        .create(NewAccount {
            phc: None,
            external: Some("site|42".into()),
            ..new("dora2")
        })
        .await;
    assert!(matches!(same_sub, Err(CreateError::Exists)), "{same_sub:?}");
}

#[tokio::test]
async fn registered_keeps_the_keys_with_accounts() {
    let (_redis, a) = start("acct-registered").await;
    add(&a, "alice").await;
    add(&a, "bob").await;
    let keys: Vec<NickKey> = ["Alice", "carol", "BOB"]
        .iter()
        .map(|n| NickKey::of(&nick(n)))
        .collect();
    let found = a.registered(&keys).await.expect("registered");
    assert_eq!(found, vec![keys[0].clone(), keys[2].clone()]);
    assert!(a.registered(&[]).await.expect("registered").is_empty());
}

#[tokio::test]
async fn list_pages_by_id() {
    let (_redis, a) = start("acct-list").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(add(&a, &format!("user{i}")).await);
    }
    let first = a.list(0, 2).await.expect("list");
    assert_eq!(first.iter().map(|x| x.id).collect::<Vec<_>>(), ids[..2]);
    let rest = a.list(ids[1], 10).await.expect("list");
    assert_eq!(rest.iter().map(|x| x.id).collect::<Vec<_>>(), ids[2..]);
    assert_eq!(rest[0].name.as_str(), "user2");
    assert!(a.list(ids[4], 10).await.expect("list").is_empty());
    assert!(a.list(0, 0).await.expect("list").is_empty());
    assert_eq!(a.count().await.expect("count"), 5);
}

#[tokio::test]
async fn sessions_are_found_and_deleted() {
    let (_redis, a) = start("acct-sess").await;
    let id = add(&a, "alice").await;
    let h = [7u8; 32];
    a.create_session(h, id, T0).await.expect("create");
    assert_eq!(
        a.session(&h, T0 + 1, LIFE).await.expect("look up"),
        Some(id)
    );
    assert_eq!(
        a.session(&[8u8; 32], T0, LIFE).await.expect("look up"),
        None
    );
    assert_eq!(a.delete_session(&h).await.expect("delete"), Some(id));
    assert_eq!(a.delete_session(&h).await.expect("delete"), None);
    assert_eq!(a.session(&h, T0 + 2, LIFE).await.expect("look up"), None);
}

#[tokio::test]
async fn an_idle_session_expires_and_use_keeps_it() {
    let (_redis, a) = start("acct-idle").await;
    let id = add(&a, "alice").await;
    let life = Lifetimes {
        idle_ms: 2 * HOUR,
        absolute_ms: 30 * 24 * HOUR,
    };
    let (used, unused) = ([1u8; 32], [2u8; 32]);
    a.create_session(used, id, T0).await.expect("create");
    a.create_session(unused, id, T0).await.expect("create");
    // Used after one hour: its idle time starts again.
    let at = T0 + HOUR;
    assert_eq!(a.session(&used, at, life).await.expect("use"), Some(id));
    let at = T0 + 2 * HOUR + 1;
    assert_eq!(a.session(&used, at, life).await.expect("use"), Some(id));
    assert_eq!(a.session(&unused, at, life).await.expect("idle"), None);
    // An expired one was deleted, not only refused.
    assert_eq!(a.delete_session(&unused).await.expect("delete"), None);
}

#[tokio::test]
async fn a_session_expires_at_its_absolute_lifetime_however_used() {
    let (_redis, a) = start("acct-absolute").await;
    let id = add(&a, "alice").await;
    let life = Lifetimes {
        idle_ms: 2 * HOUR,
        absolute_ms: 5 * HOUR,
    };
    let h = [3u8; 32];
    a.create_session(h, id, T0).await.expect("create");
    for hour in 1..5 {
        let at = T0 + hour * HOUR;
        assert_eq!(a.session(&h, at, life).await.expect("use"), Some(id));
    }
    let at = T0 + 5 * HOUR;
    assert_eq!(a.session(&h, at, life).await.expect("too old"), None);
}

#[tokio::test]
async fn delete_sessions_ends_every_one_of_the_account() {
    let (_redis, a) = start("acct-delall").await;
    let alice = add(&a, "alice").await;
    let bob = add(&a, "bob").await;
    let hashes: Vec<[u8; 32]> = (0..3u8).map(|i| [i + 10; 32]).collect();
    for h in &hashes {
        a.create_session(*h, alice, T0).await.expect("create");
    }
    a.create_session([99; 32], bob, T0).await.expect("create");
    a.delete_sessions(alice).await.expect("delete all");
    for h in &hashes {
        assert_eq!(a.session(h, T0 + 1, LIFE).await.expect("look up"), None);
    }
    let bobs = a.session(&[99; 32], T0 + 1, LIFE).await.expect("look up");
    assert_eq!(bobs, Some(bob));
}

#[tokio::test]
async fn past_the_cap_the_least_recently_used_session_goes() {
    let (_redis, a) = start("acct-sesscap").await;
    let id = add(&a, "alice").await;
    let hash = |i: usize| {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&(i as u64).to_be_bytes());
        h
    };
    for i in 0..SESSIONS_PER_ACCOUNT {
        let at = T0 + i as i64 * 1000;
        a.create_session(hash(i), id, at).await.expect("create");
    }
    // Session 0, the oldest, is used (past the minute after which a use is recorded), so
    // session 1 is now the least recently used.
    let later = T0 + HOUR;
    assert_eq!(
        a.session(&hash(0), later, LIFE).await.expect("use"),
        Some(id)
    );
    let extra = SESSIONS_PER_ACCOUNT;
    let at = later + 1000;
    a.create_session(hash(extra), id, at).await.expect("create");
    let at = at + 1;
    assert_eq!(a.session(&hash(1), at, LIFE).await.expect("evicted"), None);
    for i in [0, 2, extra] {
        assert_eq!(a.session(&hash(i), at, LIFE).await.expect("kept"), Some(id));
    }
}

#[tokio::test]
async fn a_new_password_ends_the_sessions() {
    let (_redis, a) = start("acct-password").await;
    let id = add(&a, "alice").await;
    a.create_session([5; 32], id, T0).await.expect("create");
    assert!(a.set_password(id, "$argon2id$new").await.expect("set"));
    let acct = a.by_id(id).await.expect("by_id").expect("exists");
    assert_eq!(acct.phc.as_deref(), Some("$argon2id$new"));
    assert_eq!(a.session(&[5; 32], T0 + 1, LIFE).await.expect("gone"), None);
    assert!(!a.set_password(9999, "$argon2id$x").await.expect("none"));
}

#[tokio::test]
async fn disabling_ends_the_sessions_and_enabling_restores_the_account() {
    let (_redis, a) = start("acct-disable").await;
    let id = add(&a, "alice").await;
    a.create_session([6; 32], id, T0).await.expect("create");
    assert!(a.set_disabled(id, true).await.expect("disable"));
    assert!(a.by_id(id).await.expect("by_id").expect("exists").disabled);
    assert_eq!(a.session(&[6; 32], T0 + 1, LIFE).await.expect("gone"), None);
    assert!(a.set_disabled(id, false).await.expect("enable"));
    assert!(!a.by_id(id).await.expect("by_id").expect("exists").disabled);
    assert!(!a.set_disabled(9999, true).await.expect("none"));
}

#[tokio::test]
async fn a_cluster_shares_its_connection() {
    let redis = Redis::start_with("acct-cluster", &[]);
    let cluster = server::cluster::Cluster::connect(&redis.url(), 100, false)
        .await
        .expect("cluster");
    let shared = cluster.accounts();
    let id = add(&shared, "alice").await;
    let own = RedisAccounts::connect(&redis.url()).await.expect("connect");
    let found = own.by_id(id).await.expect("by_id").expect("exists");
    assert_eq!(found.name.as_str(), "alice");
}
