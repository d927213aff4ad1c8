//! Accounts end to end against the real binary: registering, signing in by password and by
//! session token, names that strangers cannot take, failed sign-ins and their throttle, and
//! the limits on registration.

mod common;

use common::auth::{
    chat_url, guest_refused, hello_session, is_token, pw_auth, refused, register, register_auth,
    sign_in, try_hello, welcomed, DataDir, PW,
};
use common::{run_binary, Client};
use server::auth::throttle::FREE_FAILURES;
use shared::{ErrorCode, ServerMessage};

/// A memory store, and no registration rate: tests register from one address.
const OPEN: &[&str] = &["--store", "memory", "--registration-rate", "0"];

fn with(extra: &[&str]) -> Vec<String> {
    OPEN.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The connection still answers: a `list_rooms` gets its `rooms`.
async fn still_open(c: &mut Client) {
    c.send(&shared::ClientMessage::ListRooms { after: None })
        .await;
    let m = c
        .recv_until(|m| matches!(m, ServerMessage::Rooms { .. } | ServerMessage::Error { .. }))
        .await;
    assert!(matches!(m, ServerMessage::Rooms { .. }), "{m:?}");
}

/// Registration gives a member's welcome with a new session token; the password signs in from
/// another connection; the token resumes without a new one.
#[tokio::test]
async fn register_then_sign_in_then_resume() {
    let (_s, addr) = run_binary(OPEN);
    let url = chat_url(&addr);
    let (mut first, token) = register(&url, "alice", PW).await;
    assert!(is_token(&token), "a 64-hex session token: {token}");

    let (mut second, other) = sign_in(&url, "alice", PW).await;
    assert!(is_token(&other), "{other}");
    assert_ne!(other, token, "each sign-in is a session of its own");

    let (c, m) = try_hello(&url, None, Some(common::auth::session_auth(&token))).await;
    let (nick, guest, session) = welcomed(m);
    assert_eq!(nick, "alice");
    assert!(!guest);
    assert_eq!(session, None, "resuming gives no new token");
    drop(c);
    let _third = hello_session(&url, &other).await;
    still_open(&mut first).await;
    still_open(&mut second).await;
}

const LOOKALIKES: [&str; 5] = ["alice", "ALICE", "Alice", "ａｌｉｃｅ", "аlice"];

/// Every spelling that folds to a registered name (case, width, a Cyrillic а) is refused to
/// a guest, with its owner online or not.
async fn lookalikes_refused(url: &str, when: &str) {
    for n in LOOKALIKES {
        let got = guest_refused(url, n).await;
        assert!(
            got == (ErrorCode::NickTaken, 4001) || got == (ErrorCode::InvalidNick, 4002),
            "{when}: guest {n}: {got:?}"
        );
    }
}

#[tokio::test]
async fn strangers_cannot_take_a_registered_name() {
    let (_s, addr) = run_binary(OPEN);
    let url = chat_url(&addr);
    let (mut alice, _) = register(&url, "alice", PW).await;
    lookalikes_refused(&url, "online").await;
    // Plain "alice" is refused as taken, not as a bad name.
    assert_eq!(
        guest_refused(&url, "alice").await,
        (ErrorCode::NickTaken, 4001)
    );
    still_open(&mut alice).await;
    drop(alice);
    lookalikes_refused(&url, "offline").await;
    let (code, _, close) = refused(&url, Some("Alice"), Some(register_auth(PW))).await;
    assert_eq!(
        (code, close),
        (ErrorCode::NickTaken, 4001),
        "register Alice"
    );
    // The owner still signs in.
    sign_in(&url, "alice", PW).await;
}

/// Accounts and sessions on SQLite outlive the process.
#[tokio::test]
async fn registered_names_survive_a_restart_on_sqlite() {
    let dir = DataDir::new("restart");
    let a = ["--data-dir", dir.arg(), "--registration-rate", "0"];
    let (s, addr) = run_binary(&a);
    let (_, token) = register(&chat_url(&addr), "alice", PW).await;
    drop(s);
    let (_s, addr) = run_binary(&a);
    let url = chat_url(&addr);
    lookalikes_refused(&url, "after a restart").await;
    let (code, _, close) = refused(&url, Some("ALICE"), Some(register_auth(PW))).await;
    assert_eq!((code, close), (ErrorCode::NickTaken, 4001));
    sign_in(&url, "alice", PW).await;
    // The session outlives the process too.
    hello_session(&url, &token).await;
}

/// A wrong password and an unknown name get the same answer.
#[tokio::test]
async fn wrong_password_and_unknown_user_are_answered_alike() {
    let (_s, addr) = run_binary(OPEN);
    let url = chat_url(&addr);
    register(&url, "alice", PW).await;
    let wrong = refused(&url, Some("alice"), Some(pw_auth("not the password"))).await;
    let unknown = refused(&url, Some("nobody"), Some(pw_auth("not the password"))).await;
    assert_eq!(wrong.0, ErrorCode::SignInFailed);
    assert_eq!(wrong.2, 4009);
    assert_eq!(wrong, unknown, "the two failures must not be told apart");
}

/// Past the free failures one address is barred from the account (4012), even with the right
/// password; the owner at another address signs in meanwhile.
#[tokio::test]
async fn failed_sign_ins_are_throttled_per_address() {
    let (_s, addr) = run_binary(&args(&with(&["--trusted-proxies", "127.0.0.1"])));
    let url = chat_url(&addr);
    register(&url, "alice", PW).await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    let attempt = |ip: &'static str, pw: &'static str| {
        let url = url.clone();
        async move {
            let mut c = Client::open_with_headers(&url, &from(ip)).await;
            let m = c.hello_with(Some("alice"), Some(pw_auth(pw))).await;
            (c, m)
        }
    };
    for i in 0..=FREE_FAILURES {
        let (mut c, m) = attempt("198.51.100.1", "guess guess").await;
        match m {
            ServerMessage::Error { code, .. } => {
                assert_eq!(code, ErrorCode::SignInFailed, "failure {i}")
            }
            other => panic!("failure {i}: {other:?}"),
        }
        assert_eq!(c.expect_close().await, 4009);
    }
    let (mut c, m) = attempt("198.51.100.1", PW).await;
    match m {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::TooManyAttempts),
        other => panic!("barred, even with the right password: {other:?}"),
    }
    assert_eq!(c.expect_close().await, 4012);
    let (_owner, m) = attempt("198.51.100.2", PW).await;
    let (nick, guest, session) = welcomed(m);
    assert_eq!(nick, "alice");
    assert!(!guest);
    assert!(session.is_some());
}

