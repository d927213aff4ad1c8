//! Bad input and overload, one test per rule of DESIGN.md: errors that keep the connection,
//! RFC 6455 close codes, rate limit, slow consumers, heartbeat, timeouts, caps, Origin.

mod common;

use common::*;
use futures_util::StreamExt;
use shared::{CloseReason, ErrorCode, ServerMessage};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

async fn error_code(c: &mut Client) -> ErrorCode {
    match c.recv().await {
        ServerMessage::Error { code, message, .. } => {
            assert!(!message.is_empty());
            code
        }
        other => panic!("expected error, got {other:?}"),
    }
}

#[tokio::test]
async fn malformed_messages_get_error_codes_and_the_connection_lives() {
    let s = TestServer::start().await;
    let (mut c, _) = s.join("alice", "general").await;
    let cases = [
        ("{oops", ErrorCode::BadJson),
        ("[]", ErrorCode::BadJson),
        (r#"{"type":"teleport"}"#, ErrorCode::UnknownType),
        (r#"{"room":"general"}"#, ErrorCode::UnknownType),
        (
            r#"{"type":"send","room":"general"}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"send","room":"general","text":42,"client_id":"x"}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"join","room":"bad room"}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"leave","room":"never-joined"}"#,
            ErrorCode::NotInRoom,
        ),
    ];
    for (input, code) in cases {
        c.send_text(input).await;
        assert_eq!(error_code(&mut c).await, code, "{input}");
    }
    c.say("general", "still alive").await;
    let m = c
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await;
    assert!(matches!(m, ServerMessage::Message(ref m) if m.text.as_str() == "still alive"));
    assert!(s.hub.metrics.errors_sent.get() >= 8);
    s.stop().await;
}

#[tokio::test]
async fn binary_frame_closes_1003() {
    let s = TestServer::start().await;
    let mut c = s.connect("alice").await;
    c.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(c.expect_close().await, 1003);
    s.stop().await;
}

#[tokio::test]
async fn invalid_utf8_closes_1007() {
    let s = TestServer::start().await;
    let mut c = s.connect("alice").await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    c.send_raw(Message::Frame(frame)).await;
    assert_eq!(c.expect_close().await, 1007);
    s.stop().await;
}

#[tokio::test]
async fn oversize_message_closes_1009() {
    let s = TestServer::with(|c| c.max_message_bytes = 1024).await;
    let mut c = s.connect("alice").await;
    c.send_text(&"x".repeat(2000)).await;
    assert_eq!(c.expect_close().await, 1009);
    // Fragments that add up past the limit, each under it.
    let mut c = s.connect("bob").await;
    c.send_raw(Message::Frame(Frame::message(
        vec![b'a'; 800],
        OpCode::Data(Data::Text),
        false,
    )))
    .await;
    c.send_raw(Message::Frame(Frame::message(
        vec![b'a'; 800],
        OpCode::Data(Data::Continue),
        true,
    )))
    .await;
    assert_eq!(c.expect_close().await, 1009);
    assert_eq!(s.hub.metrics.closes(CloseReason::MessageTooBig), 2);
    s.stop().await;
}

/// Opens a WebSocket by hand on a raw socket (for frames a library would never send).
async fn raw_ws(s: &TestServer, path: &str) -> TcpStream {
    let mut t = TcpStream::connect(s.addr).await.expect("tcp");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        s.addr
    );
    t.write_all(req.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        t.read_exact(&mut b).await.expect("read head");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).expect("utf8").to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    // RFC 6455's worked example: this key must be answered with this accept value.
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    t
}

/// Reads server frames from a raw socket until a close frame; returns its code.
async fn raw_close_code(t: &mut TcpStream) -> u16 {
    loop {
        let mut h = [0u8; 2];
        t.read_exact(&mut h).await.expect("frame header");
        assert_eq!(h[1] & 0x80, 0, "server frames are never masked");
        let len = match h[1] & 0x7f {
            126 => u64::from(t.read_u16().await.expect("len16")),
            127 => t.read_u64().await.expect("len64"),
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len as usize];
        t.read_exact(&mut payload).await.expect("payload");
        if h[0] & 0x0f == 0x8 {
            return u16::from_be_bytes([payload[0], payload[1]]);
        }
    }
}

#[tokio::test]
async fn unmasked_client_frame_closes_1002() {
    let s = TestServer::start().await;
    let mut t = raw_ws(&s, "/chat").await;
    // FIN + text, no mask bit, 2 bytes.
    t.write_all(&[0x81, 0x02, b'h', b'i']).await.expect("write");
    let code = tokio::time::timeout(WAIT, raw_close_code(&mut t))
        .await
        .expect("close in time");
    assert_eq!(code, 1002);
    s.stop().await;
}

/// Sends one masked text frame with a 16-bit (126) or 64-bit (127) extended length.
async fn send_len(t: &mut TcpStream, payload: Vec<u8>, long: bool) {
    let mut f = vec![0x81];
    if long {
        f.push(0x80 | 127);
        f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    let mask = [0x11, 0x22, 0x33, 0x44];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    t.write_all(&f).await.expect("write");
}

#[tokio::test]
async fn extended_payload_lengths_are_read() {
    // 126 + 16-bit and 127 + 64-bit lengths, masked, as the RFC describes.
    let s = TestServer::with(|c| c.max_message_bytes = 100_000).await;
    let mut t = raw_ws(&s, "/chat").await;
    let pad = " ".repeat(300);
    send_len(
        &mut t,
        format!(r#"{{"type":"hello","nick":"raw","protocol":1}}{pad}"#).into_bytes(),
        false,
    )
    .await;
    send_len(
        &mut t,
        format!(r#"{{"type":"list_rooms"}}{}"#, " ".repeat(70_000)).into_bytes(),
        true,
    )
    .await;
    // Welcome then rooms arrive; read two text frames.
    for expected in ["\"welcome\"", "\"rooms\""] {
        let mut h = [0u8; 2];
        t.read_exact(&mut h).await.expect("hdr");
        let len = match h[1] & 0x7f {
            126 => usize::from(t.read_u16().await.expect("len")),
            n => usize::from(n),
        };
        let mut p = vec![0u8; len];
        t.read_exact(&mut p).await.expect("payload");
        assert!(String::from_utf8_lossy(&p).contains(expected));
    }
    s.stop().await;
}

#[tokio::test]
async fn flooding_gets_errors_then_1008() {
    let s = TestServer::with(|c| {
        c.rate_per_sec = 2;
        c.rate_burst = 3;
        c.flood_strikes = 2;
    })
    .await;
    let (mut c, _) = s.join("flood", "general").await;
    for i in 0..10 {
        c.say("general", &format!("spam {i}")).await;
    }
    let mut rate_errors = 0;
    let code = loop {
        match tokio::time::timeout(WAIT, c.ws.next())
            .await
            .expect("frame")
        {
            Some(Ok(Message::Text(t))) => {
                if t.contains("\"rate_limited\"") {
                    rate_errors += 1;
                }
            }
            Some(Ok(Message::Close(Some(f)))) => break u16::from(f.code),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(code, 1008);
    assert!(rate_errors >= 1, "an error comes before the close");
    // Others are unaffected.
    let (mut ok, _) = s.join("calm", "general").await;
    ok.say("general", "fine").await;
    assert!(matches!(
        ok.recv_until(|m| matches!(m, ServerMessage::Message(_)))
            .await,
        ServerMessage::Message(_)
    ));
    s.stop().await;
}

/// A `/chat` client whose socket has a 4 KiB receive buffer (set before connecting, so its
/// window is small from the start); the tests that use it never read from it.
async fn tiny_window_client(s: &TestServer) -> Client {
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = sock.connect(s.addr).await.expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(
        s.url("/chat"),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .expect("ws");
    Client { ws, next_cid: 0 }
}

/// A client that stops reading at chat rates (small messages, default queue bounds) is
/// closed by the stall rule within seconds: its unsent data is capped in the kernel, so its
/// socket counts as full long before the kernel's send buffer would have grown to hold
/// everything sent to it.
async fn stalled_reader_closed_after(unsent_limit: u32) -> Option<u64> {
    let s = TestServer::with(|c| {
        c.rate_per_sec = 0;
        c.outbound_stall = Duration::from_millis(300);
        c.socket_unsent_limit = unsent_limit;
    })
    .await;
    let mut slow = tiny_window_client(&s).await;
    slow.hello("slow").await;
    slow.join("general", None).await;
    let (mut sender, _) = s.join("sender", "general").await;
    let text = "z".repeat(100);
    let mut closed_after = None;
    for sent in 1..=3000u64 {
        sender.say("general", &text).await;
        tokio::time::sleep(Duration::from_millis(1)).await;
        if s.hub.metrics.closes(CloseReason::SlowConsumer) > 0 {
            closed_after = Some(sent);
            break;
        }
    }
    s.stop().await;
    closed_after
}

#[tokio::test]
async fn a_reader_that_stops_is_closed_before_the_kernel_buffers_everything() {
    let n = stalled_reader_closed_after(16 * 1024).await;
    // 16 KiB unsent + 4 KiB of receive buffer is about 200 messages of 100 bytes; then 300 ms
    // of stall. Without the cap the kernel took all 3000 (300 KB) here.
    assert!(n.is_some_and(|n| n < 1500), "closed after {n:?} messages");
}

#[tokio::test]
async fn slow_consumer_is_closed_and_does_not_slow_the_others() {
    let s = TestServer::with(|c| {
        c.outbound_queue = 32;
        c.rate_per_sec = 0;
    })
    .await;
    // A client with a tiny receive buffer that never reads.
    let mut slow = tiny_window_client(&s).await;
    assert!(matches!(
        slow.hello("slow").await,
        ServerMessage::Welcome { .. }
    ));
    slow.join("general", None).await;
    let (mut fast, _) = s.join("fast", "general").await;
    let (mut sender, _) = s.join("sender", "general").await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let big = "y".repeat(3900);
    let mut sent = 0u64;
    let mut last_id = 0;
    while s.hub.metrics.closes(CloseReason::SlowConsumer) == 0 {
        assert!(sent < 20_000, "slow consumer never detected");
        sender.say("general", &big).await;
        sent += 1;
        // The fast reader keeps up with every message, in order, while the slow one stalls.
        loop {
            if let ServerMessage::Message(m) = fast.recv().await {
                assert_eq!(m.id, last_id + 1);
                last_id = m.id;
                break;
            }
        }
    }
    assert!(s.hub.metrics.drops_slow_consumer.get() >= 1);
    // The slow client's connection ends (its close frame may be stuck behind its full buffers).
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(m)) = slow.ws.next().await {
            if let Message::Close(Some(f)) = m {
                assert_eq!(u16::from(f.code), 4008);
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "slow consumer's connection did not end");
    // Nobody else was closed.
    sender.say("general", "after").await;
    assert!(
        matches!(fast.recv_until(|m| matches!(m, ServerMessage::Message(_))).await, ServerMessage::Message(ref m) if m.text.as_str() == "after")
    );
    s.stop().await;
}

#[tokio::test]
async fn heartbeat_keeps_live_clients_and_idle_timeout_closes_dead_ones() {
    let s = TestServer::with(|c| {
        c.ping_interval = Duration::from_millis(100);
        c.idle_timeout = Duration::from_millis(400);
    })
    .await;
    // A live client answers pings (tungstenite does so while reading) and stays.
    let mut live = s.connect("live").await;
    live.expect_silence(Duration::from_millis(1200)).await;
    live.send(&shared::ClientMessage::ListRooms { after: None })
        .await;
    assert!(matches!(live.recv().await, ServerMessage::Rooms { .. }));
    // A client that stops reading (no pongs) is closed with 4004.
    let mut dead = s.connect("dead").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(dead.expect_close().await, 4004);
    s.stop().await;
}

#[tokio::test]
async fn handshake_timeouts() {
    let s = TestServer::with(|c| c.handshake_timeout = Duration::from_millis(300)).await;
    // A TCP connection that never sends a request is dropped.
    let mut t = TcpStream::connect(s.addr).await.expect("tcp");
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(3), t.read(&mut buf))
        .await
        .expect("closed in time");
    assert_eq!(n.expect("read"), 0);
    // A WebSocket that never says hello is closed with 4003.
    let mut c = Client::open(&s.url("/chat")).await;
    assert_eq!(c.expect_close().await, 4003);
    s.stop().await;
}

#[tokio::test]
async fn connection_cap_answers_503() {
    let s = TestServer::with(|c| c.max_connections = 2).await;
    let a = s.connect("a").await;
    let _b = s.connect("b").await;
    let err = tokio_tungstenite::connect_async(s.url("/chat"))
        .await
        .expect_err("over the cap");
    assert!(err.to_string().contains("503"), "{err}");
    drop(a);
    let mut ok = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if tokio_tungstenite::connect_async(s.url("/chat"))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
    }
    assert!(ok, "a freed slot is reusable");
    s.stop().await;
}

#[tokio::test]
async fn origin_allowlist() {
    let s = TestServer::with(|c| c.allowed_origins = vec!["https://chat.example".into()]).await;
    let err = Client::open_with_origin(&s.url("/chat"), "https://evil.example")
        .await
        .err();
    assert!(err.expect("refused").contains("403"));
    let err = Client::open_with_origin(&s.url("/ws/x"), "null")
        .await
        .err();
    assert!(err.expect("refused").contains("403"));
    assert!(
        Client::open_with_origin(&s.url("/chat"), "https://chat.example")
            .await
            .is_ok()
    );
    assert!(
        Client::open_with_origin(&s.url("/chat"), "http://localhost:3000")
            .await
            .is_ok()
    );
    assert!(
        Client::open_with_origin(&s.url("/chat"), &format!("http://{}", s.addr))
            .await
            .is_ok()
    );
    s.stop().await;
}
