//! Accounts across a cluster: two nodes on one redis-server share the accounts, the sessions
//! and their revocation, and deliver to every connection of a signed-in user.

mod common;

use common::auth::{
    chat_url, guest_refused, hello_session, refused, register, register_auth, sign_in, try_hello,
    welcomed, PW,
};
use common::cluster::{Node, Redis};
use common::{nick, text, Client};
use shared::{ClientMessage, ClientMsgId, ErrorCode, PresenceState, ServerMessage};
use std::time::Duration;

fn node(redis: &Redis) -> Node {
    Node::start_at(&redis.url(), &["--registration-rate", "0"])
}

async fn next_direct(c: &mut Client) -> shared::DirectMessage {
    match c
        .recv_until(|m| matches!(m, ServerMessage::Direct(_)))
        .await
    {
        ServerMessage::Direct(d) => d,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_passwords_and_sessions_are_shared() {
    let redis = Redis::start("acct-shared");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (_alice, token) = register(&url_a, "alice", PW).await;

    for n in ["alice", "Alice", "ａｌｉｃｅ"] {
        assert_eq!(
            guest_refused(&url_b, n).await,
            (ErrorCode::NickTaken, 4001),
            "guest {n} on B"
        );
    }
    let (code, _, close) = refused(&url_b, Some("ALICE"), Some(register_auth(PW))).await;
    assert_eq!((code, close), (ErrorCode::NickTaken, 4001), "register on B");

    // A guest holding a name on B blocks its registration on A.
    let (_dave, m) = try_hello(&url_b, Some("dave"), None).await;
    assert!(welcomed(m).1);
    let (code, _, close) = refused(&url_a, Some("Dave"), Some(register_auth(PW))).await;
    assert_eq!(
        (code, close),
        (ErrorCode::NickTaken, 4001),
        "dave is online on B"
    );

    let (_on_b, other) = sign_in(&url_b, "alice", PW).await;
    assert_ne!(other, token);
    let _resumed = hello_session(&url_b, &token).await;
    let (code, _, close) = refused(
        &url_b,
        Some("alice"),
        Some(common::auth::pw_auth("wrong pw!")),
    )
    .await;
    assert_eq!((code, close), (ErrorCode::SignInFailed, 4009));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_reach_every_node_and_sign_out_ends_them_all() {
    let redis = Redis::start("acct-dm");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut on_a, token) = register(&url_a, "alice", PW).await;
    let mut on_b = hello_session(&url_b, &token).await;
    let (mut carol, m) = try_hello(&url_a, Some("carol"), None).await;
    welcomed(m);

    carol
        .send(&ClientMessage::Direct {
            to: nick("alice"),
            text: text("hello both"),
            client_id: ClientMsgId::new("dm-1").expect("cid"),
        })
        .await;
    for c in [&mut on_a, &mut on_b] {
        let d = next_direct(c).await;
        assert_eq!((d.from.as_str(), d.text.as_str()), ("carol", "hello both"));
        assert!(d.guest);
    }

    let (mut other_b, t2) = sign_in(&url_b, "alice", PW).await;
    on_a.send(&ClientMessage::SignOut { everywhere: true })
        .await;
    assert_eq!(on_a.expect_close().await, 4010);
    assert_eq!(on_b.expect_close().await, 4010, "alice's connection on B");
    assert_eq!(other_b.expect_close().await, 4010, "another session on B");
    for t in [&token, &t2] {
        let (code, _, close) = refused(&url_b, None, Some(common::auth::session_auth(t))).await;
        assert_eq!((code, close), (ErrorCode::SessionExpired, 4009));
    }
}

/// Signing out one session on A ends its connection on B, and only that session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_one_session_reaches_the_other_node() {
    let redis = Redis::start("acct-one");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut on_a, token) = register(&url_a, "alice", PW).await;
    let mut same_on_b = hello_session(&url_b, &token).await;
    let (mut kept_on_b, _) = sign_in(&url_b, "alice", PW).await;
    on_a.send(&ClientMessage::SignOut { everywhere: false })
        .await;
    assert_eq!(on_a.expect_close().await, 4010);
    assert_eq!(same_on_b.expect_close().await, 4010);
    kept_on_b
        .send(&ClientMessage::ListRooms { after: None })
        .await;
    let m = kept_on_b
        .recv_until(|m| matches!(m, ServerMessage::Rooms { .. } | ServerMessage::Error { .. }))
        .await;
    assert!(matches!(m, ServerMessage::Rooms { .. }), "{m:?}");
}

