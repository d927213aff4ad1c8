//! `server user …` as an operator runs it: the real binary, the password on stdin, against a
//! real redis-server (and a data directory), checked through the accounts it leaves behind.

mod common;

use common::cluster::Redis;
use common::WAIT;
use futures_util::StreamExt;
use server::auth::accounts::{Accounts, Lifetimes};
use server::cluster::{RedisAccounts, BUS};
use server::nick_key::NickKey;
use shared::Nickname;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const LIFE: Lifetimes = Lifetimes {
    idle_ms: 3_600_000,
    absolute_ms: 86_400_000,
};

/// What one run printed, and its exit code.
struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Runs `server <args>` with `stdin` as its input.
fn server(args: &[&str], stdin: &str) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CHAT_") {
            cmd.env_remove(key);
        }
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `server user <args> <place>`, expected to succeed: its output.
fn ok(place: &[&str], args: &[&str], stdin: &str) -> String {
    let run = server(&[&["user"], args, place].concat(), stdin);
    assert_eq!(run.code, 0, "user {args:?}: {}", run.err);
    run.out
}

/// `server user <args> <place>`, expected to fail: its message.
fn refused(place: &[&str], args: &[&str], stdin: &str) -> String {
    let run = server(&[&["user"], args, place].concat(), stdin);
    assert_eq!(run.code, 1, "user {args:?} should fail: {}", run.out);
    assert!(run.out.is_empty(), "{}", run.out);
    run.err
}

fn key(name: &str) -> NickKey {
    NickKey::of(&Nickname::new(name).expect("nickname"))
}

/// Add, refusals, list, reset-password and disable/enable, on the accounts `place` names;
/// `accounts` reads the same accounts back.
async fn the_commands_work_on(place: &[&str], accounts: &dyn Accounts) {
    let made = ok(place, &["add", "Alice"], "correct horse\n");
    assert!(made.contains("Alice"), "{made}");
    ok(place, &["add", "bob"], "battery staple\r\n");

    for variant in ["Alice", "alice", "ａｌｉｃｅ"] {
        let err = refused(place, &["add", variant], "another password\n");
        assert!(err.contains("exists"), "{variant}: {err}");
    }
    let err = refused(place, &["add", "carol"], "short\n");
    assert!(err.contains("too short"), "{err}");
    let err = refused(place, &["add", "carol"], "");
    assert!(err.contains("no password"), "{err}");
    let err = refused(place, &["add", "bad name!"], "long enough\n");
    assert!(err.contains("cannot be an account name"), "{err}");
    assert_eq!(accounts.count().await.expect("count"), 2);

    let alice = accounts.by_key(&key("alice")).await.expect("by_key");
    let alice = alice.expect("alice exists");
    let phc = alice.phc.clone().expect("a password");
    assert!(phc.starts_with("$argon2id$"), "{phc}");

    let list = ok(place, &["list"], "");
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(
        rows[0][..3],
        [alice.id.to_string().as_str(), "Alice", "enabled"]
    );
    assert_eq!(rows[1][1..3], ["bob", "enabled"]);
    assert!(
        rows[0][3].ends_with('Z') && rows[0][3].contains('T'),
        "{list}"
    );

    // A new password (found by a name that looks the same) ends every session.
    accounts
        .create_session([1; 32], alice.id, 1_000)
        .await
        .expect("session");
    let err = refused(place, &["reset-password", "alice"], "short\n");
    assert!(err.contains("too short"), "{err}");
    ok(place, &["reset-password", "ALICE"], "a new password\n");
    let after = accounts
        .by_id(alice.id)
        .await
        .expect("by_id")
        .expect("alice");
    assert_ne!(after.phc, Some(phc));
    let session = accounts
        .session(&[1; 32], 2_000, LIFE)
        .await
        .expect("session");
    assert_eq!(session, None);
    let err = refused(place, &["reset-password", "nobody"], "a new password\n");
    assert!(err.contains("no account is named `nobody`"), "{err}");

    // Disabling ends the sessions too; enabling gives the account back.
    let bob = accounts
        .by_key(&key("bob"))
        .await
        .expect("by_key")
        .expect("bob");
    accounts
        .create_session([2; 32], bob.id, 1_000)
        .await
        .expect("session");
    ok(place, &["disable", "bob"], "");
    assert!(
        accounts
            .by_id(bob.id)
            .await
            .expect("by_id")
            .expect("bob")
            .disabled
    );
    let session = accounts
        .session(&[2; 32], 2_000, LIFE)
        .await
        .expect("session");
    assert_eq!(session, None);
    let list = ok(place, &["list"], "");
    assert!(list.lines().any(|l| l.contains("bob\tdisabled")), "{list}");
    ok(place, &["enable", "bob"], "");
    assert!(
        !accounts
            .by_id(bob.id)
            .await
            .expect("by_id")
            .expect("bob")
            .disabled
    );
    let err = refused(place, &["disable", "nobody"], "");
    assert!(err.contains("nobody"), "{err}");
}