#[tokio::test]
async fn closed_registration_is_refused() {
    let (_s, addr) = run_binary(&args(&with(&["--registration", "closed"])));
    let (code, _, close) = refused(&chat_url(&addr), Some("alice"), Some(register_auth(PW))).await;
    assert_eq!((code, close), (ErrorCode::RegistrationClosed, 4009));
}

#[tokio::test]
async fn the_account_cap_refuses_the_next_registration() {
    let (_s, addr) = run_binary(&args(&with(&["--max-accounts", "2"])));
    let url = chat_url(&addr);
    register(&url, "a1", PW).await;
    register(&url, "a2", PW).await;
    let (code, _, close) = refused(&url, Some("a3"), Some(register_auth(PW))).await;
    assert_eq!((code, close), (ErrorCode::RegistrationClosed, 4009));
    sign_in(&url, "a1", PW).await;
}

/// At 1 per hour an address registers a burst of 3, then is refused; another address is not.
#[tokio::test]
async fn registration_is_rate_limited_per_address() {
    let (_s, addr) = run_binary(&[
        "--store",
        "memory",
        "--registration-rate",
        "1",
        "--trusted-proxies",
        "127.0.0.1",
    ]);
    let url = chat_url(&addr);
    let reg = |ip: &'static str, name: &'static str| {
        let url = url.clone();
        async move {
            let mut c = Client::open_with_headers(&url, &[("X-Forwarded-For", ip)]).await;
            let m = c.hello_with(Some(name), Some(register_auth(PW))).await;
            (c, m)
        }
    };
    for name in ["r1", "r2", "r3"] {
        let (_c, m) = reg("198.51.100.7", name).await;
        welcomed(m);
    }
    let (mut c, m) = reg("198.51.100.7", "r4").await;
    match m {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::RegistrationClosed),
        other => panic!("a fourth registration: {other:?}"),
    }
    assert_eq!(c.expect_close().await, 4009);
    let (_c, m) = reg("198.51.100.8", "r4").await;
    welcomed(m);
}

#[tokio::test]
async fn a_short_password_is_weak() {
    let (_s, addr) = run_binary(OPEN);
    let url = chat_url(&addr);
    let (code, _, close) = refused(&url, Some("alice"), Some(register_auth("seven77"))).await;
    assert_eq!((code, close), (ErrorCode::WeakPassword, 4009));
    // Nothing was made: the name is still a guest's to take.
    let (_c, m) = try_hello(&url, Some("alice"), None).await;
    let (_, guest, _) = welcomed(m);
    assert!(guest);
}

/// A guest holding a name blocks its registration until it leaves.
#[tokio::test]
async fn a_guest_holding_a_name_blocks_registering_it() {
    let (_s, addr) = run_binary(OPEN);
    let url = chat_url(&addr);
    let (guest, m) = try_hello(&url, Some("carol"), None).await;
    assert!(welcomed(m).1);
    let (code, _, close) = refused(&url, Some("Carol"), Some(register_auth(PW))).await;
    assert_eq!((code, close), (ErrorCode::NickTaken, 4001));
    drop(guest);
    // The server notices the guest left shortly; retry for a bounded while.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let (_c, m) = try_hello(&url, Some("carol"), Some(register_auth(PW))).await;
        match m {
            ServerMessage::Welcome { guest, .. } => {
                assert!(!guest);
                break;
            }
            ServerMessage::Error {
                code: ErrorCode::NickTaken,
                ..
            } if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            other => panic!("registering a freed name: {other:?}"),
        }
    }
}

/// Runs `server user <args> --data-dir <dir>` with `stdin`; panics unless it succeeds.
fn user_command(dir: &DataDir, args: &[&str], stdin: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("user")
        .args(args)
        .args(["--data-dir", dir.arg()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn server user");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "user {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An account added from the command line signs in to a running SQLite server; disabling it
/// there ends its sessions for the server too.
#[tokio::test]
async fn operator_commands_on_a_running_sqlite_server() {
    let dir = DataDir::new("operator");
    let (_s, addr) = run_binary(&["--data-dir", dir.arg(), "--registration-rate", "0"]);
    let url = chat_url(&addr);
    user_command(&dir, &["add", "bob"], "bob's password\n");
    let (_c, token) = sign_in(&url, "Bob", "bob's password").await;
    assert_eq!(
        guest_refused(&url, "bob").await,
        (ErrorCode::NickTaken, 4001)
    );
    user_command(&dir, &["disable", "bob"], "");
    let (code, _, close) = refused(&url, None, Some(common::auth::session_auth(&token))).await;
    assert_eq!((code, close), (ErrorCode::SessionExpired, 4009));
    let (code, _, close) = refused(&url, Some("bob"), Some(pw_auth("bob's password"))).await;
    assert_eq!((code, close), (ErrorCode::SignInFailed, 4009));
}
