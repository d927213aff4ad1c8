//! The benchmark's floor: the demo protocol on a hub that does nothing per delivery but one
//! `send(2)`. One thread, one epoll loop (mio), no queues, no tasks, no locks. A message is turned
//! into its frame once and that same byte slice is written to every other socket in turn; only a
//! socket whose kernel buffer is full gets a per-connection backlog (flushed when it is writable
//! again).
//!
//! It is not a server anyone should run (no limits, no history, no back-pressure beyond the
//! kernel's buffers). It answers one question in the same run as the peers: how fast can *any*
//! server on this machine get one message to N sockets, when each delivery is a loopback `send`?
//! Whatever a real server adds shows as its distance from this one; whatever no server can
//! remove (the kernel's share) shows here.
//!
//! `ws://HOST:PORT/ws/<nickname>`: the client sends text; every other connected user gets
//! `{"sender":"<nickname>","msg":"<text>"}`. Pings are answered by tungstenite, which writes the
//! pong itself: fine for the load generator, which never pings.
//!
//! Usage: `floor-hub --listen 127.0.0.1:PORT`

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

const LISTENER: Token = Token(usize::MAX);
/// Largest HTTP upgrade request read before giving up on a connection.
const MAX_REQUEST: usize = 8 * 1024;

// Boxing `Open` would add a pointer chase to every delivery; a handshake is short-lived.
#[expect(clippy::large_enum_variant)]
enum Conn {
    Handshake { stream: TcpStream, buf: Vec<u8> },
    Open(Peer),
}

struct Peer {
    ws: WebSocket<TcpStream>,
    nick: String,
    /// Bytes the kernel did not take yet; while any are here, new frames queue behind them.
    pending: Vec<u8>,
}

impl Peer {
    /// One delivery: a single `send` when nothing is queued, else append to the queue.
    fn deliver(&mut self, frame: &[u8]) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.pending.extend_from_slice(frame);
            return Ok(());
        }
        match self.ws.get_mut().write(frame) {
            Ok(n) => self.pending.extend_from_slice(&frame[n..]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => self.pending.extend_from_slice(frame),
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.ws.get_mut().write(&self.pending) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// An unmasked server text frame around `payload`.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 10);
    f.push(0x81);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xFFFF => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// `/ws/<nickname>` -> the nickname.
fn nickname(path: &str) -> Option<String> {
    let nick = path.strip_prefix("/ws/")?;
    (!nick.is_empty() && !nick.contains('/')).then(|| nick.to_owned())
}

enum Upgrade {
    /// The request is not complete yet.
    Partial,
    /// 101 sent: the nickname and the bytes read past the request (the first frames, maybe).
    Done(String, Vec<u8>),
    Refused,
}

fn upgrade(stream: &mut TcpStream, buf: &[u8]) -> Upgrade {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let used = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Upgrade::Partial,
        Err(_) => return Upgrade::Refused,
    };
    let key = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
        .map(|h| h.value);
    let (Some(nick), Some(key)) = (req.path.and_then(nickname), key) else {
        let _ = stream.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        return Upgrade::Refused;
    };
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        tungstenite::handshake::derive_accept_key(key)
    );
    // A fresh socket's buffer takes the whole answer; one that does not is dropped.
    match stream.write(resp.as_bytes()) {
        Ok(n) if n == resp.len() => Upgrade::Done(nick, buf[used..].to_vec()),
        _ => Upgrade::Refused,
    }
}

struct Hub {
    poll: Poll,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
}

