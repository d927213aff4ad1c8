//! Tests of the client: the frame parser (fed frames that tungstenite encoded), arrival timing
//! against a real socket, and the marker.

use std::time::Duration;

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::connect::connect;
use super::marker::{stamp_text, TEXT_LEN};
use super::*;

/// A server frame as tungstenite writes it (an encoder independent of the parser under test):
/// a text (opcode 1) or a continuation (0), final or not.
fn frame_bytes(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    let op = OpCode::Data(if opcode == 1 {
        Data::Text
    } else {
        Data::Continue
    });
    let mut out = Vec::new();
    tungstenite::protocol::frame::Frame::message(payload.to_vec(), op, fin)
        .format(&mut out)
        .expect("in memory");
    out
}

fn close_bytes(code: u16, reason: &str) -> Vec<u8> {
    let mut out = Vec::new();
    tungstenite::protocol::frame::Frame::close(Some(CloseFrame {
        code: code.into(),
        reason: reason.into(),
    }))
    .format(&mut out)
    .expect("in memory");
    out
}

/// Feeds `bytes` to a receive buffer `step` bytes per read; the frames parsed, as
/// (opcode, fin, payload).
fn parse_in_steps(bytes: &[u8], step: usize) -> Result<Vec<(u8, bool, Vec<u8>)>, String> {
    let mut rx = Rx::new(step, &[]);
    let mut out = Vec::new();
    for piece in bytes.chunks(step) {
        let room = rx.room();
        room[..piece.len()].copy_from_slice(piece);
        rx.end += piece.len();
        while let Some(f) = rx.frame()? {
            out.push((f.opcode, f.fin, rx.buf[f.at..f.at + f.len].to_vec()));
        }
    }
    assert_eq!(rx.start, rx.end, "bytes left unparsed");
    Ok(out)
}

#[test]
fn frames_of_every_length_form_parse_across_any_read_boundaries() {
    let mid = vec![b'm'; 300];
    let big = vec![b'b'; 70_000];
    let mut bytes = frame_bytes(1, true, b"hi");
    bytes.extend(frame_bytes(1, true, &mid));
    bytes.extend(frame_bytes(1, false, b"frag"));
    bytes.extend(frame_bytes(0, true, b"ment"));
    bytes.extend(frame_bytes(1, true, &big));
    bytes.extend(close_bytes(1000, "ok"));
    let want = vec![
        (1, true, b"hi".to_vec()),
        (1, true, mid.clone()),
        (1, false, b"frag".to_vec()),
        (0, true, b"ment".to_vec()),
        (1, true, big.clone()),
        (8, true, vec![0x03, 0xe8, b'o', b'k']),
    ];
    for step in [1, 7, 64, 1000, bytes.len()] {
        assert_eq!(
            parse_in_steps(&bytes, step).as_ref(),
            Ok(&want),
            "reads of {step}"
        );
    }
}

#[test]
fn masked_or_reserved_frames_from_the_server_are_errors() {
    assert!(parse_in_steps(&[0x81, 0x82, 1, 2, 3, 4, b'h', b'i'], 8).is_err());
    assert!(parse_in_steps(&[0xc1, 0x00], 2).is_err());
}

/// A message that waited in the socket before the client read it is timed at its arrival:
/// the load generator's own delay does not count as the server's latency.
#[tokio::test]
async fn a_message_is_timed_when_it_reached_the_socket_not_when_it_was_read() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // The server sends one message per request and answers when it was sent.
    let (req_tx, mut req_rx) =
        tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<(u64, u64)>>(1);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut ws = tokio_tungstenite::accept_async(tcp)
            .await
            .expect("handshake");
        while let Some(done) = req_rx.recv().await {
            let before = now_ns();
            ws.send(Message::text("~t=1;p=0;s=0;q=0;"))
                .await
                .expect("send");
            let _ = done.send((before, now_ns()));
        }
    });
    let target = Target {
        addr,
        proto: Proto::Demo,
    };
    stamp_arrivals();
    let ws = connect(target, 0, "r0", None).await.expect("connect");
    // The kernel switches receive timestamps on shortly after the first socket asks (a
    // deferred static-key flip), so the first messages may come unstamped.
    for attempt in 0.. {
        let (done, sent) = tokio::sync::oneshot::channel();
        req_tx.send(done).await.expect("server");
        let (before, after) = sent.await.expect("sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
        // This task waited since its last read (see `rearm`).
        ws.rearm();
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("the message came but its wake-up was lost");
        let read = now_ns();
        assert!(matches!(msg, Some(Ok(Message::Text(_)))), "{msg:?}");
        if ws.arrived.get() == 0 {
            assert!(attempt < 20, "the kernel never stamped an arrival");
            continue;
        }
        let arrived = ws.arrived_ns();
        assert!(
            arrived >= before && arrived <= after + 5_000_000,
            "arrived {arrived} ns, sent between {before} and {after} ns"
        );
        assert!(
            read - arrived >= 90_000_000,
            "timed {} ms before the read, expected the 100 ms it waited",
            (read - arrived) / 1_000_000
        );
        break;
    }
    drop(ws);
    server.abort();
}

#[test]
fn stamp_round_trip_in_both_frames() {
    let s = Stamp {
        t: 123_456_789_012,
        phase: 1,
        sender: 42,
        seq: 7,
    };
    let text = stamp_text(s);
    assert_eq!(text.len(), TEXT_LEN);
    let demo = serde_json::json!({"sender": "s0", "msg": text}).to_string();
    assert_eq!(find_stamp(demo.as_bytes()), Some(s));
    let typed = serde_json::json!({"type": "message", "id": 3, "room": "general",
        "sender": "s0", "text": text, "ts": 1})
    .to_string();
    assert_eq!(find_stamp(typed.as_bytes()), Some(s));
}

#[test]
fn frames_without_a_marker_are_skipped() {
    assert_eq!(find_stamp(br#"{"type":"presence","nick":"r1"}"#), None);
    assert_eq!(find_stamp(b"~t=12;p=x;"), None);
    assert_eq!(find_stamp(b"~t=12;p=1;s=2;q=3"), None);
}

#[test]
fn typed_send_is_valid_json() {
    let stamp = Stamp {
        t: 1,
        phase: 2,
        sender: 3,
        seq: 9,
    };
    let Message::Text(t) = outgoing(Proto::Typed, stamp) else {
        panic!("text frame expected")
    };
    let v: serde_json::Value = serde_json::from_str(t.as_str()).expect("json");
    assert_eq!(v["text"], stamp_text(stamp));
    assert_eq!(v["client_id"], "3-2-9");
}

#[test]
fn socketio_event_carries_the_text_and_the_broadcast_gives_the_stamp_back() {
    let stamp = Stamp {
        t: 7,
        phase: 1,
        sender: 0,
        seq: 4,
    };
    let Message::Text(t) = outgoing(Proto::SocketIo, stamp) else {
        panic!("text frame expected")
    };
    let packet = t.as_str().strip_prefix("42").expect("an EVENT packet");
    let v: serde_json::Value = serde_json::from_str(packet).expect("json");
    assert_eq!(v, serde_json::json!(["msg", stamp_text(stamp)]));
    let received = format!(
        r#"42["chat",{{"sender":"u0","msg":"{}"}}]"#,
        stamp_text(stamp)
    );
    assert_eq!(find_stamp(received.as_bytes()), Some(stamp));
}
