//! One benchmark client: connect from a spread-out loopback source address, log in with the demo
//! or the typed protocol, and stamp or read the timing marker carried in every message text.

use std::cell::{Cell, RefCell};
use std::io::IoSliceMut;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
use tokio::io::Interest;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

/// The socket as tungstenite sees it: non-blocking reads and writes through Tokio's readiness
/// (`try_io`/`try_write` answer `WouldBlock` without a syscall when the socket is known not
/// ready). It remembers whether the last `WouldBlock` came from a write, so the handshake knows
/// which readiness to wait for, and when the data of the last read reached the socket.
struct Io {
    tcp: Rc<TcpStream>,
    write_blocked: Rc<Cell<bool>>,
    /// The last read returned less than asked: the socket was empty then.
    drained: bool,
    /// When the last read's data arrived (`now_ns` clock; 0: unknown), see `Ws::arrived_ns`.
    arrived: Rc<Cell<u64>>,
    /// The socket has receive timestamps on (`stamp_arrivals`): reads ask for them.
    stamped: bool,
    /// Room for the kernel's receive timestamp.
    cmsg: Vec<u8>,
}

static STAMP_ARRIVALS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Clients connected from now on have the kernel stamp each segment's arrival (see
/// `Ws::arrived_ns`). Only the latency scenarios ask: the throughput one does not need it, and
/// `recvmsg` with a timestamp costs more than a plain read.
pub fn stamp_arrivals() {
    STAMP_ARRIVALS.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Reads into `buf`, with the kernel's receive timestamp of the last byte read (realtime ns),
/// when the socket has them enabled (`SO_TIMESTAMPNS`).
fn recv_stamped(fd: RawFd, buf: &mut [u8], cmsg: &mut Vec<u8>) -> io::Result<(usize, Option<u64>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(cmsg), MsgFlags::empty())?;
    let mut at = None;
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmTimestampns(ts) = c {
            let ns = u64::try_from(ts.tv_sec())
                .ok()
                .and_then(|s| s.checked_mul(1_000_000_000))
                .and_then(|s| s.checked_add(u64::try_from(ts.tv_nsec()).ok()?));
            at = ns.filter(|&ns| ns > 0);
        }
    }
    Ok((msg.bytes, at))
}

impl Read for Io {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.drained) {
            // A short read emptied the socket, so the next read would only say `WouldBlock`
            // (one syscall per received message, a third of all the reads in fan-out). epoll(7)
            // allows this for stream sockets: data arriving after that read is a new edge, and
            // wakes the task. Clearing Tokio's readiness costs no syscall.
            return self.tcp.try_io(Interest::READABLE, || {
                Err::<usize, _>(io::ErrorKind::WouldBlock.into())
            });
        }
        if !self.stamped {
            let n = self.tcp.try_read(buf)?;
            self.drained = n > 0 && n < buf.len();
            return Ok(n);
        }
        let fd = self.tcp.as_raw_fd();
        let cmsg = &mut self.cmsg;
        let (n, at) = self
            .tcp
            .try_io(Interest::READABLE, || recv_stamped(fd, buf, cmsg))?;
        self.drained = n > 0 && n < buf.len();
        self.arrived.set(at.map_or(0, real_to_mono));
        Ok(n)
    }
}

impl Write for Io {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.tcp.try_write(buf);
        self.write_blocked
            .set(matches!(&r, Err(e) if e.kind() == io::ErrorKind::WouldBlock));
        r
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One WebSocket client: tungstenite's protocol implementation (the core of tokio-tungstenite:
/// the same framing, masking and UTF-8 checks) driven directly on the Tokio runtime's socket.
/// tokio-tungstenite's stream wrapper swaps two wakers on every poll; at millions of frames per
/// second that was a quarter of the load generator's time, and made it the bottleneck.
///
/// Methods take `&self`, so a reading task and a sending task can share one client (`Rc`);
/// the socket state is borrowed only inside each call, never across an await.
pub struct Ws {
    tcp: Rc<TcpStream>,
    write_blocked: Rc<Cell<bool>>,
    arrived: Rc<Cell<u64>>,
    /// tungstenite, for sending (masking, framing) and the socket; it never reads.
    ws: RefCell<WebSocket<Io>>,
    /// The receive side: frames are parsed in place in this buffer (see `Rx`).
    rx: RefCell<Rx>,
}

/// Largest message accepted (the typed protocol's `joined` lists every member of a 10k room).
const MAX_MESSAGE: usize = 64 << 20;

/// The receive side of a client. Server frames are parsed where they were read, and a text is
/// handed to the caller as a slice of this buffer: no copy, no allocation, no UTF-8 check (the
/// load generator only looks for its ASCII marker). With tungstenite doing the reading, its frame
/// decoding, `BytesMut` splitting and UTF-8 validation were 45% of the load generator's time in
/// the throughput scenario, and it was the bottleneck there.
struct Rx {
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Bytes asked of each read.
    chunk: usize,
    /// A message arriving in fragments: its opcode and payload so far.
    partial: Option<(u8, Vec<u8>)>,
}

/// One frame parsed out of `Rx::buf`.
struct Frame {
    opcode: u8,
    fin: bool,
    /// The payload is `buf[at..at + len]`.
    at: usize,
    len: usize,
}

impl Rx {
    fn new(chunk: usize, leftover: &[u8]) -> Rx {
        Rx {
            buf: leftover.to_vec(),
            start: 0,
            end: leftover.len(),
            chunk: chunk.max(64),
            partial: None,
        }
    }

