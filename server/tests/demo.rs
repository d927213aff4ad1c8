//! The demo-compatible endpoint `/ws/<nickname>`, driven exactly as the demo's page does:
//! plain text in, `{"sender","msg"}` out to everyone else, nothing back to the sender.

mod common;

use common::*;
use futures_util::StreamExt;
use shared::ServerMessage;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn demo(s: &TestServer, nick: &str) -> Client {
    Client::open(&s.url(&format!("/ws/{nick}"))).await
}

fn sender_msg(frame: &str) -> (String, String) {
    let v: serde_json::Value = serde_json::from_str(frame).expect("json");
    let obj = v.as_object().expect("object");
    assert_eq!(obj.len(), 2, "exactly sender and msg: {frame}");
    (
        obj["sender"].as_str().expect("sender").into(),
        obj["msg"].as_str().expect("msg").into(),
    )
}

#[tokio::test]
async fn demo_clients_chat_and_share_the_default_room_with_typed_clients() {
    let s = TestServer::start().await;
    let mut alice = demo(&s, "alice").await;
    let mut bob = demo(&s, "bob").await;
    let (mut typed, _) = s.join("carol", "general").await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // The demo page: ws.send(text).
    alice.send_text("hello from the demo").await;
    assert_eq!(
        sender_msg(&bob.recv_text().await),
        ("alice (guest)".into(), "hello from the demo".into())
    );
    let m = typed
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await;
    let ServerMessage::Message(m) = m else {
        unreachable!()
    };
    assert_eq!(
        (m.sender.as_str(), m.room.as_str(), m.text.as_str()),
        ("alice", "general", "hello from the demo")
    );
    assert!(m.guest, "a demo user has no account: its messages say so");
    // Nothing is sent back to the sender.
    alice.expect_silence(Duration::from_millis(200)).await;

    // A typed client's message reaches demo users in the demo's shape.
    typed.say("general", "hi demo <b>x</b>").await;
    assert_eq!(
        sender_msg(&alice.recv_text().await),
        ("carol (guest)".into(), "hi demo <b>x</b>".into())
    );
    assert_eq!(
        sender_msg(&bob.recv_text().await),
        ("carol (guest)".into(), "hi demo <b>x</b>".into())
    );
    // Presence and acks are not sent to demo users.
    alice.expect_silence(Duration::from_millis(200)).await;
    s.stop().await;
}

#[tokio::test]
async fn demo_messages_land_in_history() {
    let s = TestServer::start().await;
    let mut alice = demo(&s, "alice").await;
    alice.send_text("remember me").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_c, j) = s.join("carol", "general").await;
    let ServerMessage::Joined {
        history, members, ..
    } = j
    else {
        panic!("{j:?}")
    };
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text.as_str(), "remember me");
    assert!(members.iter().any(|m| m.as_str() == "alice"));
    s.stop().await;
}

#[tokio::test]
async fn demo_nickname_clash_closes_4001_instead_of_replacing() {
    let s = TestServer::start().await;
    let mut first = demo(&s, "alice").await;
    let mut second = demo(&s, "alice").await;
    assert_eq!(second.expect_close().await, 4001);
    let mut bob = demo(&s, "bob").await;
    bob.send_text("still there?").await;
    assert_eq!(
        sender_msg(&first.recv_text().await),
        ("bob (guest)".into(), "still there?".into())
    );
    s.stop().await;
}

#[tokio::test]
async fn demo_invalid_nickname_closes_4002_and_percent_escapes_decode() {
    let s = TestServer::start().await;
    let mut bad = demo(&s, "a%20b").await;
    assert_eq!(bad.expect_close().await, 4002);
    let mut ok = demo(&s, "%C3%A9lodie").await;
    let (mut typed, _) = s.join("carol", "general").await;
    ok.send_text("bonjour").await;
    let m = typed
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await;
    assert!(matches!(m, ServerMessage::Message(ref m) if m.sender.as_str() == "élodie"));
    s.stop().await;
}

#[tokio::test]
async fn demo_blank_text_is_dropped_and_connection_lives() {
    let s = TestServer::start().await;
    let mut alice = demo(&s, "alice").await;
    let mut bob = demo(&s, "bob").await;
    alice.send_text("   ").await;
    alice.send_text("real").await;
    assert_eq!(
        sender_msg(&bob.recv_text().await),
        ("alice (guest)".into(), "real".into())
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(100), alice.ws.next())
            .await
            .is_err()
    );
    alice.send_raw(Message::Text("again".into())).await;
    assert_eq!(sender_msg(&bob.recv_text().await).1, "again");
    s.stop().await;
}
