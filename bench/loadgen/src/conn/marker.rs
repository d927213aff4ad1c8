//! The timing marker inside every message text: `~t=<ns>;p=<phase>;s=<sender>;q=<seq>;`,
//! padded to `TEXT_LEN`, and found again in a received frame without parsing its JSON.

use tokio_tungstenite::tungstenite::Message;

use super::connect::{Proto, ROOM};

/// Length of every message text: the marker, then padding.
pub(super) const TEXT_LEN: usize = 100;

/// The timing marker inside a message text: send time, phase, sender index, sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub t: u64,
    pub phase: u32,
    pub sender: u32,
    pub seq: u64,
}

const MARK: &[u8] = b"~t=";
/// Built once: building a `memmem` searcher per frame costs as much as the search itself.
static MARK_FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(MARK));

/// The 100-byte message text `~t=<ns>;p=<phase>;s=<sender>;q=<seq>;....`.
pub(super) fn stamp_text(s: Stamp) -> String {
    let mut text = format!("~t={};p={};s={};q={};", s.t, s.phase, s.sender, s.seq);
    while text.len() < TEXT_LEN {
        text.push('.');
    }
    text
}

/// The frame the given protocol sends for the stamped text, to the one room (the typed
/// protocol's `client_id` must be unique per sender across phases: the server deduplicates
/// resent ids).
pub fn outgoing(proto: Proto, stamp: Stamp) -> Message {
    let text = stamp_text(stamp);
    match proto {
        Proto::Demo => Message::text(text),
        Proto::Typed => typed_send(ROOM, &text, stamp),
        Proto::SocketIo => Message::text(format!(r#"42["msg","{text}"]"#)),
    }
}

/// As `outgoing`, to `room`, for servers with several rooms per client: the demo protocol's
/// multi-room peers take `{"room","msg"}`, and Socket.IO's the `msg` event with `{room,text}`.
pub fn outgoing_to(proto: Proto, room: &str, stamp: Stamp) -> Message {
    let text = stamp_text(stamp);
    match proto {
        Proto::Demo => Message::text(format!(r#"{{"room":"{room}","msg":"{text}"}}"#)),
        Proto::Typed => typed_send(room, &text, stamp),
        Proto::SocketIo => {
            Message::text(format!(r#"42["msg",{{"room":"{room}","text":"{text}"}}]"#))
        }
    }
}

fn typed_send(room: &str, text: &str, stamp: Stamp) -> Message {
    Message::text(format!(
        r#"{{"type":"send","room":"{room}","text":"{text}","client_id":"{}-{}-{}"}}"#,
        stamp.sender, stamp.phase, stamp.seq
    ))
}

/// Finds the marker in a received frame without parsing the JSON around it. The marker's
/// characters need no JSON escaping, so it appears verbatim in either protocol's frame.
pub fn find_stamp(frame: &[u8]) -> Option<Stamp> {
    let start = MARK_FINDER.find(frame)? + MARK.len();
    let mut rest = &frame[start..];
    let t = field(&mut rest, b"")?;
    let phase = field(&mut rest, b"p=")?;
    let sender = field(&mut rest, b"s=")?;
    let seq = field(&mut rest, b"q=")?;
    Some(Stamp {
        t,
        phase: u32::try_from(phase).ok()?,
        sender: u32::try_from(sender).ok()?,
        seq,
    })
}

fn field(rest: &mut &[u8], key: &[u8]) -> Option<u64> {
    *rest = rest.strip_prefix(key)?;
    let mut v: u64 = 0;
    let mut i = 0;
    while let Some(&b) = rest.get(i) {
        if b == b';' {
            *rest = &rest[i + 1..];
            return (i > 0).then_some(v);
        }
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        i += 1;
    }
    None
}
