//! The room table against the real binary: what a few clients send cannot fill it for
//! everyone else.

mod common;

use common::*;
use shared::{ClientMessage, ServerMessage};

/// Reading a room's history creates nothing: 40 reads of rooms nobody joined leave the table
/// as it was, and a later join of a new room still gets in (it used to get `too_many_rooms`
/// until a restart).
#[tokio::test]
async fn reading_history_creates_no_room() {
    let (mut child, addr) = spawn_binary(&[
        "--store",
        "memory",
        "--max-rooms",
        "5",
        "--rate-per-sec",
        "0",
    ]);
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    c.hello("reader").await;
    for i in 0..40 {
        c.send(&ClientMessage::History {
            room: room(&format!("nobody-here-{i}")),
            before: None,
            after: None,
            limit: None,
        })
        .await;
        let reply = c
            .recv_until(|m| {
                matches!(
                    m,
                    ServerMessage::History { .. } | ServerMessage::Error { .. }
                )
            })
            .await;
        let ServerMessage::History {
            messages, has_more, ..
        } = reply
        else {
            panic!("history of an empty room: {reply:?}")
        };
        assert!(messages.is_empty() && !has_more);
    }
    let joined = c.join("a-new-room", None).await;
    assert!(matches!(joined, ServerMessage::Joined { .. }), "{joined:?}");
    let _ = child.kill();
    let _ = child.wait();
}
