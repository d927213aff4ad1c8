//! Reading server frames back off a client's socket: shared by the outbound tests and the
//! hub's.

use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Moves every whole frame at the start of `buf` to `frames`; true once a close frame
/// or the `until`th frame is parsed.
fn parse(buf: &mut Vec<u8>, frames: &mut Vec<(u8, Vec<u8>)>, until: usize) -> bool {
    while buf.len() >= 2 {
        assert_eq!(buf[0] & 0x80, 0x80, "FIN set on every frame");
        assert_eq!(buf[1] & 0x80, 0, "server frames are unmasked");
        let (len, head) = match buf[1] & 0x7f {
            126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 if buf.len() >= 10 => (
                u64::from_be_bytes(buf[2..10].try_into().expect("8")) as usize,
                10,
            ),
            126 | 127 => break,
            n => (usize::from(n), 2),
        };
        if buf.len() < head + len {
            break;
        }
        let op = buf[0] & 0x0f;
        frames.push((op, buf[head..head + len].to_vec()));
        buf.drain(..head + len);
        if op == 0x8 || frames.len() == until {
            return true;
        }
    }
    false
}

/// Reads server frames until a close frame or EOF: (opcode, payload) each.
pub(super) async fn read_frames(client: &mut TcpStream, until: usize) -> Vec<(u8, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut frames = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if parse(&mut buf, &mut frames, until) {
            return frames;
        }
        let n = client.read(&mut chunk).await.expect("read");
        if n == 0 {
            return frames;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The frames a client has been sent so far: read until nothing arrives for 150 ms.
pub(crate) async fn frames_so_far(client: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let idle = Duration::from_millis(150);
    while let Ok(Ok(n)) = tokio::time::timeout(idle, client.read(&mut chunk)).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut frames = Vec::new();
    parse(&mut buf, &mut frames, usize::MAX);
    assert!(buf.is_empty(), "only whole frames were sent");
    frames
}
