//! The hasher's time per address: password checks from one address are limited whatever the
//! name, so cycling through names (which the per-account throttle does not slow) cannot keep
//! the hasher busy; another address is not slowed.

mod common;

use common::{nick, Client, TestServer};
use shared::{Auth, ClientMessage, ErrorCode, Password, ServerMessage};

async fn sign_in(s: &TestServer, name: String) -> (ErrorCode, u16) {
    let mut c = Client::open(&s.url("/chat")).await;
    c.send(&ClientMessage::Hello {
        nick: Some(nick(&name)),
        protocol: 1,
        resume_token: None,
        auth: Some(Auth::Password {
            password: Password::new("not the password").expect("password"),
        }),
    })
    .await;
    let code = match c.recv().await {
        ServerMessage::Error { code, .. } => code,
        other => panic!("{other:?}"),
    };
    (code, c.expect_close().await)
}

#[tokio::test]
async fn password_checks_from_one_address_are_rate_limited_across_names() {
    let s = TestServer::start().await;
    // 30 at once, each for its own name: the per-account throttle never trips. The burst is
    // 10 checks (2 more come back each second), so most are refused before any hashing.
    let tries = (0..30).map(|i| sign_in(&s, format!("nobody{i}")));
    let codes = futures_util::future::join_all(tries).await;
    let failed = codes
        .iter()
        .filter(|c| **c == (ErrorCode::SignInFailed, 4009))
        .count();
    let refused = codes
        .iter()
        .filter(|c| **c == (ErrorCode::TooManyAttempts, 4012))
        .count();
    assert_eq!(failed + refused, 30, "{codes:?}");
    assert!((10..=14).contains(&failed), "checked: {failed} ({codes:?})");
    s.stop().await;
}