    /// The next whole frame in the buffer, consumed (`Ok(None)`: it needs more bytes).
    fn frame(&mut self) -> Result<Option<Frame>, String> {
        let f = self.peek()?;
        if let Some(f) = &f {
            self.start = f.at + f.len;
        }
        Ok(f)
    }

    /// The next whole frame in the buffer, left there.
    fn peek(&self) -> Result<Option<Frame>, String> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return Ok(None);
        }
        if b[0] & 0x70 != 0 {
            return Err(format!("reserved bits set in 0x{:02x}", b[0]));
        }
        if b[1] & 0x80 != 0 {
            return Err("the server masked a frame".into());
        }
        let (len, head) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => {
                let mut l = [0u8; 8];
                l.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(l), 10)
            }
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&l| l <= MAX_MESSAGE)
            .ok_or_else(|| format!("a {len}-byte frame"))?;
        if b.len() < head + len {
            return Ok(None);
        }
        Ok(Some(Frame {
            opcode: b[0] & 0x0f,
            fin: b[0] & 0x80 != 0,
            at: self.start + head,
            len,
        }))
    }

    /// Makes room for one more read of `chunk` bytes after the unparsed ones.
    fn room(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.len() - self.end < self.chunk {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < self.chunk {
                self.buf.resize(self.end + self.chunk, 0);
            }
        }
        &mut self.buf[self.end..self.end + self.chunk]
    }
}

/// What `Ws::try_step` found.
pub enum Step {
    /// A text message, already handed to the caller's function.
    Text,
    /// Anything else, as `Ws::try_next` would give it (a close, the end, an error, a ping...).
    Other(Next),
    /// Nothing to read yet.
    Pending,
}

/// What one read of a client gave: a message, an error, or `None` once the connection ended.
pub type Next = Option<Result<Message, tungstenite::Error>>;

