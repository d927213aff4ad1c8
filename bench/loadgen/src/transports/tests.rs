//! Tests of the transports' byte counting: responses and frames parsed to their exact length on
//! the wire, and a link counting what crossed a real socket.

use std::io::Cursor;
use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame as TFrame, FrameHeader};

use super::link::{Counts, Link};
use super::wire::{client_frame, parse_frame, parse_response, OP_TEXT};

const LONG_POLL: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n\
chat-seq: 42\r\ncontent-length: 27\r\ndate: Thu, 03 Dec 2026 06:00:00 GMT\r\n\r\n\
{\"type\":\"message\",\"id\":42}\n";

#[test]
fn a_response_takes_its_head_and_content_length() {
    let mut wire = LONG_POLL.to_vec();
    wire.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n");
    let (resp, used) = parse_response(&wire).expect("valid").expect("complete");
    assert_eq!(used, LONG_POLL.len());
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("Chat-Seq"), Some("42"));
    assert_eq!(resp.body, b"{\"type\":\"message\",\"id\":42}\n");
    let (next, used2) = parse_response(&wire[used..])
        .expect("valid")
        .expect("complete");
    assert_eq!((next.status, used2, next.body.len()), (204, 27, 0));
    for cut in 0..LONG_POLL.len() {
        assert!(
            parse_response(&LONG_POLL[..cut]).expect("valid").is_none(),
            "{cut}"
        );
    }
}

#[test]
fn a_chunked_response_counts_its_framing() {
    let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nchat-seq: 7\r\n\r\n";
    let chunks = "1a\r\n{\"type\":\"message\",\"id\":6}\n\r\n1a;x=y\r\n{\"type\":\"message\",\"id\":7}\n\r\n0\r\n\r\n";
    let wire = format!("{head}{chunks}");
    let (resp, used) = parse_response(wire.as_bytes())
        .expect("valid")
        .expect("complete");
    assert_eq!(used, wire.len());
    assert_eq!(
        resp.body,
        b"{\"type\":\"message\",\"id\":6}\n{\"type\":\"message\",\"id\":7}\n"
    );
    for cut in 0..wire.len() {
        assert!(
            parse_response(&wire.as_bytes()[..cut])
                .expect("valid")
                .is_none(),
            "{cut}"
        );
    }
}

/// A server's text frame as tungstenite writes it.
fn server_text(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    TFrame::message(payload.to_vec(), OpCode::Data(Data::Text), true)
        .format(&mut out)
        .expect("in memory");
    out
}

#[test]
fn a_server_frame_is_its_header_and_payload() {
    for (len, header) in [(100, 2), (125, 2), (126, 4), (300, 4), (70_000, 10)] {
        let payload = vec![b'x'; len];
        let mut wire = server_text(&payload);
        assert_eq!(wire.len(), header + len);
        let (f, used) = parse_frame(&mut wire).expect("valid").expect("complete");
        assert_eq!(used, header + len);
        assert_eq!((f.opcode, f.fin), (OP_TEXT, true));
        assert_eq!(&wire[f.payload.0..f.payload.1], &payload[..]);
        assert!(parse_frame(&mut wire[..used - 1]).expect("valid").is_none());
    }
}

#[test]
fn a_client_frame_is_masked_and_six_bytes_longer() {
    let text = br#"{"type":"join","room":"general"}"#;
    let key = [1, 2, 3, 4];
    let mut wire = client_frame(OP_TEXT, text, key);
    assert_eq!(wire.len(), 2 + 4 + text.len());
    // tungstenite reads the header the same way.
    let (header, len) = FrameHeader::parse(&mut Cursor::new(&wire))
        .expect("valid")
        .expect("complete");
    assert_eq!((len, header.mask), (text.len() as u64, Some(key)));
    assert_ne!(&wire[6..], &text[..]);
    let (f, used) = parse_frame(&mut wire).expect("valid").expect("complete");
    assert_eq!(used, wire.len());
    assert_eq!(&wire[f.payload.0..f.payload.1], &text[..]);
    assert_eq!(
        client_frame(OP_TEXT, &[b'a'; 200], key).len(),
        2 + 2 + 4 + 200
    );
}

#[tokio::test]
async fn a_link_counts_every_byte_both_ways() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut req = vec![0u8; 256];
        let n = s.read(&mut req).await.expect("read");
        // The response in two writes, the second half later, then a frame on the same stream.
        let (a, b) = LONG_POLL.split_at(40);
        s.write_all(a).await.expect("write");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        s.write_all(b).await.expect("write");
        s.write_all(&server_text(b"hi")).await.expect("write");
        n
    });
    let counts = Rc::new(Counts::default());
    let mut link = Link::connect(addr, 0, counts.clone())
        .await
        .expect("connect");
    let request = b"GET /poll HTTP/1.1\r\nHost: x\r\nchat-ack: 0\r\n\r\n";
    link.request(request).await.expect("request");
    let (resp, _) = link.response().await.expect("response");
    assert_eq!(resp.status, 200);
    while link.buf.len() < 4 {
        link.read_more().await.expect("frame");
    }
    assert_eq!(server.await.expect("server"), request.len());
    assert_eq!(
        counts.snapshot(),
        (LONG_POLL.len() as u64 + 4, request.len() as u64, 1)
    );
}
