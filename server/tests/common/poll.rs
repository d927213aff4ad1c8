//! A long-polling client as a browser's `fetch` would be: each request on its own HTTP/1.1
//! connection, the session id in a header, the ack of the last message received.

use super::WAIT;
use shared::{ServerMessage, POLL_ACK, POLL_CLOSE, POLL_PATH, POLL_SEQ, POLL_SESSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP answer: status, lower-cased head, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}:");
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map(str::trim)
    }

    pub fn close(&self) -> Option<u16> {
        self.header(POLL_CLOSE).and_then(|v| v.parse().ok())
    }

    /// `chat-seq`: the number of the last message of a GET's answer.
    pub fn seq(&self) -> u64 {
        self.header(POLL_SEQ)
            .and_then(|v| v.parse().ok())
            .expect("chat-seq")
    }
}

/// Sends one request (`Connection: close`) to `addr` and reads the whole answer.
pub async fn request(addr: &str, method: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
    let mut head = format!(
        "{method} {POLL_PATH} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut t = TcpStream::connect(addr).await.expect("tcp");
    t.write_all(head.as_bytes()).await.expect("write head");
    t.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT * 8, t.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end");
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    Answer {
        status,
        head,
        body: buf[split + 4..].to_vec(),
    }
}

/// A session, with the address its next request goes to (a cluster test moves it).
#[derive(Clone)]
pub struct Poller {
    pub addr: String,
    pub id: String,
    pub ack: u64,
}

impl Poller {
    /// Opens a session whose first body is `lines`; panics unless it is created.
    pub async fn open(addr: &str, lines: &[String]) -> Poller {
        let a = request(addr, "POST", &[], lines.join("\n").as_bytes()).await;
        assert_eq!(a.status, 201, "open: {a:?}");
        let id = a.header(POLL_SESSION).expect("session header").to_string();
        Poller::of(addr, &id)
    }

    /// The session `id` on the server at `addr`, nothing received yet.
    pub fn of(addr: &str, id: &str) -> Poller {
        Poller {
            addr: addr.to_string(),
            id: id.to_string(),
            ack: 0,
        }
    }

    /// A GET with this poller's ack, in a task of its own (to be held while the test goes on).
    pub fn held_get(&self) -> tokio::task::JoinHandle<Answer> {
        let p = self.clone();
        tokio::spawn(async move { p.get_acking(p.ack).await })
    }

    /// Opens a guest session that says hello as `nick` and joins `room`, and reads up to the
    /// `joined` answer.
    pub async fn joined(addr: &str, nick: &str, room: &str) -> (Poller, Vec<ServerMessage>) {
        let mut p = Poller::open(
            addr,
            &[
                format!(r#"{{"type":"hello","nick":"{nick}","protocol":1}}"#),
                format!(r#"{{"type":"join","room":"{room}"}}"#),
            ],
        )
        .await;
        let got = p.until(|m| matches!(m, ServerMessage::Joined { .. })).await;
        (p, got)
    }

    fn headers<'a>(&'a self, more: &[(&'a str, String)]) -> Vec<(&'a str, String)> {
        let mut h: Vec<(&str, String)> = vec![(POLL_SESSION, self.id.clone())];
        h.extend(more.iter().cloned());
        h
    }

    pub async fn post(&self, lines: &[String]) -> Answer {
        request(
            &self.addr,
            "POST",
            &self.headers(&[]),
            lines.join("\n").as_bytes(),
        )
        .await
    }

    pub async fn post_bytes(&self, body: &[u8]) -> Answer {
        request(&self.addr, "POST", &self.headers(&[]), body).await
    }

    pub async fn delete(&self) -> Answer {
        request(&self.addr, "DELETE", &self.headers(&[]), b"").await
    }

    /// A GET acking `ack`, without moving this poller's ack.
    pub async fn get_acking(&self, ack: u64) -> Answer {
        request(
            &self.addr,
            "GET",
            &self.headers(&[(POLL_ACK, ack.to_string())]),
            b"",
        )
        .await
    }

    /// A GET: the messages it brought (the ack moves past them), and the close code.
    pub async fn get(&mut self) -> (Vec<ServerMessage>, Option<u16>) {
        let a = self.get_acking(self.ack).await;
        assert_eq!(a.status, 200, "get: {a:?}");
        self.ack = a.seq();
        (parse(&a.body), a.close())
    }

    /// GETs until a message matches `pred`; everything received, in order (panics on a
    /// close or after the usual wait).
    pub async fn until(&mut self, pred: impl Fn(&ServerMessage) -> bool) -> Vec<ServerMessage> {
        let deadline = tokio::time::Instant::now() + WAIT * 2;
        let mut all = Vec::new();
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing matched: {all:?}"
            );
            let (got, close) = self.get().await;
            let done = got.iter().any(&pred);
            all.extend(got);
            if done {
                return all;
            }
            assert_eq!(close, None, "closed before a match: {all:?}");
        }
    }

    /// One GET: the close code it reports, if any.
    pub async fn closed_once(&self) -> Option<u16> {
        self.get_acking(self.ack).await.close()
    }

    /// GETs until the session reports its close; the code.
    pub async fn closed(&mut self) -> u16 {
        let deadline = tokio::time::Instant::now() + WAIT * 4;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "no close");
            let a = self.get_acking(self.ack).await;
            if let Some(code) = a.close() {
                return code;
            }
            assert_eq!(a.status, 200, "get: {a:?}");
            self.ack = a.seq();
        }
    }
}

/// The messages of a GET's body, one per line.
pub fn parse(body: &[u8]) -> Vec<ServerMessage> {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

/// A room message, as a line of a POST body.
pub fn send_line(room: &str, text: &str, client_id: &str) -> String {
    format!(r#"{{"type":"send","room":"{room}","text":"{text}","client_id":"{client_id}"}}"#)
}
