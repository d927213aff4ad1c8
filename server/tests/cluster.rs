//! Scale-out: a real redis-server on a free loopback port and two or three real server
//! processes, with WebSocket clients spread over them.

mod common;

use common::cluster::*;
use common::*;
use shared::{ClientMessage, ClientMsgId, ErrorCode, PresenceState, ServerMessage};
use std::process::Command;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_node_fanout_has_one_order_and_increasing_ids() {
    let redis = Redis::start("order");
    let nodes = [
        Node::start(&redis),
        Node::start(&redis),
        Node::start(&redis),
    ];
    let mut clients = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        clients.push(n.join(&format!("user{i}"), "general").await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    const PER: usize = 20;
    let mut senders = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        senders.push(tokio::spawn(async move {
            for n in 0..PER {
                c.say("general", &format!("from {i} #{n}")).await;
            }
            let mut seen = Vec::new();
            while seen.len() < 3 * PER {
                let m = next_message(&mut c).await;
                seen.push((m.id, m.sender.to_string(), m.text.to_string()));
            }
            seen
        }));
    }
    let mut views = Vec::new();
    for s in senders {
        views.push(s.await.expect("client"));
    }
    let ids: Vec<u64> = views[0].iter().map(|m| m.0).collect();
    assert_eq!(
        ids,
        (1..=(3 * PER) as u64).collect::<Vec<_>>(),
        "unique, increasing, contiguous ids"
    );
    assert_eq!(views[0], views[1], "node A and B see one order");
    assert_eq!(views[0], views[2], "node A and C see one order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_presence_and_nick_uniqueness_across_nodes() {
    let redis = Redis::start("dm");
    let a = Node::start(&redis);
    let b = Node::start(&redis);
    let mut alice = a.join("alice", "general").await;
    let mut bob = b.join("bob", "general").await;
    // Presence crosses nodes, and members on join include other nodes' users.
    assert_eq!(
        alice.recv().await,
        ServerMessage::Presence {
            room: room("general"),
            nick: nick("bob"),
            state: PresenceState::Joined,
            guest: true,
        }
    );
    let (mut carol, _) = b.connect("carol").await;
    match carol.join("general", None).await {
        ServerMessage::Joined { members, .. } => {
            let names: Vec<&str> = members.iter().map(|m| m.as_str()).collect();
            assert_eq!(names, vec!["alice", "bob", "carol"]);
        }
        other => panic!("{other:?}"),
    }
    // A DM from node A reaches bob on node B and nobody else.
    alice
        .send(&ClientMessage::Direct {
            to: nick("bob"),
            text: text("psst"),
            client_id: ClientMsgId::new("dm1").expect("cid"),
        })
        .await;
    let d = bob
        .recv_until(|m| matches!(m, ServerMessage::Direct(_)))
        .await;
    assert!(
        matches!(d, ServerMessage::Direct(ref d) if d.from.as_str() == "alice" && d.text.as_str() == "psst")
    );
    loop {
        match tokio::time::timeout(Duration::from_millis(400), carol.recv()).await {
            Err(_) => break,
            Ok(ServerMessage::Presence { .. }) => continue,
            Ok(other) => panic!("carol got {other:?}"),
        }
    }
    // The nickname alice is taken cluster-wide.
    let mut imposter = Client::open(&b.url()).await;
    assert!(matches!(
        imposter.hello("alice").await,
        ServerMessage::Error {
            code: ErrorCode::NickTaken,
            ..
        }
    ));
    assert_eq!(imposter.expect_close().await, 4001);
    // Leaving is seen on the other node.
    drop(bob);
    let left = alice
        .recv_until(|m| {
            matches!(
                m,
                ServerMessage::Presence {
                    state: PresenceState::Left,
                    ..
                }
            )
        })
        .await;
    assert!(matches!(left, ServerMessage::Presence { ref nick, .. } if nick.as_str() == "bob"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_resume_and_idempotency_across_nodes() {
    let redis = Redis::start("resume");
    let a = Node::start(&redis);
    let b = Node::start(&redis);
    let (mut alice, token) = a.connect("alice").await;
    alice.join("general", None).await;
    let mut acks = Vec::new();
    for i in 1..=10 {
        let cid = alice.say("general", &format!("m{i}")).await;
        if let ServerMessage::Ack { id, .. } = alice
            .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
            .await
        {
            acks.push((cid, id));
        }
    }
    // History on another node.
    let mut reader = b.join("reader", "general").await;
    drop(reader);
    reader = {
        let (mut c, _) = b.connect("reader2").await;
        match c.join("general", Some(4)).await {
            ServerMessage::Joined {
                history, has_more, ..
            } => {
                assert_eq!(
                    history.iter().map(|m| m.id).collect::<Vec<_>>(),
                    (5..=10).collect::<Vec<_>>()
                );
                assert!(!has_more);
            }
            other => panic!("{other:?}"),
        }
        c
    };
    // alice moves to node B with her resume token and resends an acked message.
    let mut alice_b = Client::open(&b.url()).await;
    alice_b
        .send(&ClientMessage::Hello {
            nick: Some(nick("alice")),
            protocol: 1,
            resume_token: Some(token),
            auth: None,
        })
        .await;
    assert!(matches!(
        alice_b.recv().await,
        ServerMessage::Welcome { .. }
    ));
    assert_eq!(
        alice.expect_close().await,
        4005,
        "the old session on node A is replaced"
    );
    alice_b.join("general", Some(10)).await;
    let (cid, id) = acks[2].clone();
    alice_b
        .send(&ClientMessage::Send {
            room: room("general"),
            text: text("m3"),
            client_id: ClientMsgId::new(cid).expect("cid"),
        })
        .await;
    match alice_b
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await
    {
        ServerMessage::Ack {
            id: again,
            duplicate,
            ..
        } => {
            assert!(duplicate);
            assert_eq!(again, id);
        }
        _ => unreachable!(),
    }
    // Nothing was delivered twice: the next message the reader sees is new.
    alice_b.say("general", "m11").await;
    let m = next_message(&mut reader).await;
    assert_eq!((m.id, m.text.as_str()), (11, "m11"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_and_its_users_leave_presence() {
    let redis = Redis::start("kill");
    let mut a = Node::start(&redis);
    let b = Node::start(&redis);
    let mut observer = b.join("observer", "general").await;
    let (mut alice, token) = a.connect("alice").await;
    alice.join("general", None).await;
    let _bob = a.join("bob", "general").await;
    let mut last_seen = 0;
    for i in 1..=5 {
        alice.say("general", &format!("before {i}")).await;
        last_seen = next_message(&mut alice).await.id;
    }
    a.kill(); // SIGKILL
              // Others keep talking while alice is away.
    for i in 1..=3 {
        observer.say("general", &format!("while away {i}")).await;
        observer
            .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
            .await;
    }
    // alice reconnects to node B with her token and resumes from her last id.
    let mut alice_b = Client::open(&b.url()).await;
    alice_b
        .send(&ClientMessage::Hello {
            nick: Some(nick("alice")),
            protocol: 1,
            resume_token: Some(token),
            auth: None,
        })
        .await;
    assert!(matches!(
        alice_b.recv().await,
        ServerMessage::Welcome { .. }
    ));
    match alice_b.join("general", Some(last_seen)).await {
        ServerMessage::Joined { history, .. } => {
            let texts: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
            assert_eq!(texts, vec!["while away 1", "while away 2", "while away 3"]);
            assert_eq!(history[0].id, last_seen + 1);
        }
        other => panic!("{other:?}"),
    }
    // bob (still on the dead node) is removed from presence within a bounded time.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "bob never left presence");
        match tokio::time::timeout(Duration::from_secs(1), observer.recv()).await {
            Ok(ServerMessage::Presence {
                nick,
                state: PresenceState::Left,
                ..
            }) if nick.as_str() == "bob" => break,
            _ => continue,
        }
    }
    observer
        .send(&ClientMessage::Join {
            room: room("general"),
            after: Some(u64::MAX - 1),
        })
        .await;
    match observer
        .recv_until(|m| matches!(m, ServerMessage::Joined { .. }))
        .await
    {
        ServerMessage::Joined { members, .. } => {
            let names: Vec<&str> = members.iter().map(|m| m.as_str()).collect();
            assert_eq!(names, vec!["alice", "observer"]);
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_loses_nothing_acked_and_nodes_recover() {
    let mut redis = Redis::start("restart");
    let a = Node::start(&redis);
    let b = Node::start(&redis);
    let mut alice = a.join("alice", "general").await;
    let mut bob = b.join("bob", "general").await;
    let mut acked = Vec::new();
    for i in 1..=5 {
        alice.say("general", &format!("before {i}")).await;
        if let ServerMessage::Ack { id, .. } = alice
            .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
            .await
        {
            acked.push(id);
        }
    }
    let port = redis.port;
    let dir = redis.dir.clone();
    redis.kill();
    // While Redis is down, a send gets a clear error and is not acked.
    alice.say("general", "during the outage").await;
    match alice
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
        .await
    {
        ServerMessage::Error {
            code, client_id, ..
        } => {
            assert_eq!(code, ErrorCode::StoreUnavailable);
            assert!(client_id.is_some());
        }
        other => panic!("expected an error during the outage, got {other:?}"),
    }
    std::mem::forget(std::mem::replace(&mut redis, Redis::start_on(port, dir)));
    // The nodes recover by themselves: sends succeed again and reach the other node.
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        assert!(Instant::now() < deadline, "cluster did not recover");
        alice.say("general", "after").await;
        match alice
            .recv_until(|m| matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
            .await
        {
            ServerMessage::Ack { id, .. } => break id,
            _ => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    };
    assert_eq!(
        id,
        acked.last().copied().unwrap_or(0) + 1,
        "ids continue after the restart"
    );
    let seen = loop {
        let m = next_message(&mut bob).await;
        if m.text.as_str() == "after" {
            break m;
        }
    };
    assert_eq!(seen.id, id);
    // Every acked message is still in history, once.
    let (mut checker, _) = b.connect("checker").await;
    match checker.join("general", Some(0)).await {
        ServerMessage::Joined { history, .. } => {
            let ids: Vec<u64> = history.iter().map(|m| m.id).collect();
            for a in &acked {
                assert_eq!(ids.iter().filter(|i| *i == a).count(), 1);
            }
            assert_eq!(ids, (1..=id).collect::<Vec<_>>());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn redis_unavailable_at_start_is_a_clear_error() {
    // Bound and never listening: the port refuses connections, and no Redis a concurrent
    // test starts can take it.
    let held = tokio::net::TcpSocket::new_v4().expect("socket");
    held.bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let port = held.local_addr().expect("addr").port();
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--redis",
            &format!("redis://127.0.0.1:{port}"),
        ])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("redis"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The test harness never hands a test another test's Redis: two tests can be given the same
/// free port, and a redis-server that cannot bind it must not pass for started because the
/// other one answers there (a test once found another's accounts that way).
#[test]
fn a_test_redis_never_passes_off_another_ones_port() {
    let first = Redis::start_with("port-first", &[]);
    first.cli(&["SET", "owner", "first"]);
    let dir = std::env::temp_dir().join(format!("chat-redis-port-second-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let taken = std::panic::catch_unwind(|| Redis::start_on(first.port, dir.clone()));
    let _ = std::fs::remove_dir_all(&dir);
    let err = taken.err().expect("started a second Redis on a taken port");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains(&first.port.to_string()), "{msg}");
    assert_eq!(first.cli(&["GET", "owner"]).trim(), "first");
}

/// `--redis-durable` refuses a Redis that acks before its disk has the write (here Redis's
/// defaults: no AOF), naming the settings it needs, and exits non-zero.
#[test]
fn redis_durable_refuses_a_redis_without_fsync_always() {
    let redis = Redis::start_with("durable-no", &[]);
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", "127.0.0.1:0", "--redis", &redis.url()])
        .arg("--redis-durable")
        .output()
        .expect("run");
    assert!(!out.status.success(), "started against appendonly no");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("appendfsync always"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // `everysec` is not enough either.
    redis.cli(&["CONFIG", "SET", "appendonly", "yes"]);
    redis.cli(&["CONFIG", "SET", "appendfsync", "everysec"]);
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", "127.0.0.1:0", "--redis", &redis.url()])
        .env("CHAT_REDIS_DURABLE", "true")
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "started against appendfsync everysec"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"everysec\""), "{err}");
}

/// Against `appendonly yes` with `appendfsync always`, `--redis-durable` starts and serves;
/// once Redis is reconfigured to fsync once a second, sends are refused (and `/readyz` says
/// why) until it fsyncs every write again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_durable_starts_on_a_redis_that_fsyncs_every_write() {
    let redis = Redis::start_with("durable-yes", DURABLE);
    let node = Node::start_at(&redis.url(), &["--redis-durable"]);
    let mut alice = node.join("alice", "general").await;
    let mut send = async |t: &str| {
        alice.say("general", t).await;
        alice
            .recv_until(|m| matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
            .await
    };
    assert!(matches!(
        send("kept").await,
        ServerMessage::Ack { id: 1, .. }
    ));

    redis.cli(&["CONFIG", "SET", "appendfsync", "everysec"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    match send("refused").await {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::StoreUnavailable),
        other => panic!("acked with appendfsync everysec: {other:?}"),
    }
    let addr = node.addr.clone();
    let (status, body) = tokio::task::spawn_blocking(move || http_get(&addr, "/readyz"))
        .await
        .expect("join");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("appendfsync always"), "{body}");

    redis.cli(&["CONFIG", "SET", "appendfsync", "always"]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(matches!(
        send("kept again").await,
        ServerMessage::Ack { .. }
    ));
}

/// `/readyz` follows Redis: 503 with a reason while it is down, 200 again once it is back
/// (the connection manager reconnects by itself); `/healthz` stays 200 throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_redis_down_and_back() {
    let mut redis = Redis::start("readyz");
    let node = Node::start(&redis);
    let addr = node.addr.clone();
    let ask = move |path: &'static str| {
        let addr = addr.clone();
        async move {
            tokio::task::spawn_blocking(move || http_get(&addr, path))
                .await
                .expect("join")
        }
    };
    assert_eq!(ask("/readyz").await, (200, "{\"ready\":true}\n".into()));

    let (port, dir) = (redis.port, redis.dir.clone());
    redis.kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    let body = loop {
        let (status, body) = ask("/readyz").await;
        if status == 503 {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "still ready with Redis down: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["ready"], false, "{body}");
    assert!(
        v["reason"].as_str().is_some_and(|r| r.contains("redis")),
        "{body}"
    );
    assert_eq!(ask("/healthz").await.0, 200, "still alive");

    std::mem::forget(std::mem::replace(&mut redis, Redis::start_on(port, dir)));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = ask("/readyz").await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready after Redis came back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_spellings_of_a_nickname_are_taken_across_nodes() {
    let redis = Redis::start("nickkey");
    let a = Node::start(&redis);
    let b = Node::start(&redis);
    let mut alice = a.join("Alice", "general").await;
    let mut bob = b.join("bob", "general").await;
    // "alice" claims the same key; "аlice" (Cyrillic а) mixes scripts and looks like her.
    for clash in ["alice", "аlice"] {
        let mut imposter = Client::open(&b.url()).await;
        match imposter.hello(clash).await {
            ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::NickTaken, "{clash}"),
            other => panic!("{clash}: {other:?}"),
        }
        assert_eq!(imposter.expect_close().await, 4001);
    }
    // Node B's users see her as she typed herself, and reach her by another spelling.
    tokio::time::sleep(Duration::from_millis(200)).await;
    alice.say("general", "hi").await;
    assert_eq!(next_message(&mut bob).await.sender.as_str(), "Alice");
    bob.send(&ClientMessage::Direct {
        to: nick("alice"),
        text: text("psst"),
        client_id: ClientMsgId::new("dm1").expect("cid"),
    })
    .await;
    let d = alice
        .recv_until(|m| matches!(m, ServerMessage::Direct(_)))
        .await;
    assert!(matches!(d, ServerMessage::Direct(ref d) if d.from.as_str() == "bob"));
}

/// The room listing across nodes comes in pages by name, and a room everyone left leaves it
/// (and Redis's set of rooms, which would otherwise grow with every room ever joined).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_listing_is_paged_and_forgets_rooms_everyone_left() {
    let redis = Redis::start("listing");
    let a = Node::start(&redis);
    let b = Node::start(&redis);
    let mut alice = a.join("alice", "general").await;
    let mut bob = b.join("bob", "general").await;
    alice.join("transient", None).await;
    bob.join("zeta", None).await;
    assert_eq!(
        list_rooms(&mut bob, None).await,
        (
            vec!["general".into(), "transient".into(), "zeta".into()],
            false
        )
    );
    assert_eq!(
        list_rooms(&mut bob, Some("general")).await,
        (vec!["transient".into(), "zeta".into()], false)
    );
    alice
        .send(&ClientMessage::Leave {
            room: room("transient"),
        })
        .await;
    alice
        .recv_until(|m| matches!(m, ServerMessage::Left { .. }))
        .await;
    // The leave reaches Redis just after `left` is answered.
    let mut listed = list_rooms(&mut bob, None).await;
    for _ in 0..50 {
        if listed.0.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        listed = list_rooms(&mut bob, None).await;
    }
    assert_eq!(listed, (vec!["general".into(), "zeta".into()], false));
    assert_eq!(
        redis.cli(&["SISMEMBER", "chat:rooms", "transient"]).trim(),
        "0"
    );
    assert_eq!(redis.cli(&["SISMEMBER", "chat:rooms", "zeta"]).trim(), "1");
}

async fn list_rooms(c: &mut Client, after: Option<&str>) -> (Vec<String>, bool) {
    let after = after.map(room);
    c.send(&ClientMessage::ListRooms {
        after: after.clone(),
    })
    .await;
    match c
        .recv_until(|m| matches!(m, ServerMessage::Rooms { .. }))
        .await
    {
        ServerMessage::Rooms {
            rooms,
            has_more,
            after: echoed,
        } => {
            assert_eq!(echoed, after);
            (rooms.iter().map(|r| r.name.to_string()).collect(), has_more)
        }
        _ => unreachable!(),
    }
}

/// Redis losing its data (restarted without persistence, or flushed) starts ids over there:
/// a node cannot go on as if nothing happened (it would drop every new message as old). It
/// closes its clients with 1011 and exits non-zero; restarted, it serves the new history,
/// under a new epoch that tells clients to drop what they hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_redis_lost_its_data_closes_and_exits() {
    let redis = Redis::start("lost");
    let mut a = Node::start(&redis);
    let (mut alice, _) = a.connect("alice").await;
    let ServerMessage::Welcome { epoch: before, .. } =
        Client::open(&a.url()).await.hello("peek").await
    else {
        panic!("welcome")
    };
    redis.cli(&["FLUSHALL"]);
    assert_eq!(alice.expect_close().await, 1011);
    let code = a.exited(Duration::from_secs(10));
    assert!(matches!(code, Some(c) if c != 0), "exit code {code:?}");
    let b = Node::start(&redis);
    let mut carol = Client::open(&b.url()).await;
    let ServerMessage::Welcome { epoch: after, .. } = carol.hello("carol").await else {
        panic!("welcome")
    };
    assert_ne!(before, after, "a new history, under a new epoch");
    let j = carol.join("general", None).await;
    assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
    carol.say("general", "fresh start").await;
    let ack = carol
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await;
    assert!(matches!(ack, ServerMessage::Ack { id: 1, .. }), "{ack:?}");
}
