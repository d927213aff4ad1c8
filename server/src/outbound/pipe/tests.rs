use super::*;
use crate::outbound::{close_frame, ping_frame, text_frame};
use shared::CloseReason;

fn send(p: &Pipe, frames: &[Bytes]) -> usize {
    let iov: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
    p.send(&iov).expect("room")
}

fn texts(t: &Taken) -> Vec<&[u8]> {
    t.messages.iter().map(|m| &m[..]).collect()
}

#[test]
fn messages_are_numbered_kept_until_acked_and_pings_dropped() {
    let p = Pipe::default();
    send(&p, &[text_frame("a"), ping_frame(), text_frame("b")]);
    let t = p.take(0).expect("take");
    assert_eq!(
        (texts(&t), t.last, t.close),
        (vec![&b"a"[..], b"b"], 2, None)
    );
    // The answer was lost: the same ack gets the same messages again, and the new one.
    send(&p, &[text_frame("c")]);
    let t = p.take(0).expect("take");
    assert_eq!((texts(&t), t.last), (vec![&b"a"[..], b"b", b"c"], 3));
    let t = p.take(2).expect("take");
    assert_eq!((texts(&t), t.last), (vec![&b"c"[..]], 3));
    let t = p.take(3).expect("take");
    assert_eq!((t.messages.len(), t.last), (0, 3));
    assert_eq!(p.take(4).err(), Some(AckTooFar), "4 was never sent");
}

#[test]
fn a_frame_written_in_parts_is_taken_once_whole() {
    let p = Pipe::default();
    let big = text_frame(&"x".repeat(70_000));
    let (head, tail) = big.split_at(5);
    assert_eq!(p.send(&[IoSlice::new(head)]).expect("send"), 5);
    assert!(p.take(0).expect("take").messages.is_empty());
    p.send(&[IoSlice::new(tail)]).expect("send");
    let t = p.take(0).expect("take");
    assert_eq!(
        (t.messages.len(), t.messages[0].len(), t.last),
        (1, 70_000, 1)
    );
}

#[test]
fn a_full_pipe_would_block_until_an_ack_frees_room() {
    let p = Pipe::default();
    let frame = text_frame(&"y".repeat(100 * 1024));
    let mut sent = 0;
    loop {
        match p.send(&[IoSlice::new(&frame)]) {
            Ok(n) => sent += n,
            Err(e) => {
                assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                break;
            }
        }
    }
    assert_eq!(sent, PIPE_BYTES);
    assert!(!p.has_room());
    let t = p.take(0).expect("take");
    assert_eq!(t.messages.len(), 5, "five whole frames, the sixth partial");
    // Taken but not acked still counts: only the five frame headers left the pipe.
    assert_eq!(p.send(&[IoSlice::new(&frame)]).expect("send"), 50);
    p.take(t.last).expect("ack");
    assert!(p.send(&[IoSlice::new(&frame)]).expect("send") > 100 * 1024);
}

#[test]
fn the_close_frame_ends_the_stream_with_its_code() {
    let p = Pipe::default();
    send(
        &p,
        &[text_frame("last"), close_frame(CloseReason::IdleTimeout)],
    );
    let t = p.take(0).expect("take");
    assert_eq!((texts(&t), t.close), (vec![&b"last"[..]], Some(4004)));
    // Asked again (the answer was lost): the same.
    let t = p.take(0).expect("take");
    assert_eq!((t.messages.len(), t.close), (1, Some(4004)));
    p.clear();
    let t = p.take(0).expect("take");
    assert_eq!((t.messages.len(), t.close), (0, Some(4004)));
}

#[tokio::test]
async fn readers_and_writers_are_woken() {
    let p = std::sync::Arc::new(Pipe::default());
    let reader = tokio::spawn({
        let p = p.clone();
        async move {
            let changed = p.changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            assert!(p.take(0).expect("take").messages.is_empty());
            changed.await;
            assert_eq!(p.take(0).expect("take").messages.len(), 1);
        }
    });
    tokio::task::yield_now().await;
    send(&p, &[text_frame("hi")]);
    tokio::time::timeout(std::time::Duration::from_secs(5), reader)
        .await
        .expect("the reader is woken")
        .expect("join");
    // A full pipe: the writer waits for room, which an ack gives.
    let big = text_frame(&"z".repeat(100 * 1024));
    while p.send(&[IoSlice::new(&big)]).is_ok() {}
    let writer = tokio::spawn({
        let p = p.clone();
        async move { p.writable().await }
    });
    tokio::task::yield_now().await;
    let t = p.take(0).expect("take");
    p.take(t.last).expect("ack");
    tokio::time::timeout(std::time::Duration::from_secs(5), writer)
        .await
        .expect("the writer is woken")
        .expect("join");
}
