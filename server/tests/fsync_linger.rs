//! A light load's fsync shared by the next message (`--sqlite-fsync-linger-ms`), through the
//! real binary and real WebSocket clients: the first message is delivered at once, its ack
//! waits for the fsync, and a second message a moment later shares it (the metrics count one
//! fsync for the two commits); with the wait off, each message has its own.

mod common;

use common::*;
use shared::ServerMessage;
use std::time::Duration;

fn is_ack(m: &ServerMessage) -> bool {
    matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. })
}

fn is_message(text: &'static str) -> impl Fn(&ServerMessage) -> bool {
    move |m| matches!(m, ServerMessage::Message(c) if c.text.as_str() == text)
}

/// alice and bob in `general` on a fresh server with the linger at `linger_ms`; alice says
/// "first", bob sees it; then bob says "second" and both are acked. Returns the metrics'
/// group commits and fsyncs, and whether alice's ack came before bob sent his.
async fn two_messages(name: &str, linger_ms: &str) -> (i64, i64, bool) {
    let dir = std::env::temp_dir().join(format!("chat-linger-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_string_lossy().to_string();
    let (server, addr, metrics) = spawn_with_metrics(&[
        "--data-dir",
        dir_s.as_str(),
        "--sqlite-fsync-linger-ms",
        linger_ms,
    ]);
    let server = Running(server);
    let url = format!("ws://{addr}/chat");
    let mut alice = Client::open(&url).await;
    alice.hello("alice").await;
    alice.join("general", None).await;
    let mut bob = Client::open(&url).await;
    bob.hello("bob").await;
    bob.join("general", None).await;

    alice.say("general", "first").await;
    // Delivered once committed, whatever the fsync does.
    bob.recv_until(is_message("first")).await;
    // With the wait on, the ack waits for a message to share the fsync (up to 5 s here).
    let early_ack = tokio::time::timeout(Duration::from_secs(1), alice.recv_until(is_ack))
        .await
        .is_ok();
    bob.say("general", "second").await;
    alice.recv_until(is_message("second")).await;
    if !early_ack {
        assert!(matches!(
            alice.recv_until(is_ack).await,
            ServerMessage::Ack { .. }
        ));
    }
    assert!(matches!(
        bob.recv_until(is_ack).await,
        ServerMessage::Ack { .. }
    ));
    let counts = (
        metric(&metrics, "chat_store_commit_seconds_count"),
        metric(&metrics, "chat_store_fsync_seconds_count"),
        early_ack,
    );
    drop((alice, bob, server));
    let _ = std::fs::remove_dir_all(&dir);
    counts
}

#[tokio::test]
async fn the_next_message_shares_a_lone_messages_fsync_and_both_acks_follow_it() {
    let (commits, fsyncs, early_ack) = two_messages("on", "5000").await;
    assert!(
        !early_ack,
        "the first ack came before any fsync could share it"
    );
    assert_eq!(commits, 2, "each message was a group commit of its own");
    assert_eq!(fsyncs, 1, "the second message shared the first one's fsync");
}

#[tokio::test]
async fn with_the_wait_off_each_lone_message_has_its_own_fsync() {
    let (commits, fsyncs, early_ack) = two_messages("off", "0").await;
    assert!(early_ack, "the first ack waited for the second message");
    assert_eq!(commits, 2);
    assert_eq!(fsyncs, 2);
}