impl Ws {
    /// Performs the client handshake on a connected socket (by hand, so that whatever the
    /// server sent right after its answer stays in our receive buffer).
    async fn handshake(
        stream: TcpStream,
        host: &str,
        path: &str,
        chunk: usize,
        stamped: bool,
    ) -> Result<Ws> {
        let key = tungstenite::handshake::client::generate_key();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
        );
        let mut out = request.as_bytes();
        while !out.is_empty() {
            stream.writable().await?;
            match stream.try_write(out) {
                Ok(n) => out = &out[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut resp = Vec::with_capacity(512);
        let (head, leftover) = loop {
            stream.readable().await?;
            let mut chunk = [0u8; 1024];
            match stream.try_read(&mut chunk) {
                Ok(0) => bail!("connection closed during the handshake"),
                Ok(n) => resp.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
            if let Some(at) = memchr::memmem::find(&resp, b"\r\n\r\n") {
                break (resp[..at + 4].to_vec(), resp[at + 4..].to_vec());
            }
            if resp.len() > 16 * 1024 {
                bail!("no end to the handshake's answer");
            }
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut answer = httparse::Response::new(&mut headers);
        answer.parse(&head).context("the handshake's answer")?;
        if answer.code != Some(101) {
            bail!(
                "HTTP {} {}",
                answer.code.unwrap_or(0),
                answer.reason.unwrap_or("")
            );
        }
        let accept = answer
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-accept"))
            .map(|h| h.value);
        if accept != Some(tungstenite::handshake::derive_accept_key(key.as_bytes()).as_bytes()) {
            bail!("wrong Sec-WebSocket-Accept");
        }
        let tcp = Rc::new(stream);
        let write_blocked = Rc::new(Cell::new(false));
        let arrived = Rc::new(Cell::new(0));
        let io = Io {
            tcp: tcp.clone(),
            write_blocked: write_blocked.clone(),
            drained: false,
            arrived: arrived.clone(),
            stamped,
            cmsg: if stamped {
                nix::cmsg_space!(nix::sys::time::TimeSpec)
            } else {
                Vec::new()
            },
        };
        // tungstenite only sends: its own read buffer stays small.
        let config = WebSocketConfig::default().read_buffer_size(256);
        let ws = WebSocket::from_raw_socket(io, tungstenite::protocol::Role::Client, Some(config));
        Ok(Ws {
            tcp,
            write_blocked,
            arrived,
            ws: RefCell::new(ws),
            rx: RefCell::new(Rx::new(chunk, &leftover)),
        })
    }

    /// Forgets that the last read emptied the socket. Skipping the next read is only right
    /// while this task has not waited since: a wait lets the runtime see new data arrive, and
    /// skipping would then clear that readiness and lose the wake-up. Called after every wait
    /// in here, and by callers that wait on something else between two reads.
    pub fn rearm(&self) {
        self.ws.borrow_mut().get_mut().drained = false;
    }

    /// When the message just returned by `next`/`try_next` reached this client's socket, on the
    /// `now_ns` clock: the kernel's receive timestamp of the read that completed it. That is
    /// the server's delivery, whatever this process was busy with; a backlog in the load
    /// generator does not count as the server's latency. A read that brought several messages
    /// gives all of them its last byte's time (an upper bound for the earlier ones). Without a
    /// timestamp (not enabled, or none given), the current time.
    pub fn arrived_ns(&self) -> u64 {
        let now = now_ns();
        match self.arrived.get() {
            0 => now,
            at => at.min(now),
        }
    }

    /// The next message, waiting for the socket as needed.
    pub async fn next(&self) -> Next {
        loop {
            if let Some(next) = self.try_next() {
                return next;
            }
            if let Err(e) = self.tcp.readable().await {
                return Some(Err(e.into()));
            }
        }
    }

    /// The next message if one can be read without waiting (`None`: nothing yet).
    pub fn try_next(&self) -> Option<Next> {
        let mut text = None;
        match self.try_step(|t| text = Some(t.to_vec())) {
            Step::Pending => None,
            Step::Other(next) => Some(next),
            Step::Text => Some(Some(match String::from_utf8(text.unwrap_or_default()) {
                Ok(t) => Ok(Message::text(t)),
                Err(e) => Err(tungstenite::Error::Utf8(e.to_string())),
            })),
        }
    }

    /// Waits until `try_step` may find something: a whole frame is buffered, or the socket
    /// became readable (it may still find nothing: a spurious wake-up).
    pub async fn ready(&self) -> io::Result<()> {
        if matches!(self.rx.borrow().peek(), Ok(Some(_)) | Err(_)) {
            return Ok(());
        }
        // This waits: the next read must really read (see `rearm`).
        self.rearm();
        self.tcp.readable().await
    }

    /// The next message if one can be read without waiting. A text goes to `on_text` straight
    /// from the receive buffer; everything else comes back as `try_next` would return it.
    pub fn try_step(&self, on_text: impl FnOnce(&[u8])) -> Step {
        let mut rx = self.rx.borrow_mut();
        loop {
            let f = match rx.frame() {
                Ok(Some(f)) => f,
                Ok(None) => {
                    let mut ws = self.ws.borrow_mut();
                    let room = rx.room();
                    match ws.get_mut().read(room) {
                        Ok(0) => return Step::Other(None),
                        Ok(n) => {
                            rx.end += n;
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Step::Other(Some(Err(e.into()))),
                    }
                }
                Err(e) => {
                    let e = io::Error::new(io::ErrorKind::InvalidData, e);
                    return Step::Other(Some(Err(e.into())));
                }
            };
            let Rx { buf, partial, .. } = &mut *rx;
            let payload = &buf[f.at..f.at + f.len];
            match (f.opcode, partial.is_some()) {
                (1, false) if f.fin => {
                    on_text(payload);
                    return Step::Text;
                }
                (2, false) if f.fin => {
                    return Step::Other(Some(Ok(Message::Binary(payload.to_vec().into()))))
                }
                (1 | 2, false) => *partial = Some((f.opcode, payload.to_vec())),
                (0, true) => {
                    let (opcode, mut whole) = partial.take().unwrap_or_default();
                    whole.extend_from_slice(payload);
                    if whole.len() > MAX_MESSAGE {
                        let e = io::Error::new(io::ErrorKind::InvalidData, "message too large");
                        return Step::Other(Some(Err(e.into())));
                    }
                    if !f.fin {
                        *partial = Some((opcode, whole));
                    } else if opcode == 1 {
                        on_text(&whole);
                        return Step::Text;
                    } else {
                        return Step::Other(Some(Ok(Message::Binary(whole.into()))));
                    }
                }
                (8, _) => {
                    let frame = (payload.len() >= 2).then(|| CloseFrame {
                        code: u16::from_be_bytes([payload[0], payload[1]]).into(),
                        reason: String::from_utf8_lossy(&payload[2..]).into_owned().into(),
                    });
                    return Step::Other(Some(Ok(Message::Close(frame))));
                }
                (9, _) => {
                    // Answered at once (best effort: a full socket drops the pong).
                    let ping = payload.to_vec();
                    let mut ws = self.ws.borrow_mut();
                    let _ = ws.write(Message::Pong(ping.clone().into()));
                    let _ = ws.flush();
                    return Step::Other(Some(Ok(Message::Ping(ping.into()))));
                }
                (10, _) => return Step::Other(Some(Ok(Message::Pong(payload.to_vec().into())))),
                (op, _) => {
                    let e = io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected frame (opcode {op}) from the server"),
                    );
                    return Step::Other(Some(Err(e.into())));
                }
            }
        }
    }

    /// Sends one message, waiting while the socket is full.
    pub async fn send(&self, msg: Message) -> Result<(), tungstenite::Error> {
        self.write(msg)?;
        self.flush().await
    }

    /// Queues one message without sending it (`flush` sends what is queued, in one write).
    pub fn write(&self, msg: Message) -> Result<(), tungstenite::Error> {
        match self.ws.borrow_mut().write(msg) {
            // Queued; the socket took part of the buffer or none of it.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Sends everything queued, waiting while the socket is full.
    pub async fn flush(&self) -> Result<(), tungstenite::Error> {
        let mut step = self.ws.borrow_mut().flush();
        loop {
            match step {
                Err(tungstenite::Error::Io(e))
                    if e.kind() == io::ErrorKind::WouldBlock && self.write_blocked.get() =>
                {
                    self.tcp.writable().await?;
                    self.rearm();
                    step = self.ws.borrow_mut().flush();
                }
                other => return other,
            }
        }
    }
}

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

/// The clocks' common origin: an `Instant`, and the realtime clock's reading (ns) at it.
fn clock_base() -> &'static (Instant, u64) {
    static BASE: OnceLock<(Instant, u64)> = OnceLock::new();
    BASE.get_or_init(|| {
        let real = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0))
        };
        let before = real();
        let base = Instant::now();
        let after = real();
        (base, before / 2 + after / 2)
    })
}

/// Nanoseconds on this process's monotonic clock. Sender and receivers live in the same
/// process, so a stamp and the time it is read on are directly comparable.
pub fn now_ns() -> u64 {
    u64::try_from(clock_base().0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A realtime-clock reading (the kernel's receive timestamps) on the `now_ns` clock.
fn real_to_mono(real_ns: u64) -> u64 {
    real_ns.saturating_sub(clock_base().1).max(1)
}

fn source_addr(slot: usize) -> IpAddr {
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
    let stamped = STAMP_ARRIVALS.load(std::sync::atomic::Ordering::Relaxed);
    if stamped {
        // The kernel stamps each segment as it reaches this socket (see `Ws::arrived_ns`).
        setsockopt(&stream, sockopt::ReceiveTimestampns, &true).context("SO_TIMESTAMPNS")?;
    }
    let path = match target.proto {
        Proto::Demo => format!("/ws/{nick}"),
        Proto::Typed => "/chat".to_owned(),
    };
    let host = target.addr.to_string();
    let ws = Ws::handshake(stream, &host, &path, read_chunk(), stamped)
        .await
        .context("websocket handshake")?;
    if target.proto == Proto::Typed {
        let hello = serde_json::json!({"type": "hello", "nick": nick, "protocol": 1});
        ws.send(Message::text(hello.to_string())).await?;
        expect_type(&ws, "welcome").await?;
        let join = serde_json::json!({"type": "join", "room": ROOM});
        ws.send(Message::text(join.to_string())).await?;
        expect_type(&ws, "joined").await?;
    }
    Ok(ws)
}

/// Reads frames until one of type `want`; an `error` frame or a close fails the login.
async fn expect_type(ws: &Ws, want: &str) -> Result<()> {
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

pub fn close_label(frame: Option<&tungstenite::protocol::CloseFrame>) -> String {
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
    use futures_util::SinkExt;

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
}
