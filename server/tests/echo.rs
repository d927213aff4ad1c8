//! The seeds' echo at `/ws`, driven as the seeds' echo page drives it (`new WebSocket(…/ws)`
//! from its own origin, `ws.send(text)`, each `onmessage` shown): every text frame comes back
//! to its sender unchanged, nobody else sees it, nothing is stored, and the limits of every
//! endpoint hold.

mod common;

use common::*;
use futures_util::StreamExt;
use shared::{CloseReason, ServerMessage};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The echo page, opened from the server's own origin as a browser would.
async fn page(s: &TestServer) -> Client {
    Client::open_with_origin(&s.url("/ws"), &format!("http://{}", s.addr))
        .await
        .expect("the echo page connects")
}

/// Sends `request` on a fresh socket and reads one answer: its head, lower-cased, and its
/// body (by Content-Length).
async fn ask(s: &TestServer, request: &str) -> (String, String) {
    let mut t = TcpStream::connect(s.addr).await.expect("tcp");
    t.write_all(request.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let head = head.to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return (head, body.to_string());
            }
        }
        let n = tokio::time::timeout(WAIT, t.read(&mut chunk))
            .await
            .expect("answered in time")
            .expect("read");
        assert!(n > 0, "closed before a whole answer: {text}");
        got.extend_from_slice(&chunk[..n]);
    }
}

fn upgrade(path: &str, host: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn each_frame_comes_back_to_its_sender_alone_and_is_not_stored() {
    let s = TestServer::start().await;
    let mut mine = page(&s).await;
    let mut other = page(&s).await;

    mine.send_text("hello").await;
    assert_eq!(mine.recv_text().await, "hello");
    // In order, unchanged, whatever the text: unicode, markup, blank, empty, JSON.
    let texts = [
        "héllo wörld 👋 — 日本語",
        "<b>not html</b>",
        "   ",
        "",
        r#"{"type":"hello","nick":"x","protocol":1}"#,
    ];
    for t in texts {
        mine.send_text(t).await;
    }
    for t in texts {
        assert_eq!(mine.recv_text().await, t);
    }
    other.expect_silence(Duration::from_millis(200)).await;
    other.send_text("mine only").await;
    assert_eq!(other.recv_text().await, "mine only");
    mine.expect_silence(Duration::from_millis(200)).await;

    // Nothing reached a room: a chat client joining the default room finds no history.
    let (_carol, joined) = s.join("carol", "general").await;
    let ServerMessage::Joined { history, .. } = joined else {
        panic!("{joined:?}")
    };
    assert!(history.is_empty(), "echoes are not stored: {history:?}");
    assert_eq!(s.hub.metrics.messages_stored.get(), 0);
    s.stop().await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_1009() {
    let s = TestServer::with(|c| c.max_message_bytes = 1024).await;
    let mut c = page(&s).await;
    let at_limit = "x".repeat(1024);
    c.send_text(&at_limit).await;
    assert_eq!(c.recv_text().await, at_limit);
    c.send_text(&"x".repeat(1025)).await;
    assert_eq!(c.expect_close().await, 1009);
    assert_eq!(s.hub.metrics.closes(CloseReason::MessageTooBig), 1);
    s.stop().await;
}

#[tokio::test]
async fn a_binary_frame_closes_1003() {
    let s = TestServer::start().await;
    let mut c = page(&s).await;
    c.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(c.expect_close().await, 1003);
    s.stop().await;
}

#[tokio::test]
async fn flooding_closes_1008_and_others_keep_their_echo() {
    let s = TestServer::with(|c| {
        c.rate_per_sec = 2;
        c.rate_burst = 3;
        c.flood_strikes = 2;
    })
    .await;
    let mut c = page(&s).await;
    for i in 0..10 {
        c.send_text(&format!("spam {i}")).await;
    }
    let mut echoed = Vec::new();
    let code = loop {
        match tokio::time::timeout(WAIT, c.ws.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(Message::Text(t))) => echoed.push(t.to_string()),
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 1008);
    // The burst comes back; frames over the rate are dropped (the echo has no error frame).
    assert!(
        echoed.len() >= 3 && echoed.len() < 10,
        "echoed before the close: {echoed:?}"
    );
    for (i, t) in echoed.iter().take(3).enumerate() {
        assert_eq!(t, &format!("spam {i}"));
    }
    let mut calm = page(&s).await;
    calm.send_text("fine").await;
    assert_eq!(calm.recv_text().await, "fine");
    s.stop().await;
}

#[tokio::test]
async fn a_silent_page_stays_and_a_dead_one_is_closed_4004() {
    let s = TestServer::with(|c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(400);
    })
    .await;
    // A page that sends nothing but whose browser answers pings (tungstenite does so while
    // reading) stays open past the idle timeout.
    let mut live = page(&s).await;
    live.expect_silence(Duration::from_millis(1200)).await;
    live.send_text("still here").await;
    assert_eq!(live.recv_text().await, "still here");
    // A client that stops reading (no pongs) is closed with 4004.
    let mut dead = page(&s).await;
    dead.send_text("then nothing").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(dead.expect_close().await, 4004);
    s.stop().await;
}

#[tokio::test]
async fn a_foreign_origin_or_host_gets_403() {
    let s = TestServer::start().await;
    let port = s.addr.port();
    let err = Client::open_with_origin(&s.url("/ws"), "https://evil.example")
        .await
        .err();
    assert!(err.expect("refused").contains("403"));
    // DNS rebinding: a page at attacker.example resolving to this server names itself.
    let attacker = format!("attacker.example:{port}");
    let (head, _) = ask(&s, &upgrade("/ws", &attacker, "")).await;
    assert!(head.starts_with("http/1.1 403"), "{head}");
    let origin = format!("Origin: http://{attacker}\r\n");
    let (head, _) = ask(&s, &upgrade("/ws", &attacker, &origin)).await;
    assert!(head.starts_with("http/1.1 403"), "{head}");
    // The server's own name and origin are answered 101.
    let own = format!("Origin: http://{}\r\n", s.addr);
    let (head, _) = ask(&s, &upgrade("/ws", &s.addr.to_string(), &own)).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    s.stop().await;
}

#[tokio::test]
async fn echo_sessions_count_against_the_connection_cap() {
    let s = TestServer::with(|c| c.max_connections = 1).await;
    let mut first = page(&s).await;
    let err = Client::open_with_origin(&s.url("/ws"), &format!("http://{}", s.addr))
        .await
        .err();
    assert!(err.expect("over the cap").contains("503"));
    first.send_text("still mine").await;
    assert_eq!(first.recv_text().await, "still mine");
    s.stop().await;
}

#[tokio::test]
async fn plain_get_is_told_to_upgrade_and_the_404_names_the_echo() {
    let s = TestServer::start().await;
    let host = s.addr.to_string();
    let (head, body) = ask(
        &s,
        &format!("GET /ws HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(head.starts_with("http/1.1 426"), "{head}");
    assert!(body.contains("WebSocket"), "{body}");
    let (head, body) = ask(&s, &upgrade("/ws/", &host, "")).await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(body.contains("/ws (echo)"), "{body}");
    s.stop().await;
}