/// The next presence event `c` gets: (nick, state).
async fn next_presence(c: &mut Client) -> (String, PresenceState) {
    match c
        .recv_until(|m| matches!(m, ServerMessage::Presence { .. }))
        .await
    {
        ServerMessage::Presence { nick, state, .. } => (nick.to_string(), state),
        _ => unreachable!(),
    }
}

/// A user with a connection on each node is in a room once: one `joined`, and `left` only
/// when its last connection goes, as seen from both nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_counts_the_user_not_its_connections_across_nodes() {
    let redis = Redis::start("acct-presence");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut on_a, token) = register(&url_a, "alice", PW).await;
    let mut on_b = hello_session(&url_b, &token).await;
    let mut bob = a.join("bob", "lobby").await;
    let mut cid = b.join("cid", "lobby").await;
    assert_eq!(
        next_presence(&mut bob).await,
        ("cid".to_string(), PresenceState::Joined)
    );
    let j = on_a.join("lobby", None).await;
    assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
    for w in [&mut bob, &mut cid] {
        assert_eq!(
            next_presence(w).await,
            ("alice".to_string(), PresenceState::Joined)
        );
    }
    let j = on_b.join("lobby", None).await;
    assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
    drop(on_a);
    for w in [&mut bob, &mut cid] {
        w.expect_silence(Duration::from_millis(700)).await;
    }
    drop(on_b);
    for w in [&mut bob, &mut cid] {
        assert_eq!(
            next_presence(w).await,
            ("alice".to_string(), PresenceState::Left)
        );
    }
}

/// A direct message alice sends on node A shows on her connection on node B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_own_direct_message_shows_on_its_other_node() {
    let redis = Redis::start("acct-own-dm");
    let (a, b) = (node(&redis), node(&redis));
    let (mut on_a, token) = register(&chat_url(&a.addr), "alice", PW).await;
    let mut on_b = hello_session(&chat_url(&b.addr), &token).await;
    let (mut bob, _) = b.connect("bob").await;
    on_a.send(&ClientMessage::Direct {
        to: nick("bob"),
        text: text("from A"),
        client_id: ClientMsgId::new("own-1").expect("cid"),
    })
    .await;
    for c in [&mut bob, &mut on_b] {
        let d = next_direct(c).await;
        assert_eq!((d.from.as_str(), d.to.as_str()), ("alice", "bob"));
        assert_eq!(d.text.as_str(), "from A");
        assert!(!d.guest);
    }
}

/// Runs `server user <args> --redis <url>` with `stdin`; panics unless it succeeds.
fn user_command(redis: &Redis, args: &[&str], stdin: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("user")
        .args(args)
        .args(["--redis", &redis.url()])
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

/// An operator's `disable` and `reset-password` reach the running nodes: the account's
/// connections close (4010) and its tokens and password stop working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_commands_end_live_sessions() {
    let redis = Redis::start("acct-operator");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut on_a, token) = register(&url_a, "alice", PW).await;
    let mut on_b = hello_session(&url_b, &token).await;
    user_command(&redis, &["disable", "ALICE"], "");
    assert_eq!(on_a.expect_close().await, 4010);
    assert_eq!(on_b.expect_close().await, 4010);
    let (code, _, close) = refused(&url_b, None, Some(common::auth::session_auth(&token))).await;
    assert_eq!((code, close), (ErrorCode::SessionExpired, 4009));
    let (code, _, close) = refused(&url_a, Some("alice"), Some(common::auth::pw_auth(PW))).await;
    assert_eq!((code, close), (ErrorCode::SignInFailed, 4009), "disabled");
    assert_eq!(
        guest_refused(&url_a, "alice").await,
        (ErrorCode::NickTaken, 4001),
        "a disabled account keeps its name"
    );

    user_command(&redis, &["enable", "alice"], "");
    let (mut back, _) = sign_in(&url_b, "alice", PW).await;
    user_command(
        &redis,
        &["reset-password", "alice"],
        "a password set by the operator\n",
    );
    assert_eq!(back.expect_close().await, 4010);
    let (code, _, _) = refused(&url_a, Some("alice"), Some(common::auth::pw_auth(PW))).await;
    assert_eq!(code, ErrorCode::SignInFailed, "the old password");
    sign_in(&url_a, "alice", "a password set by the operator").await;
}
