//! Chat capabilities over real sockets: nicknames, rooms, broadcast, DMs, presence, typing,
//! acks and idempotency, history, resume.

mod common;

use common::*;
use shared::{ClientMessage, ClientMsgId, ErrorCode, PresenceState, ServerMessage};
use std::sync::Arc;
use std::time::Duration;

fn ids(history: &[shared::ChatMessage]) -> Vec<u64> {
    history.iter().map(|m| m.id).collect()
}

#[tokio::test]
async fn hello_gets_welcome_with_limits() {
    let s = TestServer::start().await;
    let mut c = Client::open(&s.url("/chat")).await;
    match c.hello("alice").await {
        ServerMessage::Welcome {
            nick,
            protocol,
            default_room,
            resume_token,
            epoch,
            limits,
            guest,
            session,
            admin,
            conversations,
        } => {
            assert!(!admin && conversations.is_empty(), "a guest has neither");
            assert_eq!(nick.as_str(), "alice");
            assert!(guest, "no account: a guest");
            assert_eq!(session, None, "a guest gets no session token");
            assert_eq!(epoch, s.hub.epoch());
            assert_eq!(protocol, 1);
            assert_eq!(default_room.as_str(), "general");
            assert!(resume_token.len() >= 16);
            assert_eq!(limits.max_text_bytes, 4000);
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn nickname_clash_is_refused_not_taken_over() {
    let s = TestServer::start().await;
    let (mut alice, _) = s.join("alice", "general").await;
    let mut imposter = Client::open(&s.url("/chat")).await;
    match imposter.hello("alice").await {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::NickTaken);
            assert!(message.contains("alice"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(imposter.expect_close().await, 4001);
    // The original session is untouched.
    alice.say("general", "still me").await;
    let m = alice
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await;
    assert!(matches!(m, ServerMessage::Message(ref c) if c.sender.as_str() == "alice"));
    // Once alice leaves, the name is free again.
    drop(alice);
    let mut again = Client::open(&s.url("/chat")).await;
    let mut welcomed = false;
    for _ in 0..50 {
        match again.hello("alice").await {
            ServerMessage::Welcome { .. } => {
                welcomed = true;
                break;
            }
            _ => {
                again = Client::open(&s.url("/chat")).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    assert!(welcomed, "nickname never freed after disconnect");
    s.stop().await;
}

#[tokio::test]
async fn invalid_nickname_gets_reason_and_4002() {
    let s = TestServer::start().await;
    let mut c = Client::open(&s.url("/chat")).await;
    c.send_text(r#"{"type":"hello","nick":"no spaces please","protocol":1}"#)
        .await;
    match c.recv().await {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::InvalidNick);
            assert!(message.contains("nickname"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.expect_close().await, 4002);
    s.stop().await;
}

#[tokio::test]
async fn unsupported_protocol_version_closes_4006() {
    let s = TestServer::start().await;
    let mut c = Client::open(&s.url("/chat")).await;
    c.send_text(r#"{"type":"hello","nick":"bob","protocol":99}"#)
        .await;
    assert!(matches!(
        c.recv().await,
        ServerMessage::Error {
            code: ErrorCode::UnsupportedProtocol,
            ..
        }
    ));
    assert_eq!(c.expect_close().await, 4006);
    s.stop().await;
}

#[tokio::test]
async fn requests_before_hello_are_refused() {
    let s = TestServer::start().await;
    let mut c = Client::open(&s.url("/chat")).await;
    c.send(&ClientMessage::ListRooms { after: None }).await;
    assert!(matches!(
        c.recv().await,
        ServerMessage::Error {
            code: ErrorCode::HelloRequired,
            ..
        }
    ));
    assert!(matches!(
        c.hello("late").await,
        ServerMessage::Welcome { .. }
    ));
    assert!(matches!(
        c.hello("again").await,
        ServerMessage::Error {
            code: ErrorCode::AlreadyHello,
            ..
        }
    ));
    s.stop().await;
}

#[tokio::test]
async fn room_broadcast_has_ids_timestamps_and_reaches_every_member() {
    let s = TestServer::start().await;
    let (mut a, _) = s.join("alice", "rust").await;
    let (mut b, _) = s.join("bob", "rust").await;
    let (mut outsider, _) = s.join("carol", "general").await;
    let cid = a.say("rust", "hello rust").await;
    // The ack and the sender's own copy may come in either order.
    let mut ack = None;
    for c in [&mut a, &mut b] {
        let m = loop {
            match c.recv().await {
                ServerMessage::Message(m) => break m,
                m @ ServerMessage::Ack { .. } => ack = Some(m),
                _ => {}
            }
        };
        assert_eq!(
            (m.room.as_str(), m.sender.as_str(), m.text.as_str()),
            ("rust", "alice", "hello rust")
        );
        assert_eq!(m.id, 1);
        assert!(m.ts > 1_600_000_000_000);
    }
    let ack = match ack {
        Some(ack) => ack,
        None => {
            a.recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
                .await
        }
    };
    assert!(
        matches!(ack, ServerMessage::Ack { ref client_id, id: 1, duplicate: false, .. } if client_id.as_str() == cid)
    );
    outsider.expect_silence(Duration::from_millis(200)).await;
    s.stop().await;
}

#[tokio::test]
async fn sending_to_a_room_not_joined_is_an_error() {
    let s = TestServer::start().await;
    let mut a = s.connect("alice").await;
    let cid = a.say("general", "hi").await;
    match a.recv().await {
        ServerMessage::Error {
            code, client_id, ..
        } => {
            assert_eq!(code, ErrorCode::NotInRoom);
            assert_eq!(client_id.map(String::from), Some(cid));
        }
        other => panic!("{other:?}"),
    }
    s.stop().await;
}

#[tokio::test]
async fn per_room_order_is_the_same_for_every_receiver() {
    let s = TestServer::with(|c| c.rate_per_sec = 0).await;
    let mut receivers = Vec::new();
    for i in 0..3 {
        receivers.push(s.join(&format!("r{i}"), "busy").await.0);
    }
    let mut senders = Vec::new();
    for i in 0..4 {
        senders.push(s.join(&format!("s{i}"), "busy").await.0);
    }
    // Drain presence noise.
    tokio::time::sleep(Duration::from_millis(100)).await;
    const PER: usize = 50;
    let mut tasks = Vec::new();
    for (i, mut c) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..PER {
                c.say("busy", &format!("s{i}-{n}")).await;
            }
            c
        }));
    }
    let mut orders = Vec::new();
    for r in receivers.iter_mut() {
        let mut seen = Vec::new();
        while seen.len() < 4 * PER {
            if let ServerMessage::Message(m) = r.recv().await {
                seen.push((m.id, m.text.to_string()));
            }
        }
        orders.push(seen);
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let first = &orders[0];
    assert!(
        first.windows(2).all(|w| w[0].0 + 1 == w[1].0),
        "ids must be consecutive and increasing"
    );
    for o in &orders[1..] {
        assert_eq!(o, first, "every receiver sees the same order");
    }
    s.stop().await;
}

#[tokio::test]
async fn direct_messages_reach_only_their_target() {
    let s = TestServer::start().await;
    let (mut a, _) = s.join("alice", "general").await;
    let (mut b, _) = s.join("bob", "general").await;
    let (mut c, _) = s.join("carol", "general").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.send(&ClientMessage::Direct {
        to: nick("bob"),
        text: text("psst"),
        client_id: ClientMsgId::new("d1").expect("cid"),
    })
    .await;
    let got = b
        .recv_until(|m| matches!(m, ServerMessage::Direct(_)))
        .await;
    let ServerMessage::Direct(d) = got else {
        unreachable!()
    };
    assert_eq!(
        (d.from.as_str(), d.to.as_str(), d.text.as_str()),
        ("alice", "bob", "psst")
    );
    // The sender gets its copy and the ack.
    a.recv_until(|m| matches!(m, ServerMessage::Direct(_)))
        .await;
    a.recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await;
    // Carol sees nothing of it (only presence noise is allowed, and there is none left).
    loop {
        match tokio::time::timeout(Duration::from_millis(300), c.recv()).await {
            Err(_) => break,
            Ok(ServerMessage::Presence { .. }) => continue,
            Ok(other) => panic!("carol got {other:?}"),
        }
    }
    // Unknown target.
    a.send(&ClientMessage::Direct {
        to: nick("nobody"),
        text: text("?"),
        client_id: ClientMsgId::new("d2").expect("cid"),
    })
    .await;
    let e = a
        .recv_until(|m| matches!(m, ServerMessage::Error { .. }))
        .await;
    assert!(matches!(
        e,
        ServerMessage::Error {
            code: ErrorCode::UnknownUser,
            ..
        }
    ));
    s.stop().await;
}

#[tokio::test]
async fn presence_members_on_join_and_join_leave_events() {
    let s = TestServer::start().await;
    let (mut a, j) = s.join("alice", "lobby").await;
    let ServerMessage::Joined { members, .. } = j else {
        panic!("{j:?}")
    };
    assert_eq!(
        members.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        vec!["alice"]
    );
    let (mut b, j) = s.join("bob", "lobby").await;
    let ServerMessage::Joined { members, .. } = j else {
        panic!("{j:?}")
    };
    assert_eq!(
        members.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        vec!["alice", "bob"]
    );
    let ev = a.recv().await;
    assert_eq!(
        ev,
        ServerMessage::Presence {
            room: room("lobby"),
            nick: nick("bob"),
            state: PresenceState::Joined,
            guest: true,
        }
    );
    b.send(&ClientMessage::Leave {
        room: room("lobby"),
    })
    .await;
    assert_eq!(
        b.recv().await,
        ServerMessage::Left {
            room: room("lobby")
        }
    );
    assert_eq!(
        a.recv().await,
        ServerMessage::Presence {
            room: room("lobby"),
            nick: nick("bob"),
            state: PresenceState::Left,
            guest: true,
        }
    );
    // Disconnecting counts as leaving.
    let (c, _) = s.join("carol", "lobby").await;
    a.recv().await; // carol joined
    drop(c);
    assert_eq!(
        a.recv().await,
        ServerMessage::Presence {
            room: room("lobby"),
            nick: nick("carol"),
            state: PresenceState::Left,
            guest: true,
        }
    );
    s.stop().await;
}

#[tokio::test]
async fn room_list_counts_members() {
    let s = TestServer::start().await;
    let (mut a, _) = s.join("alice", "general").await;
    a.join("rust", None).await;
    let (_b, _) = s.join("bob", "rust").await;
    a.send(&ClientMessage::ListRooms { after: None }).await;
    let r = a
        .recv_until(|m| matches!(m, ServerMessage::Rooms { .. }))
        .await;
    let ServerMessage::Rooms { rooms, .. } = r else {
        unreachable!()
    };
    let v: Vec<(String, u32)> = rooms
        .into_iter()
        .map(|r| (r.name.to_string(), r.members))
        .collect();
    assert_eq!(v, vec![("general".to_string(), 1), ("rust".to_string(), 2)]);
    s.stop().await;
}

#[tokio::test]
async fn typing_is_relayed_to_others_and_throttled() {
    let s = TestServer::with(|c| c.typing_interval = Duration::from_millis(400)).await;
    let (mut a, _) = s.join("alice", "general").await;
    let (mut b, _) = s.join("bob", "general").await;
    a.recv().await; // bob joined
    for _ in 0..5 {
        b.send(&ClientMessage::Typing {
            room: room("general"),
        })
        .await;
    }
    match a.recv().await {
        ServerMessage::Typing {
            nick,
            expires_in_ms,
            ..
        } => {
            assert_eq!(nick.as_str(), "bob");
            assert!(expires_in_ms > 0);
        }
        other => panic!("{other:?}"),
    }
    a.expect_silence(Duration::from_millis(250)).await;
    b.expect_silence(Duration::from_millis(10)).await; // not echoed to the typist
    tokio::time::sleep(Duration::from_millis(200)).await;
    b.send(&ClientMessage::Typing {
        room: room("general"),
    })
    .await;
    assert!(matches!(a.recv().await, ServerMessage::Typing { .. }));
    // Sending a message resets the throttle: typing right after it is relayed at once.
    b.say("general", "done typing").await;
    assert!(matches!(a.recv().await, ServerMessage::Message(_)));
    b.send(&ClientMessage::Typing {
        room: room("general"),
    })
    .await;
    assert!(matches!(a.recv().await, ServerMessage::Typing { .. }));
    s.stop().await;
}

#[tokio::test]
async fn resent_client_id_is_acked_again_but_stored_and_delivered_once() {
    let s = TestServer::start().await;
    let (mut a, _) = s.join("alice", "general").await;
    let (mut b, _) = s.join("bob", "general").await;
    a.recv().await; // presence
    let send = ClientMessage::Send {
        room: room("general"),
        text: text("once"),
        client_id: ClientMsgId::new("same-id").expect("cid"),
    };
    a.send(&send).await;
    a.send(&send).await;
    let mut acks = Vec::new();
    while acks.len() < 2 {
        if let ServerMessage::Ack { id, duplicate, .. } = a.recv().await {
            acks.push((id, duplicate));
        }
    }
    assert_eq!(acks, vec![(1, false), (1, true)]);
    assert!(matches!(b.recv().await, ServerMessage::Message(ref m) if m.id == 1));
    b.expect_silence(Duration::from_millis(200)).await;
    // Even from a new connection of the same user (a reconnect), the id is known.
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (mut a2, j) = s.join("alice", "general").await;
    let ServerMessage::Joined { history, .. } = j else {
        panic!()
    };
    assert_eq!(ids(&history), vec![1]);
    a2.send(&send).await;
    let ack = a2
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await;
    assert!(matches!(
        ack,
        ServerMessage::Ack {
            id: 1,
            duplicate: true,
            ..
        }
    ));
    s.stop().await;
}

#[tokio::test]
async fn history_on_join_pages_and_resume() {
    let s = TestServer::with(|c| {
        c.history_page = 5;
        c.rate_per_sec = 0;
    })
    .await;
    let (mut a, _) = s.join("alice", "general").await;
    for i in 1..=12 {
        a.say("general", &format!("m{i}")).await;
        a.recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
            .await;
    }
    let (mut b, j) = s.join("bob", "general").await;
    let ServerMessage::Joined {
        history, has_more, ..
    } = j
    else {
        panic!("{j:?}")
    };
    assert_eq!(ids(&history), vec![8, 9, 10, 11, 12]);
    assert!(has_more);
    b.send(&ClientMessage::History {
        room: room("general"),
        before: Some(8),
        after: None,
        limit: Some(5),
    })
    .await;
    let ServerMessage::History {
        messages, has_more, ..
    } = b
        .recv_until(|m| matches!(m, ServerMessage::History { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(ids(&messages), vec![3, 4, 5, 6, 7]);
    assert!(has_more);
    b.send(&ClientMessage::History {
        room: room("general"),
        before: Some(3),
        after: None,
        limit: None,
    })
    .await;
    let ServerMessage::History {
        messages, has_more, ..
    } = b
        .recv_until(|m| matches!(m, ServerMessage::History { .. }))
        .await
    else {
        unreachable!()
    };
    assert_eq!(ids(&messages), vec![1, 2]);
    assert!(!has_more);

    // Resume: bob saw up to 9, disconnects, misses 13..=15, rejoins after 9.
    drop(b);
    for i in 13..=15 {
        a.say("general", &format!("m{i}")).await;
        a.recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
            .await;
    }
    let mut b = s.connect("bob").await;
    let j = b.join("general", Some(9)).await;
    let ServerMessage::Joined {
        history, has_more, ..
    } = j
    else {
        panic!("{j:?}")
    };
    assert_eq!(ids(&history), vec![10, 11, 12, 13, 14, 15]);
    assert!(!has_more);
    // And the live stream continues right after, with no gap and no repeat.
    a.say("general", "m16").await;
    let m = b
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await;
    assert!(matches!(m, ServerMessage::Message(ref m) if m.id == 16));
    s.stop().await;
}

#[tokio::test]
async fn join_during_a_stream_has_no_gap_and_no_duplicate() {
    let s = TestServer::with(|c| c.rate_per_sec = 0).await;
    let (mut a, _) = s.join("alice", "general").await;
    let sender = tokio::spawn(async move {
        for i in 0..300 {
            a.say("general", &format!("n{i}")).await;
        }
        a
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut b = s.connect("bob").await;
    let j = b.join("general", Some(0)).await;
    let ServerMessage::Joined { history, .. } = j else {
        panic!("{j:?}")
    };
    let mut seen = ids(&history);
    while seen.last().copied().unwrap_or(0) < 300 {
        if let ServerMessage::Message(m) = b.recv().await {
            seen.push(m.id);
        }
    }
    assert_eq!(seen, (1..=300).collect::<Vec<_>>());
    sender.await.expect("sender");
    s.stop().await;
}

#[tokio::test]
async fn resume_token_takes_over_own_session_once() {
    let s = TestServer::start().await;
    let mut old = Client::open(&s.url("/chat")).await;
    let ServerMessage::Welcome { resume_token, .. } = old.hello("alice").await else {
        panic!()
    };
    let mut wrong = Client::open(&s.url("/chat")).await;
    wrong
        .send(&ClientMessage::Hello {
            nick: Some(nick("alice")),
            protocol: 1,
            resume_token: Some("guess".into()),
            auth: None,
        })
        .await;
    assert!(matches!(
        wrong.recv().await,
        ServerMessage::Error {
            code: ErrorCode::NickTaken,
            ..
        }
    ));
    let mut new = Client::open(&s.url("/chat")).await;
    new.send(&ClientMessage::Hello {
        nick: Some(nick("alice")),
        protocol: 1,
        resume_token: Some(resume_token.clone()),
        auth: None,
    })
    .await;
    let rotated = match new.recv().await {
        ServerMessage::Welcome {
            resume_token: t, ..
        } => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(old.expect_close().await, 4005);
    // A resume token is good once: the new session has a new one, and the old is refused.
    assert_ne!(rotated, resume_token);
    let mut replay = Client::open(&s.url("/chat")).await;
    replay
        .send(&ClientMessage::Hello {
            nick: Some(nick("alice")),
            protocol: 1,
            resume_token: Some(resume_token),
            auth: None,
        })
        .await;
    assert!(matches!(
        replay.recv().await,
        ServerMessage::Error {
            code: ErrorCode::NickTaken,
            ..
        }
    ));
    s.stop().await;
}

#[tokio::test]
async fn presence_stops_past_the_presence_limit() {
    let s = TestServer::with(|c| c.presence_limit = 2).await;
    let (mut a, _) = s.join("alice", "big").await;
    let (mut b, _) = s.join("bob", "big").await;
    assert!(
        matches!(a.recv().await, ServerMessage::Presence { .. }),
        "small room: events flow"
    );
    let (_c, j) = s.join("carol", "big").await;
    let ServerMessage::Joined { members, .. } = j else {
        panic!("{j:?}")
    };
    assert_eq!(members.len(), 2, "the member list is capped");
    a.expect_silence(Duration::from_millis(200)).await;
    b.expect_silence(Duration::from_millis(10)).await;
    s.stop().await;
}

/// Above the limit, joins share one listing for a second (a crowd joining at once does not
/// work it out again for each); after that a join lists the members as they are.
#[tokio::test]
async fn a_listing_above_the_presence_limit_is_shared_then_made_again() {
    let s = TestServer::with(|c| c.presence_limit = 2).await;
    let mut clients = Vec::new();
    for n in ["bob", "carol", "dave"] {
        clients.push(s.join(n, "big").await.0);
    }
    let names = |j: ServerMessage| match j {
        ServerMessage::Joined { members, .. } => {
            members.iter().map(|m| m.to_string()).collect::<Vec<_>>()
        }
        other => panic!("{other:?}"),
    };
    let (_e, j) = s.join("erin", "big").await;
    assert_eq!(names(j), ["bob", "carol"], "the first two by name");
    tokio::time::sleep(server::hub::LISTING_TTL + Duration::from_millis(100)).await;
    let (_a, j) = s.join("alice", "big").await;
    assert_eq!(
        names(j),
        ["alice", "bob"],
        "made again: alice is listed first"
    );
    s.stop().await;
}

/// With SQLite, a send waits for its group commit; a client does not wait for acks before
/// sending more, and the server reads on meanwhile. The messages keep the order they were sent
/// in: acks carry increasing ids, and a receiver and the history see that same order.
#[tokio::test]
async fn pipelined_sends_keep_their_order_through_sqlite_group_commits() {
    use server::store::{Retention, SqliteStore};
    let dir = std::env::temp_dir().join(format!("chat-pipeline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let keep = Retention {
        per_channel: 0,
        max_age: None,
        every: std::time::Duration::from_secs(30),
    };
    let store = Arc::new(SqliteStore::open(&dir, keep, true).expect("open sqlite"));
    let cfg = server::Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        static_dir: Some(std::env::temp_dir().join("chat-test-no-dist")),
        rate_per_sec: 0,
        ..server::Config::default()
    };
    let s = TestServer::with_store(cfg, store).await;
    let (mut bob, _) = s.join("bob", "general").await;
    let (mut alice, _) = s.join("alice", "general").await;
    const N: usize = 300;
    let mut cids = Vec::new();
    for i in 0..N {
        cids.push(alice.say("general", &format!("m{i}")).await);
    }
    let mut acked = Vec::new();
    while acked.len() < N {
        if let ServerMessage::Ack { client_id, id, .. } = alice.recv().await {
            acked.push((client_id.to_string(), id));
        }
    }
    acked.sort_by_key(|(_, id)| *id);
    let in_id_order: Vec<&String> = acked.iter().map(|(c, _)| c).collect();
    assert_eq!(
        in_id_order,
        cids.iter().collect::<Vec<_>>(),
        "ids follow send order"
    );
    let mut got = Vec::new();
    while got.len() < N {
        if let ServerMessage::Message(m) = bob.recv().await {
            got.push((m.id, m.text.to_string()));
        }
    }
    for (i, (id, t)) in got.iter().enumerate() {
        assert_eq!(t, &format!("m{i}"), "receiver order");
        assert_eq!(*id, acked[i].1);
    }
    s.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// One sender flooding fresh client ids pushes only its own out of the idempotency window:
/// another user's resend, after 3,000 of them in a window of 2,000, is still recognised (it
/// was stored again, and delivered twice, when the window was shared).
#[tokio::test]
async fn a_flood_of_fresh_client_ids_does_not_evict_other_users_ids() {
    let (_server, addr) = run_binary(&[
        "--store",
        "memory",
        "--rate-per-sec",
        "0",
        "--client-id-window",
        "2000",
    ]);
    let url = format!("ws://{addr}/chat");
    let mut a = Client::open(&url).await;
    a.hello("careful").await;
    a.join("general", None).await;
    let send = ClientMessage::Send {
        room: room("general"),
        text: text("once"),
        client_id: shared::ClientMsgId::new("keep-me").expect("cid"),
    };
    a.send(&send).await;
    let ServerMessage::Ack { id, .. } = a
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await
    else {
        unreachable!()
    };
    let mut f = Client::open(&url).await;
    f.hello("flooder").await;
    f.join("elsewhere", None).await;
    for i in 0..3000 {
        f.say("elsewhere", &format!("f{i}")).await;
        if i % 100 == 99 {
            // Keep the flood bounded in flight (pending sends pause reading at 64).
            f.recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
                .await;
        }
    }
    f.send(&ClientMessage::ListRooms { after: None }).await;
    f.recv_until(|m| matches!(m, ServerMessage::Rooms { .. }))
        .await;
    a.send(&send).await;
    let reply = a
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await;
    assert!(
        matches!(reply, ServerMessage::Ack { id: again, duplicate: true, .. } if again == id),
        "the resend was stored anew: {reply:?}"
    );
}
