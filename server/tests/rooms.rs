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

fn ack_id(m: &ServerMessage) -> u64 {
    match m {
        ServerMessage::Ack { id, .. } => *id,
        other => panic!("expected an ack: {other:?}"),
    }
}

async fn send_and_ack(c: &mut Client, msg: ClientMessage) -> u64 {
    c.send(&msg).await;
    let reply = c
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
        .await;
    ack_id(&reply)
}

fn direct(to: &str, t: &str, cid: &str) -> ClientMessage {
    ClientMessage::Direct {
        to: nick(to),
        text: text(t),
        client_id: shared::ClientMsgId::new(cid).expect("cid"),
    }
}

fn say(room_s: &str, t: &str, cid: &str) -> ClientMessage {
    ClientMessage::Send {
        room: room(room_s),
        text: text(t),
        client_id: shared::ClientMsgId::new(cid).expect("cid"),
    }
}

/// A room nobody is in leaves memory, and a direct conversation leaves it once its message
/// is through; when they come back, their ids continue from the store, after a restart too.
#[tokio::test]
async fn rooms_leave_memory_when_empty_and_their_ids_continue() {
    let dir = std::env::temp_dir().join(format!("chat-rooms-evict-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let dir_s = dir.to_string_lossy().to_string();
    let args = ["--data-dir", dir_s.as_str()];
    let (server, addr, metrics) = spawn_with_metrics(&args);
    let server = Running(server);
    // An account: only direct messages between accounts are stored (a guest's are live).
    let (mut c, token) =
        auth::register(&format!("ws://{addr}/chat"), "keeper", "keeper-pass-1").await;
    c.join("temp", None).await;
    assert_eq!(metric(&metrics, "chat_rooms_open"), 1);
    for i in 1..=3 {
        assert_eq!(
            send_and_ack(&mut c, say("temp", "hi", &format!("a{i}"))).await,
            i
        );
    }
    c.send(&ClientMessage::Leave { room: room("temp") }).await;
    c.recv_until(|m| matches!(m, ServerMessage::Left { .. }))
        .await;
    assert_eq!(
        metric(&metrics, "chat_rooms_open"),
        0,
        "the empty room left memory"
    );
    c.join("temp", None).await;
    assert_eq!(send_and_ack(&mut c, say("temp", "back", "a4")).await, 4);
    // A direct message to oneself: a conversation of its own, in memory only while it is sent.
    assert_eq!(
        send_and_ack(&mut c, direct("keeper", "note", "d1")).await,
        1
    );
    assert_eq!(
        send_and_ack(&mut c, direct("keeper", "note", "d2")).await,
        2
    );
    assert_eq!(
        metric(&metrics, "chat_rooms_open"),
        1,
        "only `temp` is held"
    );
    drop(c);
    drop(server);

    let (_server, addr) = run_binary(&args);
    let mut c = auth::hello_session(&format!("ws://{addr}/chat"), &token).await;
    let joined = c.join("temp", None).await;
    let ServerMessage::Joined { history, .. } = joined else {
        panic!("{joined:?}")
    };
    assert_eq!(history.last().map(|m| m.id), Some(4));
    assert_eq!(send_and_ack(&mut c, say("temp", "again", "a5")).await, 5);
    assert_eq!(
        send_and_ack(&mut c, direct("keeper", "note", "d3")).await,
        3
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A full table is not full for good: once the rooms in it are left, a new one gets in.
#[tokio::test]
async fn a_table_full_of_left_rooms_takes_new_ones() {
    let (server, addr, metrics) = spawn_with_metrics(&[
        "--store",
        "memory",
        "--max-rooms",
        "5",
        "--room-creation-rate",
        "0",
    ]);
    let _server = Running(server);
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    c.hello("filler").await;
    for i in 0..5 {
        let j = c.join(&format!("r{i}"), None).await;
        assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
    }
    let refused = c.join("one-more", None).await;
    assert!(
        matches!(
            refused,
            ServerMessage::Error {
                code: shared::ErrorCode::TooManyRooms,
                ..
            }
        ),
        "{refused:?}"
    );
    // Another user's DMs still go through: a conversation is held only while it is sent.
    let mut d = Client::open(&format!("ws://{addr}/chat")).await;
    d.hello("writer").await;
    for i in 0..20 {
        send_and_ack(&mut d, direct("filler", "psst", &format!("p{i}"))).await;
    }
    for i in 0..5 {
        c.send(&ClientMessage::Leave {
            room: room(&format!("r{i}")),
        })
        .await;
    }
    let j = c.join("one-more", None).await;
    assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
    assert_eq!(metric(&metrics, "chat_rooms_open"), 1);
}

/// Creating rooms costs tokens: a user gets a burst of 64 (the rooms one connection may be
/// in) and then one a second; an address gets four users' worth. Joining a room already in
/// memory is free.
#[tokio::test]
async fn creating_rooms_is_rate_limited_per_user_and_per_address() {
    let (_server, addr) = run_binary(&["--store", "memory", "--rate-per-sec", "0"]);
    let url = format!("ws://{addr}/chat");
    let is_limited = |m: &ServerMessage| {
        matches!(
            m,
            ServerMessage::Error {
                code: shared::ErrorCode::RateLimited,
                ..
            }
        )
    };
    let mut a = Client::open(&url).await;
    a.hello("maker0").await;
    for i in 0..64 {
        let j = a.join(&format!("m0-{i}"), None).await;
        assert!(matches!(j, ServerMessage::Joined { .. }), "room {i}: {j:?}");
    }
    for i in 0..64 {
        a.send(&ClientMessage::Leave {
            room: room(&format!("m0-{i}")),
        })
        .await;
    }
    let refused = a.join("m0-extra", None).await;
    assert!(is_limited(&refused), "{refused:?}");
    // A room in memory costs nothing to join.
    let mut keeper = Client::open(&url).await;
    keeper.hello("keeper").await;
    // (made by a user with tokens left)
    keeper.join("kept", None).await;
    let j = a.join("kept", None).await;
    assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
    // Three more users from this address spend what is left of its 256.
    let mut refused_at = None;
    'users: for u in 1..=4 {
        let mut c = Client::open(&url).await;
        c.hello(&format!("maker{u}")).await;
        for i in 0..64 {
            let j = c.join(&format!("m{u}-{i}"), None).await;
            if is_limited(&j) {
                refused_at = Some((u, i));
                break 'users;
            }
            c.send(&ClientMessage::Leave {
                room: room(&format!("m{u}-{i}")),
            })
            .await;
        }
    }
    let (u, i) = refused_at.expect("the address was never limited");
    let made = 64 + 1 + (u - 1) * 64 + i;
    assert!(
        (250..300).contains(&made),
        "the address was refused after {made} rooms"
    );
}
