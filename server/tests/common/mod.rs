//! Test support: a real server on 127.0.0.1:0 and real WebSocket clients.
//! `cluster.rs`: Redis and the nodes of a cluster; `auth.rs`: accounts and sign-in.
#![allow(dead_code)]

pub mod auth;
pub mod cluster;
pub mod conv;
pub mod poll;

use futures_util::{SinkExt, StreamExt};
use server::metrics::Metrics;
use server::store::{MemoryStore, Store};
use server::{Config, Hub};
use shared::{ClientMessage, MessageText, Nickname, RoomName, ServerMessage};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(5);

/// Starts the real `server` binary on 127.0.0.1:0 with `args`; returns the process and the
/// address it printed (`listening on http://…`). Loopback is not exempt from the per-address
/// limits: unless `args` set them, they are lifted here, explicitly.
pub fn spawn_binary(args: &[&str]) -> (std::process::Child, String) {
    let (child, mut lines) = spawn_reading(args, &[]);
    let addr = address_line(&mut lines, "listening on http://");
    (child, addr)
}

/// [`spawn_binary`] with `/metrics` on a port of its own: the process, its address, and the
/// metrics listener's address (for [`metric`]).
pub fn spawn_with_metrics(args: &[&str]) -> (std::process::Child, String, String) {
    let (child, mut lines) = spawn_reading(args, &["--metrics-listen", "127.0.0.1:0"]);
    let addr = address_line(&mut lines, "listening on http://");
    let metrics = address_line(&mut lines, "metrics on http://")
        .trim_end_matches("/metrics")
        .to_string();
    (child, addr, metrics)
}

fn spawn_reading(
    args: &[&str],
    extra: &[&str],
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
) {
    let unlimited: &[&str] = if args.iter().any(|a| a.ends_with("-per-ip")) {
        &[]
    } else {
        &[
            "--max-connections-per-ip",
            "0",
            "--handshake-rate-per-ip",
            "0",
        ]
    };
    // Most tests make rooms as guests; those about who may make rooms say so.
    let guest_rooms: &[&str] = if args.contains(&"--guests-create-rooms") {
        &[]
    } else {
        &["--guests-create-rooms", "true"]
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", "127.0.0.1:0"])
        .args(unlimited)
        .args(guest_rooms)
        .args(extra)
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn server");
    let out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    (child, out)
}

/// The next line of the server's stdout, which must start with `prefix`: the rest of it.
fn address_line(lines: &mut impl std::io::BufRead, prefix: &str) -> String {
    let mut line = String::new();
    lines.read_line(&mut line).expect("read an address line");
    line.trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("expected `{prefix}…`, got {line:?}"))
        .to_string()
}

/// A server binary that is killed when the test ends, passed or not.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// [`spawn_binary`], killed when the guard drops.
pub fn run_binary(args: &[&str]) -> (Running, String) {
    let (child, addr) = spawn_binary(args);
    (Running(child), addr)
}

