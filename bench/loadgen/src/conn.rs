//! One benchmark client: connect from a spread-out loopback source address, log in with the demo
//! or the typed protocol, and stamp or read the timing marker carried in every message text.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// Loopback source addresses used: 127.0.0.2 ... 127.0.0.(1 + SOURCE_ADDRS). Each has its own
/// ephemeral port range, so repeated runs of 10k connections never run out of ports, even with
/// the previous run's sockets still in TIME_WAIT.
const SOURCE_ADDRS: usize = 200;

/// The room every client of the typed protocol joins (the demo endpoint's shared room).
pub const ROOM: &str = "general";

/// Length of every message text: the marker, then padding.
pub const TEXT_LEN: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    /// `/ws/<nick>`: send plain text, others receive `{"sender","msg"}`.
    Demo,
    /// `/chat`: hello, join `general`, `send {room,text,client_id}`, receive `{"type":"message"}`.
    Typed,
}

#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    pub proto: Proto,
}

/// Nanoseconds on this process's monotonic clock. Sender and receivers live in the same
/// process, so a stamp and the time it is read on are directly comparable.
pub fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let base = BASE.get_or_init(Instant::now);
    u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn source_addr(slot: usize) -> IpAddr {
    let n = 2 + (slot % SOURCE_ADDRS) as u32;
    IpAddr::V4(Ipv4Addr::from(0x7f00_0000 | n))
}

static READ_BUFFER: OnceLock<usize> = OnceLock::new();

/// Bytes tungstenite reads at a time (default 16 KiB). It zeroes that much before every read,
/// so receivers that get one small message per read (fan-out) use a smaller one.
pub fn set_read_buffer(bytes: usize) {
    let _ = READ_BUFFER.set(bytes);
}

fn ws_config() -> WebSocketConfig {
    // Small read chunks keep 10k idle clients cheap; large messages are still accepted (the typed
    // protocol's `joined` lists every member of a 10k room).
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER.get().copied().unwrap_or(16 * 1024))
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20))
}

/// Connects client number `slot` as `nick`, and logs in. `rcvbuf` shrinks the socket's receive
/// buffer (set before connecting, so the advertised window is small from the start).
static EXTRA_SERVERS: OnceLock<Vec<SocketAddr>> = OnceLock::new();

/// Further nodes of the chat; `connect` spreads clients over them and `Target::addr`.
pub fn set_extra_servers(addrs: Vec<SocketAddr>) {
    let _ = EXTRA_SERVERS.set(addrs);
}

fn node_for(target: &Target, slot: usize) -> SocketAddr {
    let extra = EXTRA_SERVERS.get().map_or(&[][..], Vec::as_slice);
    match slot % (extra.len() + 1) {
        0 => target.addr,
        i => extra[i - 1],
    }
}

pub async fn connect(target: Target, slot: usize, nick: &str, rcvbuf: Option<u32>) -> Result<Ws> {
    let socket = TcpSocket::new_v4()?;
    socket
        .bind(SocketAddr::new(source_addr(slot), 0))
        .context("bind source address")?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    let stream = socket
        .connect(node_for(&target, slot))
        .await
        .context("tcp connect")?;
    // Browsers and most clients disable Nagle; without it a lone 100-byte send can wait for an ACK.
    stream.set_nodelay(true)?;
    let path = match target.proto {
        Proto::Demo => format!("/ws/{nick}"),
        Proto::Typed => "/chat".to_owned(),
    };
    let url = format!("ws://{}{}", target.addr, path);
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(ws_config()))
        .await
        .context("websocket handshake")?;
    if target.proto == Proto::Typed {
        let hello = serde_json::json!({"type": "hello", "nick": nick, "protocol": 1});
        ws.send(Message::text(hello.to_string())).await?;
        expect_type(&mut ws, "welcome").await?;
        let join = serde_json::json!({"type": "join", "room": ROOM});
        ws.send(Message::text(join.to_string())).await?;
        expect_type(&mut ws, "joined").await?;
    }
    Ok(ws)
}

/// Reads frames until one of type `want`; an `error` frame or a close fails the login.
async fn expect_type(ws: &mut Ws, want: &str) -> Result<()> {
    let needle = format!("\"type\":\"{want}\"");
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let s = t.as_str();
                if s.contains(&needle) {
                    return Ok(());
                }
                if s.contains("\"type\":\"error\"") {
                    bail!("server refused login: {}", truncate(s, 200));
                }
            }
            Some(Ok(Message::Close(frame))) => {
                bail!("closed during login: {}", close_label(frame.as_ref()))
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(anyhow!(e).context("during login")),
            None => bail!("connection ended during login"),
        }
    }
}

fn truncate(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub fn close_label(frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(f) => format!("close {}", u16::from(f.code)),
        None => "close (no code)".to_owned(),
    }
}

/// The timing marker inside a message text: send time, phase, sender index, sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub t: u64,
    pub phase: u32,
    pub sender: u32,
    pub seq: u64,
}

const MARK: &[u8] = b"~t=";
/// Built once: building a `memmem` searcher per frame cost as much as the search itself.
static MARK_FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(MARK));

/// The 100-byte message text `~t=<ns>;p=<phase>;s=<sender>;q=<seq>;....`.
pub fn stamp_text(s: Stamp) -> String {
    let mut text = format!("~t={};p={};s={};q={};", s.t, s.phase, s.sender, s.seq);
    while text.len() < TEXT_LEN {
        text.push('.');
    }
    text
}

/// The frame the given protocol sends for the stamped text (the typed protocol's `client_id`
/// must be unique per sender across phases: the server deduplicates resent ids).
pub fn outgoing(proto: Proto, stamp: Stamp) -> Message {
    let text = stamp_text(stamp);
    match proto {
        Proto::Demo => Message::text(text),
        Proto::Typed => Message::text(format!(
            r#"{{"type":"send","room":"{ROOM}","text":"{text}","client_id":"{}-{}-{}"}}"#,
            stamp.sender, stamp.phase, stamp.seq
        )),
    }
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

/// Connect/login with a deadline, so one stuck handshake cannot hold a scenario.
pub async fn connect_timeout(
    target: Target,
    slot: usize,
    nick: &str,
    rcvbuf: Option<u32>,
    limit: Duration,
) -> Result<Ws> {
    match tokio::time::timeout(limit, connect(target, slot, nick, rcvbuf)).await {
        Ok(r) => r,
        Err(_) => bail!("connect+login took over {limit:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