#[tokio::test]
async fn user_commands_on_redis() {
    let redis = Redis::start_with("user-cli", &[]);
    let url = redis.url();
    let accounts = RedisAccounts::connect(&url).await.expect("connect");
    the_commands_work_on(&["--redis", &url], &accounts).await;
}

#[tokio::test]
async fn the_flags_may_come_before_the_command() {
    let redis = Redis::start_with("user-cli-order", &[]);
    let url = redis.url();
    let run = server(&["--redis", &url, "user", "add", "dora"], "long enough\n");
    assert_eq!(run.code, 0, "{}", run.err);
    let accounts = RedisAccounts::connect(&url).await.expect("connect");
    let found = accounts.by_key(&key("dora")).await.expect("by_key");
    assert!(found.is_some());
}

/// Ending sessions in Redis also tells running nodes, on the bus, to close the account's
/// connections.
#[tokio::test]
async fn revocations_are_announced_on_the_bus() {
    let redis = Redis::start_with("user-cli-bus", &[]);
    let url = redis.url();
    let place = ["--redis", url.as_str()];
    ok(&place, &["add", "erin"], "long enough\n");
    let accounts = RedisAccounts::connect(&url).await.expect("connect");
    let erin = accounts.by_key(&key("erin")).await.expect("by_key");
    let id = erin.expect("erin").id;
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut bus = client.get_async_pubsub().await.expect("pubsub");
    bus.subscribe(BUS).await.expect("subscribe");
    ok(&place, &["reset-password", "erin"], "another one\n");
    ok(&place, &["disable", "erin"], "");
    ok(&place, &["enable", "erin"], "");
    ok(&place, &["reset-password", "erin"], "and a third\n");
    let mut messages = bus.on_message();
    for _ in 0..3 {
        let msg = tokio::time::timeout(WAIT, messages.next())
            .await
            .expect("an event on the bus")
            .expect("the subscription is open");
        let payload: String = msg.get_payload().expect("text");
        let event: serde_json::Value = serde_json::from_str(&payload).expect("JSON");
        assert_eq!(
            event,
            serde_json::json!({"k": "revoke", "a": id, "s": "", "keep": ""})
        );
    }
}

#[tokio::test]
async fn accounts_need_a_store_that_keeps_them() {
    let err = refused(&["--store", "memory"], &["list"], "");
    assert!(err.contains("not in memory"), "{err}");
}

/// The same commands on the SQLite database of a data directory.
#[tokio::test]
async fn user_commands_on_a_data_dir() {
    let dir = std::env::temp_dir().join(format!("chat-user-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let data_dir = dir.to_str().expect("UTF-8 path");
    let accounts = sqlite_accounts(&dir);
    the_commands_work_on(&["--data-dir", data_dir], accounts.as_ref()).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The accounts of `chat.db` under `dir`, as the command opens them.
fn sqlite_accounts(dir: &Path) -> Box<dyn Accounts> {
    Box::new(server::auth::accounts::sqlite::SqliteAccounts::open(dir).expect("accounts"))
}

/// An operator's `reset-password` and `disable` on the data directory of a running server end
/// the account's live connections there within a few seconds (the server reads the revocations
/// the command leaves in `chat.db`), and the old session no longer signs in.
#[tokio::test]
async fn commands_on_a_running_servers_data_dir_end_its_connections() {
    use shared::{Auth, ClientMessage, Password, ServerMessage};
    let dir = std::env::temp_dir().join(format!("chat-user-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data_dir = dir.to_str().expect("UTF-8 path");
    let (_server, addr) = common::run_binary(&["--data-dir", data_dir]);
    let url = format!("ws://{addr}/chat");
    let sign_in = |auth: Auth, name: Option<&str>| ClientMessage::Hello {
        nick: name.map(common::nick),
        protocol: 1,
        resume_token: None,
        auth: Some(auth),
    };
    let password = Password::new("correct horse").expect("password");
    let mut alice = common::Client::open(&url).await;
    alice
        .send(&sign_in(
            Auth::Register {
                password: password.clone(),
            },
            Some("alice"),
        ))
        .await;
    let ServerMessage::Welcome {
        session: Some(token),
        ..
    } = alice.recv().await
    else {
        panic!("no session for a new account")
    };
    ok(
        &["--data-dir", data_dir],
        &["reset-password", "alice"],
        "a new one here\n",
    );
    assert_eq!(alice.expect_close().await, 4010, "closed as signed out");
    let mut again = common::Client::open(&url).await;
    again.send(&sign_in(Auth::Session { token }, None)).await;
    assert!(matches!(again.recv().await, ServerMessage::Error { .. }));
    assert_eq!(again.expect_close().await, 4009);
    // Signed in with the new password, then disabled: closed again.
    let mut bob = common::Client::open(&url).await;
    bob.send(&sign_in(
        Auth::Password {
            password: Password::new("a new one here").expect("password"),
        },
        Some("alice"),
    ))
    .await;
    assert!(matches!(bob.recv().await, ServerMessage::Welcome { .. }));
    ok(&["--data-dir", data_dir], &["disable", "alice"], "");
    assert_eq!(bob.expect_close().await, 4010);
    let _ = std::fs::remove_dir_all(&dir);
}