/// A value of `/metrics` from the metrics listener at `metrics` (blocking: call it between
/// awaits only where that is fine).
pub fn metric(metrics: &str, name: &str) -> i64 {
    let (_, body) = http_get(metrics, "/metrics");
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// One blocking GET with `Host: localhost`, closed after the answer: (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut t = std::net::TcpStream::connect(addr).expect("connect");
    t.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        t,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut got = String::new();
    t.read_to_string(&mut got).expect("read the answer");
    let status = got
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {got}"));
    let body = got.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

pub struct TestServer {
    pub addr: SocketAddr,
    /// Where `/metrics` is served (`--metrics-listen`).
    pub metrics_addr: SocketAddr,
    pub hub: Arc<Hub>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), server::error::StoreError>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut cfg = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            static_dir: Some(std::env::temp_dir().join("chat-test-no-dist")),
            // Loopback is not exempt from the per-address limits: tests lift them explicitly.
            max_connections_per_ip: 0,
            handshake_rate_per_ip: 0,
            // Most tests make rooms as guests; those about who may make rooms say so.
            guests_create_rooms: true,
            ..Config::default()
        };
        tweak(&mut cfg);
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(cfg.memory_retention));
        Self::with_store(cfg, store).await
    }

    pub async fn with_store(cfg: Config, store: Arc<dyn Store>) -> TestServer {
        let listener = server::listen::bind(cfg.listen).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hub = Hub::new(Arc::new(cfg), store, Arc::new(Metrics::default()));
        let scrapes = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind metrics");
        let metrics_addr = scrapes.local_addr().expect("metrics addr");
        tokio::spawn(server::serve_metrics(scrapes, hub.clone()));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, hub.clone(), async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            metrics_addr,
            hub,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    pub async fn connect(&self, nick: &str) -> Client {
        let mut c = Client::open(&self.url("/chat")).await;
        let w = c.hello(nick).await;
        assert!(
            matches!(w, ServerMessage::Welcome { .. }),
            "expected welcome, got {w:?}"
        );
        c
    }

    /// Connects, says hello and joins `room`, returning the `joined` reply too.
    pub async fn join(&self, nick: &str, room: &str) -> (Client, ServerMessage) {
        let mut c = self.connect(nick).await;
        let j = c.join(room, None).await;
        (c, j)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub next_cid: u64,
}

pub fn room(s: &str) -> RoomName {
    RoomName::new(s).expect("room")
}
pub fn nick(s: &str) -> Nickname {
    Nickname::new(s).expect("nick")
}
pub fn text(s: &str) -> MessageText {
    MessageText::new(s).expect("text")
}

impl Client {
    pub async fn open(url: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        Client { ws, next_cid: 0 }
    }

    pub async fn open_with_origin(url: &str, origin: &str) -> Result<Client, String> {
        let mut req = url.into_client_request().expect("request");
        req.headers_mut()
            .insert("Origin", origin.parse().expect("header"));
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Client { ws, next_cid: 0 }),
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn send(&mut self, msg: &ClientMessage) {
        self.ws
            .send(Message::Text(msg.to_json().into()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send raw");
    }

    pub async fn send_text(&mut self, s: &str) {
        self.ws
            .send(Message::Text(s.into()))
            .await
            .expect("send text");
    }

    pub async fn hello(&mut self, nick_s: &str) -> ServerMessage {
        self.send(&ClientMessage::Hello {
            nick: Some(nick(nick_s)),
            protocol: 1,
            resume_token: None,
            auth: None,
        })
        .await;
        self.recv().await
    }

    pub async fn join(&mut self, room_s: &str, after: Option<u64>) -> ServerMessage {
        self.send(&ClientMessage::Join {
            room: room(room_s),
            after,
        })
        .await;
        self.recv_until(|m| {
            matches!(
                m,
                ServerMessage::Joined { .. } | ServerMessage::Error { .. }
            )
        })
        .await
    }

    /// Sends a room message with a fresh client id; returns the client id.
    pub async fn say(&mut self, room_s: &str, t: &str) -> String {
        self.next_cid += 1;
        let cid = format!("c{}-{}", self.next_cid, t.len());
        self.send(&ClientMessage::Send {
            room: room(room_s),
            text: text(t),
            client_id: shared::ClientMsgId::new(cid.clone()).expect("cid"),
        })
        .await;
        cid
    }

    /// Next text frame as a server message (panics after 5 s or on a close).
    pub async fn recv(&mut self) -> ServerMessage {
        let t = self.recv_text().await;
        serde_json::from_str(&t).unwrap_or_else(|e| panic!("bad server frame {t}: {e}"))
    }

    pub async fn recv_text(&mut self) -> String {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("stream ended")
                .expect("ws error");
            match m {
                Message::Text(t) => return t.to_string(),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("unexpected frame {other:?}"),
            }
        }
    }

    pub async fn recv_until(&mut self, pred: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        loop {
            let m = self.recv().await;
            if pred(&m) {
                return m;
            }
        }
    }

    /// Nothing but pings arrives within `d`.
    pub async fn expect_silence(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Reads until the server's close frame; returns its code (panics if none within 5 s).
    pub async fn expect_close(&mut self) -> u16 {
        self.expect_close_within(WAIT).await
    }

    /// Reads until the server's close frame; returns its code (panics if none within `d`).
    pub async fn expect_close_within(&mut self, d: Duration) -> u16 {
        let deadline = tokio::time::Instant::now() + d;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("timed out waiting for close")
            {
                Some(Ok(Message::Close(Some(f)))) => return u16::from(f.code),
                Some(Ok(Message::Close(None))) => return 1005,
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("error before close frame: {e}"),
                None => panic!("stream ended without a close frame"),
            }
        }
    }
}

/// The whole history of a room, oldest first, by paging forward.
pub async fn full_history(c: &mut Client, room_s: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    loop {
        let after = out.last().map_or(0, |m| m.0);
        c.send(&ClientMessage::History {
            room: room(room_s),
            before: None,
            after: Some(after),
            limit: Some(200),
        })
        .await;
        let ServerMessage::History {
            messages, has_more, ..
        } = c
            .recv_until(|m| matches!(m, ServerMessage::History { .. }))
            .await
        else {
            unreachable!()
        };
        out.extend(messages.into_iter().map(|m| (m.id, m.text.to_string())));
        if !has_more {
            return out;
        }
    }
}
