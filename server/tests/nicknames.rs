//! Nicknames that cannot be told apart (case, compatibility forms, lookalike letters) are one
//! user; mixed-script nicknames are refused; everyone sees a nickname as its user typed it.

mod common;

use common::*;
use shared::{ClientMessage, ClientMsgId, ErrorCode, ServerMessage};
use std::time::Duration;

/// Says hello as `nick` on a fresh connection and returns the refusal's code and close code.
async fn refused(s: &TestServer, nick: &str) -> (ErrorCode, u16) {
    let mut c = Client::open(&s.url("/chat")).await;
    let code = match c.hello(nick).await {
        ServerMessage::Error { code, .. } => code,
        other => panic!("{nick}: {other:?}"),
    };
    (code, c.expect_close().await)
}

#[tokio::test]
async fn other_spellings_of_a_connected_nickname_are_taken() {
    let s = TestServer::start().await;
    let (_alice, _) = s.join("Alice", "general").await;
    for clash in ["alice", "ALICE", "аlice", "ａｌｉｃｅ"] {
        assert_eq!(
            refused(&s, clash).await,
            (ErrorCode::NickTaken, 4001),
            "{clash}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn a_whole_script_lookalike_is_taken() {
    let s = TestServer::start().await;
    let (_latin, _) = s.join("paypal", "general").await;
    // All Cyrillic: р, а, у, р, а, palochka.
    assert_eq!(refused(&s, "раураӏ").await, (ErrorCode::NickTaken, 4001));
    s.stop().await;
}

#[tokio::test]
async fn latin_mixed_with_cyrillic_is_an_invalid_nickname() {
    let s = TestServer::start().await;
    assert_eq!(refused(&s, "pаypal").await, (ErrorCode::InvalidNick, 4002));
    s.stop().await;
}

#[tokio::test]
async fn han_with_hiragana_is_a_valid_nickname() {
    let s = TestServer::start().await;
    let mut c = Client::open(&s.url("/chat")).await;
    match c.hello("太郎たろう").await {
        ServerMessage::Welcome { nick, .. } => assert_eq!(nick.as_str(), "太郎たろう"),
        other => panic!("{other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn others_see_the_nickname_as_typed() {
    let s = TestServer::start().await;
    let (mut alice, _) = s.join("Alice", "general").await;
    let (mut bob, _) = s.join("bob", "general").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    alice.say("general", "hi").await;
    let m = bob
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await;
    let ServerMessage::Message(m) = m else {
        unreachable!()
    };
    assert_eq!(m.sender.as_str(), "Alice");

    // A direct message to another spelling reaches her, addressed as she spells herself.
    bob.send(&ClientMessage::Direct {
        to: nick("alice"),
        text: text("psst"),
        client_id: ClientMsgId::new("d1").expect("cid"),
    })
    .await;
    let got = alice
        .recv_until(|m| matches!(m, ServerMessage::Direct(_)))
        .await;
    let ServerMessage::Direct(d) = got else {
        unreachable!()
    };
    assert_eq!((d.from.as_str(), d.to.as_str()), ("bob", "Alice"));
    s.stop().await;
}

#[tokio::test]
async fn the_demo_path_follows_the_same_rule() {
    let s = TestServer::start().await;
    let (_alice, _) = s.join("Alice", "general").await;
    // "аlice" with a Cyrillic а, percent-escaped as the demo page's URL carries it.
    let mut clash = Client::open(&s.url("/ws/%D0%B0lice")).await;
    assert_eq!(clash.expect_close().await, 4001);
    // "pаypal" with one Cyrillic а.
    let mut mixed = Client::open(&s.url("/ws/p%D0%B0ypal")).await;
    assert_eq!(mixed.expect_close().await, 4002);
    s.stop().await;
}
