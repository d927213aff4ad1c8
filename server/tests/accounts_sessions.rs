//! Sessions end to end: one account on several connections, signing out (one session or
//! everywhere), changing the password, session expiry, and hostile identity requests.

mod common;

use common::auth::{
    chat_url, expect_error, hello_session, refused, register, session_auth, sign_in, try_hello,
    welcomed, PW,
};
use common::{nick, run_binary, text, Client};
use futures_util::SinkExt;
use shared::{ClientMessage, ClientMsgId, ErrorCode, PresenceState, ServerMessage};

const OPEN: &[&str] = &["--store", "memory", "--registration-rate", "0"];

/// The connection still answers: a `list_rooms` gets its `rooms`.
async fn still_open(c: &mut Client) {
    c.send(&ClientMessage::ListRooms { after: None }).await;
    let m = c
        .recv_until(|m| matches!(m, ServerMessage::Rooms { .. } | ServerMessage::Error { .. }))
        .await;
    assert!(matches!(m, ServerMessage::Rooms { .. }), "{m:?}");
}

async fn dm(c: &mut Client, to: &str, t: &str) {
    c.next_cid += 1;
    c.send(&ClientMessage::Direct {
        to: nick(to),
        text: text(t),
        client_id: ClientMsgId::new(format!("d{}", c.next_cid)).expect("cid"),
    })
    .await;
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

/// The next message or presence event `c` gets (acks and typing skipped).
async fn next_event(c: &mut Client) -> ServerMessage {
    c.recv_until(|m| {
        matches!(
            m,
            ServerMessage::Message(_) | ServerMessage::Presence { .. }
        )
    })
    .await
}

fn joined(m: &ServerMessage) {
    assert!(matches!(m, ServerMessage::Joined { .. }), "{m:?}");
}

/// Two connections on one session token are one user: both are welcomed, both get its direct
/// messages and room messages, and presence tells of the user, not of its connections.
#[tokio::test]
async fn one_account_on_two_connections() {
    let (_s, addr) = run_binary(OPEN);
    let url = chat_url(&addr);
    let (mut a1, token) = register(&url, "alice", PW).await;
    let mut a2 = hello_session(&url, &token).await;
    still_open(&mut a1).await;

    let (mut bob, m) = try_hello(&url, Some("bob"), None).await;
    welcomed(m);
    dm(&mut bob, "alice", "to both").await;
    for a in [&mut a1, &mut a2] {
        let d = next_direct(a).await;
        assert_eq!((d.from.as_str(), d.text.as_str()), ("bob", "to both"));
        assert!(d.guest, "bob is a guest");
    }

    joined(&bob.join("lobby", None).await);
    joined(&a1.join("lobby", None).await);
    match next_event(&mut bob).await {
        ServerMessage::Presence {
            nick, state, guest, ..
        } => {
            assert_eq!((nick.as_str(), state), ("alice", PresenceState::Joined));
            assert!(!guest);
        }
        other => panic!("{other:?}"),
    }
    joined(&a2.join("lobby", None).await);
    a2.say("lobby", "from the second").await;
    // Had the second join been announced, bob would see that before the message.
    match next_event(&mut bob).await {
        ServerMessage::Message(m) => assert_eq!(m.text.as_str(), "from the second"),
        other => panic!("the second connection's join was announced: {other:?}"),
    }
    a1.say("lobby", "from the first").await;
    loop {
        match next_event(&mut a2).await {
            ServerMessage::Message(m) if m.text.as_str() == "from the first" => {
                assert_eq!(m.sender.as_str(), "alice");
                assert!(!m.guest);
                break;
            }
            ServerMessage::Message(m) if m.text.as_str() == "from the second" => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        next_message_text(&mut bob).await,
        "from the first",
        "bob gets it too"
    );

    // Alice's own direct message shows on her other connection.
    dm(&mut a1, "bob", "sent on one").await;
    let d = next_direct(&mut a2).await;
    assert_eq!((d.from.as_str(), d.to.as_str()), ("alice", "bob"));
    assert_eq!(next_direct(&mut bob).await.text.as_str(), "sent on one");

    // One connection leaving is no `left`; the last one is.
    drop(a1);
    // Nothing is announced while the server notices the close.
    bob.expect_silence(std::time::Duration::from_millis(500))
        .await;
    let mut a2 = a2;
    a2.say("lobby", "still here").await;
    match next_event(&mut bob).await {
        ServerMessage::Message(m) => assert_eq!(m.text.as_str(), "still here"),
        other => panic!("closing one of two connections was announced: {other:?}"),
    }
    drop(a2);
    match next_event(&mut bob).await {
        ServerMessage::Presence { nick, state, .. } => {
            assert_eq!((nick.as_str(), state), ("alice", PresenceState::Left))
        }
        other => panic!("{other:?}"),
    }
}

async fn next_message_text(c: &mut Client) -> String {
    match c
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await
    {
        ServerMessage::Message(m) => m.text.to_string(),
        _ => unreachable!(),
    }
}

async fn sign_out(c: &mut Client, everywhere: bool) {
    c.send(&ClientMessage::SignOut { everywhere }).await;
}

async fn token_refused(url: &str, token: &str) {
    let (code, _, close) = refused(url, None, Some(session_auth(token))).await;
    assert_eq!((code, close), (ErrorCode::SessionExpired, 4009), "{token}");
}

/// Signing out ends that session's connections (4010) and its token; other sessions stay.
#[tokio::test]
async fn sign_out_ends_one_session_then_everywhere() {
    sign_out_case(OPEN).await;
}

#[tokio::test]
async fn sign_out_on_sqlite() {
    let dir = common::auth::DataDir::new("sign-out");
    sign_out_case(&["--data-dir", dir.arg(), "--registration-rate", "0"]).await;
}

async fn sign_out_case(args: &[&str]) {
    let (_s, addr) = run_binary(args);
    let url = chat_url(&addr);
    let (mut a1, t1) = register(&url, "alice", PW).await;
    let mut a2 = hello_session(&url, &t1).await;
    let (mut b1, t2) = sign_in(&url, "alice", PW).await;

    sign_out(&mut a1, false).await;
    assert_eq!(a1.expect_close().await, 4010);
    assert_eq!(a2.expect_close().await, 4010, "the same session elsewhere");
    still_open(&mut b1).await;
    token_refused(&url, &t1).await;

    let mut b2 = hello_session(&url, &t2).await;
    let (mut c1, t3) = sign_in(&url, "alice", PW).await;
    sign_out(&mut b2, true).await;
    for c in [&mut b2, &mut b1, &mut c1] {
        assert_eq!(c.expect_close().await, 4010);
    }
    token_refused(&url, &t2).await;
    token_refused(&url, &t3).await;
    sign_in(&url, "alice", PW).await;
}

async fn change_password(c: &mut Client, old: &str, new: &str) {
    c.send(&ClientMessage::ChangePassword {
        old: common::auth::password(old),
        new: common::auth::password(new),
    })
    .await;
}

/// Changing the password needs the old one; it ends every other session and gives this
/// connection a new token.
#[tokio::test]
async fn change_password_ends_the_other_sessions() {
    change_password_case(OPEN).await;
}

#[tokio::test]
async fn change_password_on_sqlite() {
    let dir = common::auth::DataDir::new("change-password");
    change_password_case(&["--data-dir", dir.arg(), "--registration-rate", "0"]).await;
}

async fn change_password_case(args: &[&str]) {
    const NEW: &str = "a brand new password";
    let (_s, addr) = run_binary(args);
    let url = chat_url(&addr);
    let (mut a, t1) = register(&url, "alice", PW).await;
    let (mut b, t2) = sign_in(&url, "alice", PW).await;
    let mut b2 = hello_session(&url, &t2).await;

    change_password(&mut a, "not the password", NEW).await;
    assert_eq!(expect_error(&mut a).await.0, ErrorCode::SignInFailed);
    still_open(&mut a).await;
    still_open(&mut b).await;

    change_password(&mut a, PW, NEW).await;
    let t3 = match a
        .recv_until(|m| matches!(m, ServerMessage::PasswordChanged { .. }))
        .await
    {
        ServerMessage::PasswordChanged { session } => session,
        _ => unreachable!(),
    };
    assert!(common::auth::is_token(&t3));
    assert_eq!(b.expect_close().await, 4010);
    assert_eq!(b2.expect_close().await, 4010);
    still_open(&mut a).await;
    token_refused(&url, &t1).await;
    token_refused(&url, &t2).await;
    hello_session(&url, &t3).await;
    sign_in(&url, "alice", NEW).await;
    let (code, _, close) = refused(&url, Some("alice"), Some(common::auth::pw_auth(PW))).await;
    assert_eq!((code, close), (ErrorCode::SignInFailed, 4009));
    // The connection that changed it holds the new session: signing it out ends t3.
    sign_out(&mut a, false).await;
    assert_eq!(a.expect_close().await, 4010);
    token_refused(&url, &t3).await;
}

/// Waits past a 1 s limit (this waits for an expiry; nothing is timed).
async fn past_a_second() {
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
}

#[tokio::test]
async fn an_idle_session_expires() {
    let (_s, addr) = run_binary(&[
        "--store",
        "memory",
        "--registration-rate",
        "0",
        "--session-idle",
        "1s",
    ]);
    let url = chat_url(&addr);
    let (c, token) = register(&url, "alice", PW).await;
    drop(c);
    past_a_second().await;
    token_refused(&url, &token).await;
    sign_in(&url, "alice", PW).await;
}

#[tokio::test]
async fn a_session_expires_at_its_lifetime() {
    let (_s, addr) = run_binary(&[
        "--store",
        "memory",
        "--registration-rate",
        "0",
        "--session-lifetime",
        "1s",
    ]);
    let url = chat_url(&addr);
    let (c, token) = register(&url, "alice", PW).await;
    drop(c);
    past_a_second().await;
    token_refused(&url, &token).await;
}

/// Hostile identity requests are refused without harm: an oversized password, junk tokens,
/// account requests from a guest.
#[tokio::test]
async fn hostile_identity_requests() {
    let (_s, addr) = run_binary(OPEN);
    let url = chat_url(&addr);

    // A 1 MB password: the frame is over the message size limit.
    let mut c = Client::open(&url).await;
    let huge = "p".repeat(1 << 20);
    let frame = format!(
        r#"{{"type":"hello","protocol":1,"nick":"alice","auth":{{"kind":"register","password":"{huge}"}}}}"#
    );
    let _ =
        c.ws.send(tokio_tungstenite::tungstenite::Message::Text(frame.into()))
            .await;
    assert_eq!(c.expect_close().await, 1009);
    // Within the frame limit but past the password limit: refused by validation.
    let mut c = Client::open(&url).await;
    let long = "p".repeat(shared::types::MAX_PASSWORD_BYTES + 1);
    c.send_text(&format!(
        r#"{{"type":"hello","protocol":1,"nick":"alice","auth":{{"kind":"register","password":"{long}"}}}}"#
    ))
    .await;
    assert_eq!(expect_error(&mut c).await.0, ErrorCode::InvalidMessage);
    drop(c);

    for junk in ["abc".to_string(), "z".repeat(64), "a".repeat(10 * 1024)] {
        token_refused(&url, &junk).await;
    }

    let (mut g, m) = try_hello(&url, Some("gus"), None).await;
    assert!(welcomed(m).1);
    sign_out(&mut g, false).await;
    assert_eq!(expect_error(&mut g).await.0, ErrorCode::NotSignedIn);
    sign_out(&mut g, true).await;
    assert_eq!(expect_error(&mut g).await.0, ErrorCode::NotSignedIn);
    change_password(&mut g, PW, "another password").await;
    assert_eq!(expect_error(&mut g).await.0, ErrorCode::NotSignedIn);
    still_open(&mut g).await;
    // Nothing was made of the oversized requests: alice is no account.
    let (_a, m) = try_hello(&url, Some("alice"), None).await;
    assert!(welcomed(m).1);
}
