//! Connecting a client: its loopback source address, the node of the chat it goes to, the
//! upgrade, and the login of each protocol.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;
use nix::sys::socket::{setsockopt, sockopt};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

use super::socket::STAMP_ARRIVALS;
use super::{close_label, Ws};

/// Loopback source addresses used: 127.0.0.2 ... 127.0.0.(1 + SOURCE_ADDRS). Each has its own
/// ephemeral port range, so repeated runs of 10k connections never run out of ports, even with
/// the previous run's sockets still in TIME_WAIT.
const SOURCE_ADDRS: usize = 200;

/// The room every client of the typed protocol joins (the demo endpoint's shared room).
pub const ROOM: &str = "general";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    /// `/ws/<nick>`: send plain text, others receive `{"sender","msg"}`.
    Demo,
    /// `/chat`: hello, join `general`, `send {room,text,client_id}`, receive `{"type":"message"}`.
    Typed,
    /// Socket.IO 4 over a WebSocket (Engine.IO 4): `/socket.io/?EIO=4&transport=websocket&nick=`,
    /// the open packet, `40` to connect, then `42["msg",text]`; others receive
    /// `42["chat",{"sender","msg"}]`.
    #[value(name = "socketio")]
    #[serde(rename = "socketio")]
    SocketIo,
}

#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    pub proto: Proto,
}

/// The loopback source address of client number `slot`.
pub fn source_addr(slot: usize) -> IpAddr {
    let n = 2 + (slot % SOURCE_ADDRS) as u32;
    IpAddr::V4(Ipv4Addr::from(0x7f00_0000 | n))
}

static READ_BUFFER: OnceLock<usize> = OnceLock::new();

/// Bytes a client asks of each read (default 16 KiB); its receive buffer is at least that big,
/// so receivers that get one small message per read (fan-out) use a smaller one, which keeps 10k
/// of them cheap. A larger message still fits: the buffer grows to `MAX_MESSAGE`.
pub fn set_read_buffer(bytes: usize) {
    let _ = READ_BUFFER.set(bytes);
}

fn read_chunk() -> usize {
    READ_BUFFER.get().copied().unwrap_or(16 * 1024)
}

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

/// Connects client number `slot` as `nick`, and logs in. `rcvbuf` shrinks the socket's receive
/// buffer (set before connecting, so the advertised window is small from the start).
pub(super) async fn connect(
    target: Target,
    slot: usize,
    nick: &str,
    rcvbuf: Option<u32>,
) -> Result<Ws> {
    Ok(connect_after(target, slot, nick, rcvbuf, None).await?.0)
}

/// As `connect`; with the typed protocol the join asks for the messages after `after` (a
/// resume), and the `joined` frame is returned.
pub async fn connect_after(
    target: Target,
    slot: usize,
    nick: &str,
    rcvbuf: Option<u32>,
    after: Option<u64>,
) -> Result<(Ws, Option<String>)> {
    let ws = open(target, slot, &path(target.proto, nick, &[]), rcvbuf).await?;
    let mut joined = None;
    match target.proto {
        Proto::Typed => {
            hello(&ws, nick).await?;
            joined = Some(join(&ws, &[ROOM], after).await?);
        }
        Proto::SocketIo => socketio_connect(&ws).await?,
        Proto::Demo => {}
    }
    Ok((ws, joined))
}

/// Connects client number `slot` as `nick`, in each of `rooms` (instead of the one room):
/// typed, a `join` for each (sent together, then every `joined` awaited); the demo protocol and
/// Socket.IO, `rooms=` in the query, which the multi-room peers subscribe or join on connection.
pub async fn connect_rooms(target: Target, slot: usize, nick: &str, rooms: &[&str]) -> Result<Ws> {
    let ws = open(target, slot, &path(target.proto, nick, rooms), None).await?;
    match target.proto {
        Proto::Typed => {
            hello(&ws, nick).await?;
            join(&ws, rooms, None).await?;
        }
        Proto::SocketIo => socketio_connect(&ws).await?,
        Proto::Demo => {}
    }
    Ok(ws)
}

