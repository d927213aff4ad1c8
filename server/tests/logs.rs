//! The server's log as an operator reads it: the real binary's stderr, a span per connection
//! (`conn`: id, peer, endpoint, user, close code) with an `open` and a `closed` line, in text
//! or, with `--log-format json`, one JSON object per line.

mod common;

use common::poll::Poller;
use common::{Client, Running, WAIT};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// A server binary whose stderr lines arrive on `lines`.
struct Logged {
    _child: Running,
    addr: String,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Logged {
    fn start(args: &[&str]) -> Logged {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CHAT_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0", "--store", "memory"])
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut first)
            .expect("read the address line");
        let addr = first
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("the first line of stdout names the address: {first:?}"))
            .to_owned();
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Logged {
            _child: Running(child),
            addr,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one matches `pred` (panics after the usual wait): that line.
    fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no such line; the log:\n{}", self.seen.join("\n")),
            }
        }
    }

    /// The JSON line about connection events with `message`, for the connection of `user`.
    fn json_line(&mut self, message: &str, user: &str) -> Value {
        let line = self.until(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            v["fields"]["message"] == message && v["span"]["user"] == user
        });
        serde_json::from_str(&line).expect("JSON")
    }
}

/// Says hello as `nick` on `/chat`.
async fn hello(addr: &str, nick: &str) -> Client {
    let mut c = Client::open(&format!("ws://{addr}/chat")).await;
    let w = c.hello(nick).await;
    assert!(matches!(w, shared::ServerMessage::Welcome { .. }), "{w:?}");
    c
}

/// With `--log-format json` every line is a JSON object, and a connection's `closed` line
/// carries its span: id, peer, endpoint, the user it said hello as and its close code.
#[tokio::test]
async fn json_logs_name_each_connection_and_its_close() {
    let mut log = Logged::start(&["--log-format", "json"]);
    let addr = log.addr.clone();

    let mut alice = hello(&addr, "alice").await;
    alice.ws.close(None).await.expect("close");
    let closed = log.json_line("closed", "alice");
    let span = &closed["span"];
    assert_eq!(span["name"], "conn", "{closed}");
    assert_eq!(span["endpoint"], "chat", "{closed}");
    assert_eq!(span["close"], 1000, "{closed}");
    let id = span["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("an id: {closed}"));
    let peer = span["peer"].as_str().unwrap_or_default();
    let local = alice
        .ws
        .get_ref()
        .get_ref()
        .local_addr()
        .expect("local address");
    assert_eq!(peer, local.to_string(), "the peer is the client's socket");
    assert_eq!(closed["level"], "INFO");

    // A connection the server closes (a binary frame: 1003) logs that code.
    let mut bob = hello(&addr, "bob").await;
    bob.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(bob.expect_close().await, 1003);
    let closed = log.json_line("closed", "bob");
    assert_eq!(closed["span"]["close"], 1003, "{closed}");
    assert_ne!(closed["span"]["id"].as_u64(), Some(id), "ids differ");

    // A long-polling session is a connection too.
    let (carol, _) = Poller::joined(&addr, "carol", "general").await;
    assert_eq!(carol.delete().await.status, 204);
    let closed = log.json_line("closed", "carol");
    assert_eq!(closed["span"]["endpoint"], "poll", "{closed}");
    assert!(closed["span"]["close"].is_u64(), "{closed}");

    // The open line of alice's connection came first, in the same span, without a user yet.
    let open = log
        .seen
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["fields"]["message"] == "open" && v["span"]["id"] == id)
        .expect("an open line");
    assert_eq!(open["span"]["user"], Value::Null, "{open}");
    for line in &log.seen {
        assert!(
            serde_json::from_str::<Value>(line).is_ok_and(|v| v.is_object()),
            "not a JSON object: {line}"
        );
    }
}

/// The default text format: stdout still starts with the address line (read by `Logged`),
/// and the close line shows the span's fields.
#[tokio::test]
async fn text_logs_show_the_connection_span() {
    let mut log = Logged::start(&[]);
    let addr = log.addr.clone();
    let mut dave = hello(&addr, "dave").await;
    dave.ws.close(None).await.expect("close");
    let line = log.until(|l| l.contains("closed") && l.contains("user=\"dave\""));
    assert!(line.contains("conn{id="), "{line}");
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
    assert!(line.contains("endpoint=\"chat\""), "{line}");
    assert!(line.contains("close=1000"), "{line}");
    assert!(!line.starts_with('{'), "text, not JSON: {line}");
}
