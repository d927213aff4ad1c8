use super::*;
use crate::outbound::frame::close_frame;
use crate::outbound::tests::read_frames;
use bytes::BytesMut;
use tokio::net::{TcpListener, TcpSocket};

/// What a direct write reads must stay in the connection's first cache line: a fan-out
/// reaches thousands of cold `Conn`s, and each further line is one more miss per delivery.
#[test]
fn what_a_direct_write_reads_sits_in_the_first_cache_line() {
    use std::mem::{align_of, offset_of, size_of};
    assert_eq!(align_of::<Conn>(), 64);
    // Three lines in all: every open connection holds one `Conn`.
    assert!(
        size_of::<Conn>() <= 192,
        "Conn is {} bytes",
        size_of::<Conn>()
    );
    assert_eq!(offset_of!(Conn, sink), 0);
    assert!(offset_of!(Conn, metrics) + size_of::<Arc<Metrics>>() <= 64);
    // The lock word leads the mutex; the state follows it, `mode`, `sealed` and `close`
    // first.
    let state = offset_of!(Conn, state) + size_of::<Mutex<State>>() - size_of::<State>();
    assert!(offset_of!(Conn, state) < state);
    let end = state + offset_of!(State, close) + size_of::<Option<CloseReason>>();
    assert!(end <= 64, "hot fields end at byte {end}");
    assert!(offset_of!(State, mode) < offset_of!(State, close));
    assert!(offset_of!(State, sealed) < offset_of!(State, close));
}

/// A server-side connection and its client end; `rcvbuf` shrinks the client's buffer.
async fn pair(
    max_bytes: usize,
    rcvbuf: Option<u32>,
    stall: Option<Duration>,
) -> (Arc<Conn>, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sock = TcpSocket::new_v4().expect("socket");
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).expect("rcvbuf");
    }
    let client = sock
        .connect(l.local_addr().expect("addr"))
        .await
        .expect("connect");
    let (server, _) = l.accept().await.expect("accept");
    let bounds = Bounds {
        frames: 1 << 20,
        bytes: max_bytes,
        stall: stall.unwrap_or(Duration::from_secs(3600)),
    };
    let conn = Conn::new(
        1,
        Sink::Tcp(server),
        Arc::new(bounds),
        Flusher::start(),
        Arc::new(Metrics::default()),
    );
    (Arc::new(conn), client)
}

/// What the connection's task does for its queue: write when a full socket drains.
fn drive(conn: &Arc<Conn>) -> tokio::task::JoinHandle<()> {
    let conn = conn.clone();
    tokio::spawn(async move {
        loop {
            if conn.is_blocked() {
                conn.flush_when_writable().await;
            } else {
                std::future::poll_fn(|cx| conn.poll_event(cx)).await;
            }
        }
    })
}

fn size(i: usize) -> usize {
    // Sizes cross the 7-bit, 16-bit and 64-bit length forms.
    if i.is_multiple_of(100) {
        70_000
    } else {
        (i * 37) % 300
    }
}