impl Hub {
    fn accept(&mut self, listener: &TcpListener) {
        loop {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let i = self.free.pop().unwrap_or_else(|| {
                        self.conns.push(None);
                        self.conns.len() - 1
                    });
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, Token(i), interest)
                        .is_err()
                    {
                        self.free.push(i);
                        continue;
                    }
                    self.conns[i] = Some(Conn::Handshake {
                        stream,
                        buf: Vec::new(),
                    });
                    self.readable(i);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors, say: try again on the next readiness.
                    eprintln!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn close(&mut self, i: usize) {
        if let Some(conn) = self.conns.get_mut(i).and_then(Option::take) {
            let mut stream = match conn {
                Conn::Handshake { stream, .. } => stream,
                Conn::Open(p) => p.ws.into_inner(),
            };
            let _ = self.poll.registry().deregister(&mut stream);
            self.free.push(i);
        }
    }

    fn readable(&mut self, i: usize) {
        let Some(conn) = self.conns.get_mut(i).and_then(Option::take) else {
            return;
        };
        let mut peer = match conn {
            Conn::Open(p) => p,
            Conn::Handshake {
                mut stream,
                mut buf,
            } => {
                let mut chunk = [0u8; 2048];
                let closed = loop {
                    match stream.read(&mut chunk) {
                        Ok(0) => break true,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break true,
                    }
                };
                let outcome = if closed || buf.len() > MAX_REQUEST {
                    Upgrade::Refused
                } else {
                    upgrade(&mut stream, &buf)
                };
                match outcome {
                    Upgrade::Partial => {
                        self.conns[i] = Some(Conn::Handshake { stream, buf });
                        return;
                    }
                    Upgrade::Refused => {
                        self.conns[i] = Some(Conn::Handshake { stream, buf });
                        self.close(i);
                        return;
                    }
                    Upgrade::Done(nick, rest) => Peer {
                        ws: WebSocket::from_partially_read(stream, rest, Role::Server, None),
                        nick,
                        pending: Vec::new(),
                    },
                }
            }
        };
        // Edge-triggered: read until the socket is empty.
        let mut texts = Vec::new();
        let alive = loop {
            match peer.ws.read() {
                Ok(Message::Text(t)) => texts.push(t),
                Ok(Message::Close(_)) => break false,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => break true,
                Err(_) => break false,
            }
        };
        let frames: Vec<Vec<u8>> = texts
            .iter()
            .map(|t| {
                let body = serde_json::json!({ "sender": peer.nick, "msg": t.as_str() });
                text_frame(body.to_string().as_bytes())
            })
            .collect();
        self.conns[i] = Some(Conn::Open(peer));
        if !alive {
            self.close(i);
        }
        for frame in &frames {
            self.broadcast(i, frame);
        }
    }

    fn broadcast(&mut self, from: usize, frame: &[u8]) {
        let mut dead = Vec::new();
        for (j, slot) in self.conns.iter_mut().enumerate() {
            if j == from {
                continue;
            }
            if let Some(Conn::Open(peer)) = slot {
                if peer.deliver(frame).is_err() {
                    dead.push(j);
                }
            }
        }
        for j in dead {
            self.close(j);
        }
    }

    fn writable(&mut self, i: usize) {
        if let Some(Some(Conn::Open(peer))) = self.conns.get_mut(i) {
            if peer.flush().is_err() {
                self.close(i);
            }
        }
    }
}

fn listen_addr() -> Result<SocketAddr, String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(a)) => a.parse().map_err(|e| format!("--listen {a}: {e}")),
        _ => Err("usage: floor-hub --listen 127.0.0.1:PORT".into()),
    }
}

fn main() -> io::Result<()> {
    let addr = listen_addr().map_err(io::Error::other)?;
    let mut listener = TcpListener::bind(addr)?;
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    println!("floor-hub listening on {}", listener.local_addr()?);
    let mut hub = Hub {
        poll,
        conns: Vec::new(),
        free: Vec::new(),
    };
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(e) = hub.poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for ev in events.iter() {
            match ev.token() {
                LISTENER => hub.accept(&listener),
                Token(i) => {
                    if ev.is_writable() {
                        hub.writable(i);
                    }
                    if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                        hub.readable(i);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_use_the_three_encodings() {
        assert_eq!(&text_frame(b"hi")[..2], &[0x81, 2]);
        let mid = text_frame(&[b'a'; 300]);
        assert_eq!(&mid[..4], &[0x81, 126, 1, 44]);
        assert_eq!(mid.len(), 304);
        let big = text_frame(&vec![b'a'; 70_000]);
        assert_eq!(&big[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(big[2..10].try_into().unwrap()), 70_000);
    }

    #[test]
    fn only_ws_paths_with_a_name_upgrade() {
        assert_eq!(nickname("/ws/ann").as_deref(), Some("ann"));
        assert_eq!(nickname("/ws/"), None);
        assert_eq!(nickname("/ws/a/b"), None);
        assert_eq!(nickname("/chat"), None);
    }
}
