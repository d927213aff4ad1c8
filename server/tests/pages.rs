//! Page replies against the real binary: `joined`, `history` and `rooms` fit a byte budget
//! under the outbound bound and say `has_more`, and one client's page requests are answered
//! one at a time, so no reply can close its own client as a slow consumer (4008).

mod common;

use common::*;
use shared::{ChatMessage, ClientMessage, ServerMessage};

/// Default outbound bound (`--outbound-queue-bytes`).
const BOUND: usize = 1024 * 1024;

/// Fills `general` with `n` messages of about 3,900 bytes each, acked one by one.
async fn fill(addr: &str, n: usize) {
    let mut w = Client::open(&format!("ws://{addr}/chat")).await;
    w.hello("writer").await;
    w.join("general", None).await;
    for i in 0..n {
        w.say("general", &format!("{i:05} {}", "x".repeat(3_900)))
            .await;
        w.recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
            .await;
    }
}

fn ids(h: &[ChatMessage]) -> Vec<u64> {
    h.iter().map(|m| m.id).collect()
}

/// After a restart a client resumes with `after`: 400 messages of 4 KB (1.6 MB) used to go
/// in one `joined`, past the bound, and the server closed the client with 4008 every time it
/// came back. Now the `joined` fits the budget, says `has_more`, and `history` pages bring
/// the rest, in order, on a connection that stays open.
#[tokio::test]
async fn a_resume_past_the_outbound_bound_pages_instead_of_closing() {
    let (_server, addr) = run_binary(&["--store", "memory", "--rate-per-sec", "0"]);
    fill(&addr, 400).await;
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    c.hello("reader").await;
    c.send(&ClientMessage::Join {
        room: room("general"),
        after: Some(0),
    })
    .await;
    let raw = c.recv_text().await;
    assert!(raw.len() < BOUND / 2, "joined is {} bytes", raw.len());
    let ServerMessage::Joined {
        history, has_more, ..
    } = serde_json::from_str(&raw).expect("joined")
    else {
        panic!("expected joined: {}", &raw[..200.min(raw.len())])
    };
    assert!(has_more && !history.is_empty());
    let mut got = ids(&history);
    let mut pages = 1;
    loop {
        c.send(&ClientMessage::History {
            room: room("general"),
            before: None,
            after: got.last().copied(),
            limit: Some(500),
        })
        .await;
        let raw = c.recv_text().await;
        assert!(raw.len() < BOUND / 2, "history is {} bytes", raw.len());
        let ServerMessage::History {
            messages, has_more, ..
        } = serde_json::from_str(&raw).expect("history")
        else {
            panic!("expected history")
        };
        got.extend(ids(&messages));
        pages += 1;
        if !has_more {
            break;
        }
    }
    assert_eq!(got, (1..=400).collect::<Vec<u64>>());
    assert!(
        pages >= 7,
        "1.6 MB in pages of at most 256 KiB: {pages} pages"
    );
}

/// A client that asks for 30 pages of 200 KB without reading any: the replies used to pile
/// up in its queue (6 MB, past the bound) and close it with 4008. The server now answers one
/// page at a time, reading the next request once the last reply is written, so all 30 come,
/// in order, and the connection stays open.
#[tokio::test]
async fn pages_asked_for_without_reading_come_one_at_a_time() {
    let (_server, addr) = run_binary(&["--store", "memory", "--rate-per-sec", "0"]);
    fill(&addr, 50).await;
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    c.hello("hoarder").await;
    for _ in 0..30 {
        c.send(&ClientMessage::History {
            room: room("general"),
            before: None,
            after: None,
            limit: None,
        })
        .await;
    }
    // Give the server time to queue everything it would queue.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for i in 0..30 {
        match c.recv().await {
            ServerMessage::History { messages, .. } => {
                assert_eq!(messages.len(), 50, "page {i}")
            }
            other => panic!("page {i}: {other:?}"),
        }
    }
    c.send(&ClientMessage::ListRooms { after: None }).await;
    assert!(matches!(c.recv().await, ServerMessage::Rooms { .. }));
}

/// 3,000 rooms with 48-character names make a listing of about 200 KB; with a 64 KiB bound
/// it used to close the client asking for it. Now it comes in pages of at most half the
/// bound, each naming rooms after the last, until `has_more` is false: every room once, in
/// order.
#[tokio::test]
async fn the_room_list_comes_in_pages() {
    let (_server, addr) = run_binary(&[
        "--store",
        "memory",
        "--rate-per-sec",
        "0",
        "--room-creation-rate",
        "0",
        "--max-rooms",
        "4000",
        "--max-rooms-per-connection",
        "4000",
        "--outbound-queue-bytes",
        "65536",
    ]);
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    c.hello("collector").await;
    let names: Vec<String> = (0..3000)
        .map(|i| format!("{i:04}-{}", "r".repeat(43)))
        .collect();
    for chunk in names.chunks(100) {
        for n in chunk {
            c.send(&ClientMessage::Join {
                room: room(n),
                after: None,
            })
            .await;
        }
        for _ in chunk {
            let m = c.recv().await;
            assert!(matches!(m, ServerMessage::Joined { .. }), "{m:?}");
        }
    }
    let mut listed = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        c.send(&ClientMessage::ListRooms {
            after: after.clone(),
        })
        .await;
        let raw = c.recv_text().await;
        assert!(raw.len() <= 32 * 1024, "rooms page is {} bytes", raw.len());
        let ServerMessage::Rooms {
            rooms,
            has_more,
            after: echoed,
        } = serde_json::from_str(&raw).expect("rooms")
        else {
            panic!("expected rooms")
        };
        assert_eq!(echoed, after, "the reply names its page");
        pages += 1;
        after = rooms.last().map(|r| r.name.clone());
        listed.extend(rooms.into_iter().map(|r| {
            assert_eq!(r.members, 1);
            r.name.to_string()
        }));
        if !has_more {
            break;
        }
    }
    assert_eq!(listed, names);
    assert!(pages >= 6, "about 200 KB in pages of 32 KiB: {pages}");
}