#[tokio::test]
async fn queued_frames_reach_the_socket_whole_and_in_order() {
    let (conn, mut client) = pair(64 << 20, None, None).await;
    let driver = drive(&conn);
    let reader = tokio::spawn(async move { read_frames(&mut client, 3000).await });
    for i in 0..3000usize {
        let text = format!("{i}:{}", "y".repeat(size(i)));
        assert!(conn.push(text_frame(&text)));
        if i % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let frames = reader.await.expect("reader");
    driver.abort();
    assert_eq!(frames.len(), 3000);
    for (i, (op, payload)) in frames.iter().enumerate() {
        assert_eq!(*op, 1);
        let text = std::str::from_utf8(payload).expect("utf-8");
        assert!(text.starts_with(&format!("{i}:")), "frame {i} out of order");
        assert_eq!(text.len(), format!("{i}:").len() + size(i));
    }
    assert_eq!(conn.close_reason(), None);
}

#[tokio::test]
async fn a_batch_bigger_than_the_socket_goes_out_whole_and_in_order() {
    let (conn, mut client) = pair(64 << 20, Some(4096), None).await;
    socket2::SockRef::from(conn.socket())
        .set_send_buffer_size(16 * 1024)
        .expect("sndbuf");
    let driver = drive(&conn);
    let texts: Vec<String> = (0..200)
        .map(|i| format!("{i}:{}", "b".repeat(20_000 + size(i))))
        .collect();
    let frames: Vec<Bytes> = texts.iter().map(|t| text_frame(t)).collect();
    let refs: Vec<&Bytes> = frames.iter().collect();
    let mut whole = BytesMut::new();
    refs[..100].iter().for_each(|f| whole.extend_from_slice(f));
    // Nothing queued: written straight from the concatenation (in two pieces), which the
    // socket cannot take whole; the rest waits in the queue, starting mid-frame.
    let whole = whole.freeze();
    let pieces = [
        whole.slice(..whole.len() / 3),
        whole.slice(whole.len() / 3..),
    ];
    assert!(conn.send_batch(&refs[..100], Some(&pieces)));
    assert!(conn.is_blocked(), "the socket filled up");
    // Frames already waiting: the next batch queues behind them.
    assert!(conn.send_batch(&refs[100..], None));
    let got = read_frames(&mut client, 200).await;
    driver.abort();
    assert_eq!(got.len(), 200);
    for (i, (op, payload)) in got.iter().enumerate() {
        assert_eq!(*op, 1);
        assert_eq!(payload, texts[i].as_bytes(), "frame {i}");
    }
    assert_eq!(conn.close_reason(), None);
}

#[tokio::test]
async fn a_reply_waiting_for_the_pass_goes_first_and_the_batch_is_not_queued() {
    let (conn, mut client) = pair(64 << 20, None, None).await;
    // An ack handed to the flusher; its pass has not run yet (this task has not yielded).
    assert!(conn.push(text_frame("ack")));
    assert_eq!(lock(&conn.state).mode, Mode::Scheduled);
    let frames: Vec<Bytes> = (0..50).map(|i| text_frame(&format!("m{i}"))).collect();
    let refs: Vec<&Bytes> = frames.iter().collect();
    assert!(conn.send_batch(&refs, None));
    // Both went to the socket now: nothing was copied into the queue.
    assert!(lock(&conn.state).queue.is_empty());
    assert_eq!(lock(&conn.state).mode, Mode::Idle);
    let got = read_frames(&mut client, 51).await;
    let texts: Vec<&[u8]> = got.iter().map(|(_, p)| &p[..]).collect();
    assert_eq!(texts[0], b"ack");
    for (i, t) in texts[1..].iter().enumerate() {
        assert_eq!(*t, format!("m{i}").as_bytes());
    }
}

#[tokio::test]
async fn a_reply_bigger_than_the_socket_still_goes_out_before_the_batch_whole() {
    let (conn, mut client) = pair(64 << 20, Some(4096), None).await;
    socket2::SockRef::from(conn.socket())
        .set_send_buffer_size(16 * 1024)
        .expect("sndbuf");
    let reply = "r".repeat(300_000);
    assert!(conn.push(text_frame(&reply)));
    let texts: Vec<String> = (0..20)
        .map(|i| format!("{i}:{}", "b".repeat(5_000)))
        .collect();
    let frames: Vec<Bytes> = texts.iter().map(|t| text_frame(t)).collect();
    let refs: Vec<&Bytes> = frames.iter().collect();
    // The socket takes part of the reply: the reply stays first, started, and the batch
    // queues behind it.
    assert!(conn.send_batch(&refs, None));
    assert!(conn.is_blocked());
    let driver = drive(&conn);
    let got = read_frames(&mut client, 21).await;
    driver.abort();
    assert_eq!(got[0].1, reply.as_bytes());
    for (i, (_, payload)) in got[1..].iter().enumerate() {
        assert_eq!(payload, texts[i].as_bytes(), "frame {i}");
    }
    assert_eq!(conn.close_reason(), None);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_and_gets_whole_frames_then_the_close() {
    let (conn, mut client) = pair(256 * 1024, Some(4096), None).await;
    let big = "z".repeat(50_000);
    let mut pushed = 0;
    while conn.push(text_frame(&big)) {
        pushed += 1;
        tokio::task::yield_now().await;
        assert!(pushed < 10_000, "the queue bound never tripped");
    }
    assert_eq!(conn.close_reason(), Some(CloseReason::SlowConsumer));
    assert!(
        !conn.push(text_frame("late")),
        "nothing is queued after the close"
    );
    // The close: what was not started is dropped, a frame already half-sent is finished.
    conn.seal(Some(close_frame(CloseReason::SlowConsumer)), true);
    let drain = tokio::spawn({
        let conn = conn.clone();
        async move { conn.drain().await }
    });
    let frames = read_frames(&mut client, usize::MAX).await;
    assert!(drain.await.expect("drain"), "queue drained");
    let (op, payload) = frames.last().expect("frames");
    assert_eq!(*op, 0x8, "the close frame comes last");
    assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), 4008);
    assert!(frames.len() < pushed + 1, "unsent frames were dropped");
    for (op, payload) in &frames[..frames.len() - 1] {
        assert_eq!((*op, payload.len()), (1, 50_000), "every data frame whole");
    }
}

