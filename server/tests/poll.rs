//! Long polling at `/poll`: the typed protocol over HTTP requests, with a WebSocket user on
//! the other side; the ack that sends a lost answer again; the limits every connection has
//! (idle 4004, queue 4008, rate 1008, size 1009, the connection cap, Origin and Host); bad
//! and oversize bodies.

mod common;

use common::poll::{request, send_line, Poller};
use common::*;
use shared::{ErrorCode, ServerMessage, POLL_SESSION};
use std::time::Duration;

fn texts(got: &[ServerMessage]) -> Vec<String> {
    got.iter()
        .filter_map(|m| match m {
            ServerMessage::Message(c) => Some(c.text.as_str().to_string()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_poll_user_and_a_websocket_user_chat_both_ways() {
    let s = TestServer::start().await;
    let addr = s.addr.to_string();
    let (mut ws, _) = s.join("wendy", "general").await;
    let (mut p, got) = Poller::joined(&addr, "polly", "general").await;
    assert!(
        matches!(got.first(), Some(ServerMessage::Welcome { nick, .. }) if nick.as_str() == "polly"),
        "{got:?}"
    );
    // Several messages in one body: they go in order.
    let a = p
        .post(&[
            send_line("general", "one", "p1"),
            send_line("general", "two", "p2"),
        ])
        .await;
    assert_eq!(a.status, 204, "{a:?}");
    for want in ["one", "two"] {
        let m = ws
            .recv_until(|m| matches!(m, ServerMessage::Message(_)))
            .await;
        let ServerMessage::Message(c) = m else {
            unreachable!()
        };
        assert_eq!((c.sender.as_str(), c.text.as_str()), ("polly", want));
    }
    ws.say("general", "hi polly").await;
    let got = p
        .until(|m| matches!(m, ServerMessage::Message(c) if c.text.as_str() == "hi polly"))
        .await;
    let acks = got
        .iter()
        .filter(|m| matches!(m, ServerMessage::Ack { .. }))
        .count();
    assert_eq!(acks, 2, "both sends acked: {got:?}");
    s.stop().await;
}

/// A GET whose answer never reaches the client (aborted mid-response, or dropped by a
/// proxy) loses nothing: the next GET still acks the old number and gets the same messages.
#[tokio::test]
async fn an_answer_lost_on_the_way_is_sent_again() {
    let s = TestServer::start().await;
    let addr = s.addr.to_string();
    let (mut ws, _) = s.join("wendy", "general").await;
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    for i in 0..3 {
        ws.say("general", &format!("m{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The GET is sent and its answer cut off after a few bytes.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut t = tokio::net::TcpStream::connect(&addr).await.expect("tcp");
        let req = format!(
            "GET /poll HTTP/1.1\r\nHost: {addr}\r\n{POLL_SESSION}: {}\r\nchat-ack: {}\r\n\r\n",
            p.id, p.ack
        );
        t.write_all(req.as_bytes()).await.expect("write");
        let mut some = [0u8; 20];
        let n = t.read(&mut some).await.expect("read");
        assert!(n > 0);
    }
    let (got, _) = p.get().await;
    assert_eq!(texts(&got), ["m0", "m1", "m2"], "nothing lost");
    // Acked now: the next answer has only what is new.
    ws.say("general", "m3").await;
    let got = p.until(|m| matches!(m, ServerMessage::Message(_))).await;
    assert_eq!(texts(&got), ["m3"], "nothing twice");
    // An ack past the last message sent is the client's mistake.
    let a = p.get_acking(p.ack + 1).await;
    assert_eq!(a.status, 400, "{a:?}");
    s.stop().await;
}

#[tokio::test]
async fn a_session_that_stops_polling_expires_with_4004() {
    let s = TestServer::with(|c| {
        c.idle_timeout = Duration::from_millis(600);
        c.ping_interval = Duration::from_millis(200);
    })
    .await;
    let addr = s.addr.to_string();
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    // Polling keeps it alive past the idle timeout (a GET is held at most half of it).
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    while tokio::time::Instant::now() < until {
        let (_, close) = p.get().await;
        assert_eq!(close, None, "a polling session stays");
    }
    // Then it stops asking.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(p.closed().await, 4004);
    // Once forgotten, the session is unknown, with the same code.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let a = p.get_acking(p.ack).await;
    assert_eq!((a.status, a.close()), (404, Some(4004)), "{a:?}");
    s.stop().await;
}

#[tokio::test]
async fn a_session_that_lets_its_queue_fill_is_closed_as_a_slow_consumer() {
    let s = TestServer::with(|c| {
        c.outbound_queue_bytes = 64 * 1024;
        c.outbound_stall = Duration::from_millis(300);
        c.rate_per_sec = 100_000;
        c.rate_burst = 100_000;
    })
    .await;
    let addr = s.addr.to_string();
    let (mut ws, _) = s.join("wendy", "general").await;
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    let text = "x".repeat(3000);
    for _ in 0..300 {
        // The sender reads its acks, so it is not the slow one.
        ws.say("general", &text).await;
        ws.recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
            .await;
    }
    // No GET meanwhile (each would take and ack what waits): the pipe, then the queue, fill.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(p.closed().await, 4008);
    s.stop().await;
}

#[tokio::test]
async fn bad_lines_get_errors_and_the_session_goes_on() {
    let s = TestServer::start().await;
    let addr = s.addr.to_string();
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    let a = p
        .post(&["{not json".into(), r#"{"type":"nope"}"#.into()])
        .await;
    assert_eq!(a.status, 204);
    let got = p
        .until(
            |m| matches!(m, ServerMessage::Error { code, .. } if *code == ErrorCode::UnknownType),
        )
        .await;
    let codes: Vec<_> = got
        .iter()
        .filter_map(|m| match m {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        })
        .collect();
    assert_eq!(codes.len(), 2, "{got:?}");
    p.post(&[send_line("general", "still here", "c1")]).await;
    p.until(|m| matches!(m, ServerMessage::Ack { .. })).await;
    s.stop().await;
}

#[tokio::test]
async fn an_oversize_body_is_refused_with_413_and_closes_1009() {
    let s = TestServer::with(|c| c.max_message_bytes = 2048).await;
    let addr = s.addr.to_string();
    // Too big to open a session with: nothing is created.
    let a = request(&addr, "POST", &[], &vec![b'a'; 4096]).await;
    assert_eq!(a.status, 413, "{a:?}");
    assert!(a.header(POLL_SESSION).is_none());
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    let big = send_line("general", &"y".repeat(3000), "c1");
    let a = p.post(&[big]).await;
    assert_eq!(a.status, 413, "{a:?}");
    assert_eq!(p.closed().await, 1009);
    s.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_utf8_closes_1007() {
    let s = TestServer::start().await;
    let addr = s.addr.to_string();
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    let a = p.post_bytes(b"{\"type\":\"send\xff\"}").await;
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(p.closed().await, 1007);
    s.stop().await;
}

#[tokio::test]
async fn flooding_past_the_rate_limit_closes_1008() {
    let s = TestServer::with(|c| {
        c.rate_per_sec = 2;
        c.rate_burst = 3;
        c.flood_strikes = 2;
    })
    .await;
    let addr = s.addr.to_string();
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    let lines: Vec<String> = (0..20)
        .map(|i| send_line("general", "flood", &format!("f{i}")))
        .collect();
    p.post(&lines).await;
    assert_eq!(p.closed().await, 1008);
    s.stop().await;
}

#[tokio::test]
async fn sessions_count_against_the_connection_cap_and_end_on_delete() {
    let s = TestServer::with(|c| c.max_connections = 1).await;
    let addr = s.addr.to_string();
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    let a = request(&addr, "POST", &[], b"").await;
    assert_eq!(a.status, 503, "the cap is taken: {a:?}");
    let a = p.delete().await;
    assert_eq!(a.status, 204);
    assert_eq!(p.closed().await, 1000);
    // The slot is free again (the session's task ends at once).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let a = request(&addr, "POST", &[], b"").await;
        if a.status == 201 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{a:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
}

#[tokio::test]
async fn origin_host_and_unknown_sessions_are_refused() {
    let s = TestServer::start().await;
    let addr = s.addr.to_string();
    let foreign = [("Origin", "https://evil.example".to_string())];
    let a = request(&addr, "POST", &foreign, b"").await;
    assert_eq!(a.status, 403, "{a:?}");
    let own = [("Origin", format!("http://{addr}"))];
    let a = request(&addr, "POST", &own, b"").await;
    assert_eq!(a.status, 201, "{a:?}");
    let a = request(
        &addr,
        "GET",
        &[(POLL_SESSION, "f".repeat(32)), ("chat-ack", "0".into())],
        b"",
    )
    .await;
    assert_eq!((a.status, a.close()), (404, Some(4004)), "{a:?}");
    let a = request(&addr, "GET", &[], b"").await;
    assert_eq!(a.status, 400, "no session header: {a:?}");
    let a = request(&addr, "PUT", &[(POLL_SESSION, "x".into())], b"").await;
    assert_eq!(a.status, 405, "{a:?}");
    // Host is checked before anything else, as for every request.
    let mut t = tokio::net::TcpStream::connect(&addr).await.expect("tcp");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    t.write_all(b"POST /poll HTTP/1.1\r\nHost: evil.example\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut buf = Vec::new();
    t.read_to_end(&mut buf).await.expect("read");
    assert!(
        buf.starts_with(b"HTTP/1.1 403"),
        "{}",
        String::from_utf8_lossy(&buf)
    );
    s.stop().await;
}

/// A GET waits for the next message rather than answering empty at once, and a newer GET
/// of the same session answers the older one.
#[tokio::test]
async fn a_get_waits_for_the_next_message() {
    let s = TestServer::start().await;
    let addr = s.addr.to_string();
    let (mut ws, _) = s.join("wendy", "general").await;
    let (mut p, _) = Poller::joined(&addr, "polly", "general").await;
    let started = tokio::time::Instant::now();
    let waiting = p.held_get();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the GET is held");
    ws.say("general", "now").await;
    let a = waiting.await.expect("join");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(texts(&common::poll::parse(&a.body)), ["now"]);
    // A newer GET of the session answers the older one at once, with nothing.
    p.ack = a.seq();
    let older = p.held_get();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!older.is_finished(), "the older GET is held");
    let newer = p.held_get();
    let a = tokio::time::timeout(WAIT, older)
        .await
        .expect("answered")
        .expect("join");
    assert_eq!((a.status, a.body.len()), (200, 0), "{a:?}");
    ws.say("general", "later").await;
    let a = newer.await.expect("join");
    assert_eq!(texts(&common::poll::parse(&a.body)), ["later"]);
    s.stop().await;
}

/// At shutdown a held GET answers at once with the session's close (1001), and the server
/// does not wait out the poll.
#[tokio::test]
async fn shutdown_answers_a_held_get_with_1001() {
    let s = TestServer::start().await;
    let addr = s.addr.to_string();
    let (p, _) = Poller::joined(&addr, "polly", "general").await;
    let held = tokio::spawn(async move { p.closed_once().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = tokio::time::Instant::now();
    s.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no waiting out the poll"
    );
    assert_eq!(held.await.expect("join"), Some(1001));
}

/// Sessions hold a slot of their address each, whatever connections carry their requests:
/// one address cannot open more than its share, and a session that ends gives its slot back.
#[tokio::test]
async fn sessions_count_against_the_address_limit() {
    let s = TestServer::with(|c| c.max_connections_per_ip = 3).await;
    let addr = s.addr.to_string();
    // Each request comes on a connection of its own, which holds a slot while it lasts.
    let open = || async {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let a = request(&addr, "POST", &[], b"").await;
            if a.status == 201 || tokio::time::Instant::now() > deadline {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let first = open().await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(open().await.status, 201);
    // Two sessions and the asking connection: the address is full.
    let a = request(&addr, "POST", &[], b"").await;
    assert_eq!(a.status, 503, "{a:?}");
    assert!(String::from_utf8_lossy(&a.body).contains("too many connections from your address"));
    let p = Poller::of(&addr, first.header(POLL_SESSION).expect("id"));
    assert_eq!(p.delete().await.status, 204);
    assert_eq!(open().await.status, 201, "the ended session's slot is free");
    s.stop().await;
}

/// `chat-wait: 0` asks for an answer at once (short polling), from the same server that
/// holds other GETs; messages that wait are in it.
#[tokio::test]
async fn a_get_with_chat_wait_0_is_answered_at_once() {
    let s = TestServer::start().await;
    let addr = s.addr.to_string();
    let (mut ws, _) = s.join("wendy", "general").await;
    let (p, _) = Poller::joined(&addr, "polly", "general").await;
    let short = |p: &Poller| {
        let headers = vec![
            (POLL_SESSION, p.id.clone()),
            ("chat-ack", p.ack.to_string()),
            (shared::POLL_WAIT, "0".to_string()),
        ];
        let addr = p.addr.clone();
        async move { request(&addr, "GET", &headers, b"").await }
    };
    let started = tokio::time::Instant::now();
    let a = short(&p).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered at once"
    );
    assert_eq!((a.status, a.body.len()), (200, 0), "{a:?}");
    ws.say("general", "waiting").await;
    ws.recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await;
    let a = short(&p).await;
    assert_eq!(texts(&common::poll::parse(&a.body)), ["waiting"]);
    s.stop().await;
}
