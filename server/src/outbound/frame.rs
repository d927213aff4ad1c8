//! Encoding server frames (RFC 6455 §5.2): unmasked and final, with the shortest length form.

use bytes::{Buf, Bytes, BytesMut};
use shared::CloseReason;

/// The header of an unmasked final frame (RFC 6455 §5.2) with a payload of `len` bytes, in
/// the shortest length form: the first `n` bytes of the array.
fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if len <= usize::from(u16::MAX) {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

/// Encodes one unmasked server frame: the same bytes serve every receiver.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let (h, n) = header(opcode, payload.len());
    let mut b = BytesMut::with_capacity(n + payload.len());
    b.extend_from_slice(&h[..n]);
    b.extend_from_slice(payload);
    b.freeze()
}

/// A text frame of `value` as JSON, serialized straight into the frame's buffer (one
/// allocation, no copy): the header is written in front once the length is known.
pub fn json_frame<T: serde::Serialize>(value: &T) -> Bytes {
    const ROOM: usize = 10;
    let mut b = BytesMut::with_capacity(ROOM + 128);
    b.extend_from_slice(&[0; ROOM]);
    let mut w = bytes::BufMut::writer(b);
    // Serializing our message types cannot fail: every map key is a string.
    if serde_json::to_writer(&mut w, value).is_err() {
        return text_frame("{}");
    }
    let mut b = w.into_inner();
    let (h, n) = header(0x1, b.len() - ROOM);
    b[ROOM - n..ROOM].copy_from_slice(&h[..n]);
    b.advance(ROOM - n);
    b.freeze()
}

pub fn text_frame(text: &str) -> Bytes {
    frame(0x1, text.as_bytes())
}

pub fn ping_frame() -> Bytes {
    frame(0x9, b"")
}

pub fn close_frame(reason: CloseReason) -> Bytes {
    let mut payload = reason.code().to_be_bytes().to_vec();
    payload.extend_from_slice(reason.label().as_bytes());
    payload.truncate(125);
    frame(0x8, &payload)
}

#[cfg(test)]
mod tests;