#[tokio::test]
async fn a_socket_full_for_longer_than_the_stall_limit_closes_the_connection() {
    let stall = Duration::from_millis(300);
    let (conn, _client) = pair(64 << 20, Some(4096), Some(stall)).await;
    let _driver = drive(&conn);
    let text = "s".repeat(60_000);
    let started = Instant::now();
    // Far below the byte bound: only the stall can trip.
    while conn.push(text_frame(&text)) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(started.elapsed() < Duration::from_secs(20), "never closed");
    }
    assert_eq!(conn.close_reason(), Some(CloseReason::SlowConsumer));
    assert!(started.elapsed() >= stall);
}

/// A page reply bigger than the bound is queued all the same and counts against nothing:
/// frames after it are measured without it. The connection reads nothing more (`page_unsent`)
/// until the page is written whole, whoever writes it.
#[tokio::test]
async fn a_page_reply_counts_against_no_bound_and_holds_reading_until_written() {
    let (conn, mut client) = pair(16 * 1024, Some(4096), None).await;
    let driver = drive(&conn);
    let big = ServerMessage::Error {
        code: shared::ErrorCode::Internal,
        message: "p".repeat(200_000),
        client_id: None,
    };
    assert!(conn.reply_page(&big));
    assert!(conn.page_unsent(), "a page waits for the socket");
    // 10 KiB of other frames still fit the 16 KiB bound beside a 200 KB page.
    for i in 0..10 {
        assert!(conn.push(text_frame(&format!("{i}:{}", "z".repeat(1000)))));
    }
    assert_eq!(conn.close_reason(), None);
    let frames = read_frames(&mut client, 11).await;
    assert_eq!(frames.len(), 11);
    assert_eq!(frames[0].1.len(), big.to_json().len());
    for _ in 0..100 {
        if !conn.page_unsent() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!conn.page_unsent(), "the page went out whole");
    assert_eq!(conn.close_reason(), None);
    driver.abort();
}

#[tokio::test]
async fn frames_past_the_bound_beside_a_page_still_close_the_connection() {
    let (conn, _client) = pair(16 * 1024, Some(4096), None).await;
    let big = ServerMessage::Error {
        code: shared::ErrorCode::Internal,
        message: "p".repeat(200_000),
        client_id: None,
    };
    assert!(conn.reply_page(&big));
    let mut queued = 0;
    while conn.push(text_frame(&"z".repeat(1000))) {
        queued += 1;
        assert!(queued < 100, "the bound never closed it");
    }
    assert_eq!(conn.close_reason(), Some(CloseReason::SlowConsumer));
}

/// At shutdown a connection is corked before its close frame: the frame waits in the socket
/// until the connection closes, and then leaves in the same segment as the end of the stream.
#[tokio::test]
async fn a_corked_close_frame_leaves_with_the_end_of_the_stream() {
    use std::io::Read;
    use tokio::io::AsyncReadExt;
    let (conn, mut client) = pair(64 << 20, None, None).await;
    conn.cork();
    let frame = close_frame(CloseReason::GoingAway);
    conn.seal(Some(frame.clone()), false);
    assert!(conn.drain().await, "written to the socket");
    // On loopback a frame sent is in the client's buffer by the time the write returns: this
    // one is not. (A read of the socket itself: Tokio's `try_read` would answer from its
    // readiness, which may simply not have caught up.)
    let mut buf = [0u8; 64];
    let held = (&*socket2::SockRef::from(&client)).read(&mut buf);
    assert_eq!(
        held.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "the close frame went out before the socket closed"
    );
    drop(conn);
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut got))
        .await
        .expect("the frame and the end of the stream")
        .expect("read");
    assert_eq!(got, frame);
}