/// The upgrade path of each protocol; `rooms`, when not empty, in the query.
fn path(proto: Proto, nick: &str, rooms: &[&str]) -> String {
    let query = if rooms.is_empty() {
        String::new()
    } else {
        format!("rooms={}", rooms.join(","))
    };
    match proto {
        Proto::Demo if query.is_empty() => format!("/ws/{nick}"),
        Proto::Demo => format!("/ws/{nick}?{query}"),
        Proto::Typed => "/chat".to_owned(),
        Proto::SocketIo => format!("/socket.io/?EIO=4&transport=websocket&nick={nick}&{query}"),
    }
}

/// The TCP connection from client `slot`'s source address, and the WebSocket upgrade to `path`.
async fn open(target: Target, slot: usize, path: &str, rcvbuf: Option<u32>) -> Result<Ws> {
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
    let stamped = STAMP_ARRIVALS.load(std::sync::atomic::Ordering::Relaxed);
    if stamped {
        // The kernel stamps each segment as it reaches this socket (see `Ws::arrived_ns`).
        setsockopt(&stream, sockopt::ReceiveTimestampns, &true).context("SO_TIMESTAMPNS")?;
    }
    let host = target.addr.to_string();
    Ws::handshake(stream, &host, path, "", read_chunk(), stamped)
        .await
        .context("websocket handshake")
}

/// The typed protocol's `hello`, answered by `welcome`.
async fn hello(ws: &Ws, nick: &str) -> Result<()> {
    let hello = serde_json::json!({"type": "hello", "nick": nick, "protocol": 1});
    ws.send(Message::text(hello.to_string())).await?;
    expect_type(ws, "welcome").await?;
    Ok(())
}

/// A typed `join` for each room (the first with `after`, if any), sent together; the last
/// `joined` frame.
async fn join(ws: &Ws, rooms: &[&str], after: Option<u64>) -> Result<String> {
    for (i, room) in rooms.iter().enumerate() {
        let mut join = serde_json::json!({"type": "join", "room": room});
        if let (0, Some(id)) = (i, after) {
            join["after"] = id.into();
        }
        ws.write(Message::text(join.to_string()))?;
    }
    ws.flush().await?;
    let mut joined = String::new();
    for _ in rooms {
        joined = expect_type(ws, "joined").await?;
    }
    Ok(joined)
}

/// Socket.IO's open packet, then `40` (connect to the main namespace), answered by `40`.
async fn socketio_connect(ws: &Ws) -> Result<()> {
    expect_prefix(ws, "0{").await?;
    ws.send(Message::text("40")).await?;
    expect_prefix(ws, "40").await
}

/// Reads frames until a text frame starting with `want` (Socket.IO's packets: `0` open, `40`
/// connected); a `44` (connect error) or a close fails the login.
async fn expect_prefix(ws: &Ws, want: &str) -> Result<()> {
    expect(ws, |s| s.starts_with(want), |s| s.starts_with("44")).await?;
    Ok(())
}

/// Reads frames until one of type `want`, and returns it; an `error` frame or a close fails
/// the login.
async fn expect_type(ws: &Ws, want: &str) -> Result<String> {
    let needle = format!("\"type\":\"{want}\"");
    expect(
        ws,
        |s| s.contains(&needle),
        |s| s.contains("\"type\":\"error\""),
    )
    .await
}

/// Reads frames until a text frame that `wanted`, and returns it; one that is `refused`, a
/// close, or the end fails the login.
async fn expect(
    ws: &Ws,
    wanted: impl Fn(&str) -> bool,
    refused: impl Fn(&str) -> bool,
) -> Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let s = t.as_str();
                if wanted(s) {
                    return Ok(s.to_owned());
                }
                if refused(s) {
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

/// Opens a typed-protocol connection (`/chat`) and sends nothing on it: the caller says `hello`.
/// `forwarded_for` goes in an `X-Forwarded-For` header (believed by a server that trusts the
/// loopback proxy), so one load generator can stand for many client addresses. The source
/// address is the kernel's choice (127.0.0.1 towards 127.0.0.1), the one the server trusts as
/// its proxy.
pub async fn connect_chat(addr: SocketAddr, forwarded_for: Option<IpAddr>) -> Result<Ws> {
    let stream = TcpSocket::new_v4()?
        .connect(addr)
        .await
        .context("tcp connect")?;
    stream.set_nodelay(true)?;
    let extra = forwarded_for.map_or_else(String::new, |ip| format!("X-Forwarded-For: {ip}\r\n"));
    Ws::handshake(stream, &addr.to_string(), "/chat", &extra, 4096, false)
        .await
        .context("websocket handshake")
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
