//! The HTTP edge against the real binary, tried as an attacker would: clients that never
//! read, one address holding every slot, a page on another name (DNS rebinding), and the caps
//! of plain HTTP and WebSocket sessions kept apart.

mod common;

use common::*;
use std::net::{IpAddr, SocketAddr};
use std::process::Child;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Memory store; `spawn_binary` lifts the per-address limits unless a test sets them.
const OPEN: &[&str] = &["--store", "memory"];

struct Server {
    child: Child,
    addr: SocketAddr,
    metrics: SocketAddr,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let (child, addr, metrics) = spawn_with_metrics(args);
        Server {
            child,
            addr: addr.parse().expect("address"),
            metrics: metrics.parse().expect("metrics address"),
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Connects from `from` (any 127/8 address is this machine: each is a distinct client).
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(from.parse::<IpAddr>().expect("ip"), 0))
        .expect("bind");
    sock.connect(to).await.expect("connect")
}

/// Sends `request` and reads one answer: its head (lower-cased) and its body (by
/// Content-Length; none for a 101).
async fn ask(t: &mut TcpStream, request: &str) -> (String, Vec<u8>) {
    t.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut want: Option<usize> = None;
    loop {
        if let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            want = Some(split + 4 + len);
        }
        if want.is_some_and(|w| buf.len() >= w) {
            break;
        }
        match tokio::time::timeout(WAIT, t.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(buf.len());
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let body = buf.get(split + 4..).unwrap_or_default().to_vec();
    (head, body)
}

fn get(path: &str, host: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
}

fn upgrade(path: &str, host: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// Opens a WebSocket from `from`; returns the socket and the answer's status line.
async fn ws_from(from: &str, s: &Server, extra: &str) -> (TcpStream, String) {
    let mut t = connect_from(from, s.addr).await;
    let (head, _) = ask(&mut t, &upgrade("/chat", &s.addr.to_string(), extra)).await;
    let status = head.lines().next().unwrap_or("").to_string();
    (t, status)
}

async fn metric(s: &Server, name: &str) -> u64 {
    // The metrics listener has no per-address limits: the tests fill the public port's.
    let mut t = TcpStream::connect(s.metrics).await.expect("connect");
    let (_, body) = ask(&mut t, &get("/metrics", &s.metrics.to_string())).await;
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn site(wasm_bytes: usize) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-edge-{}-{wasm_bytes}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>chat</title>").expect("write");
    // Incompressible, like a real wasm after compression: the kernel cannot shrink it.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let wasm: Vec<u8> = (0..wasm_bytes)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(dir.join("client-0123456789abcdef_bg.wasm"), wasm).expect("write");
    dir
}

/// The acceptance test of the edge: 300 clients ask for a 4 MiB wasm and never read. The
/// server holds one copy of the file, not one per client (before: about 8 MiB each), serves
/// everyone else meanwhile, and drops the 300 at the write deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_reading_fetchers_cost_little_and_are_dropped_at_the_write_deadline() {
    const WASM: &str = "/client-0123456789abcdef_bg.wasm";
    let dir = site(4 << 20);
    let mut args = OPEN.to_vec();
    let dir_arg = dir.to_string_lossy().into_owned();
    args.extend(["--static-dir", &dir_arg, "--http-write-timeout", "4s"]);
    let s = Server::start(&args);
    let host = s.addr.to_string();
    // One full fetch first, so the file is loaded and the baseline includes it.
    let mut t = TcpStream::connect(s.addr).await.expect("connect");
    let (head, body) = ask(&mut t, &get(WASM, &host)).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body.len(), 4 << 20);
    let before = s.rss_kib();

    let mut stalled = Vec::new();
    for _ in 0..300 {
        let sock = TcpSocket::new_v4().expect("socket");
        sock.set_recv_buffer_size(4096).expect("rcvbuf");
        let mut t = sock.connect(s.addr).await.expect("connect");
        t.write_all(get(WASM, &host).as_bytes())
            .await
            .expect("write");
        stalled.push(t);
    }
    // While they hang, others are served, and the server's memory stays put.
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(2500) {
        peak = peak.max(s.rss_kib());
        let mut t = TcpStream::connect(s.addr).await.expect("connect");
        let (head, body) = ask(&mut t, &get("/healthz", &host)).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(body, b"ok\n");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let grown_mib = peak.saturating_sub(before) / 1024;
    eprintln!(
        "300 never-reading fetchers: RSS {before} KiB before, peak {peak} KiB (+{grown_mib} MiB)"
    );
    assert!(grown_mib < 32, "300 stalled fetchers cost {grown_mib} MiB");
    let mut t = TcpStream::connect(s.addr).await.expect("connect");
    let (head, _) = ask(&mut t, &get("/", &host)).await;
    assert!(
        head.starts_with("http/1.1 200"),
        "index while stalled: {head}"
    );

    // At the deadline every stalled fetcher is dropped.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let dropped = metric(&s, "chat_http_write_timeouts_total").await;
        if dropped == 300 {
            break;
        }
        assert!(Instant::now() < deadline, "only {dropped} of 300 dropped");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(stalled);
    let _ = std::fs::remove_dir_all(dir);
}

/// One address at its connection limit is refused; another address is not, and the first
/// gets its place back when one of its connections closes.
#[tokio::test]
async fn one_address_cannot_take_every_slot() {
    let s = Server::start(&[
        "--store",
        "memory",
        "--max-connections-per-ip",
        "3",
        "--handshake-rate-per-ip",
        "0",
    ]);
    let mut held = Vec::new();
    for _ in 0..3 {
        let (t, status) = ws_from("127.0.0.1", &s, "").await;
        assert!(status.starts_with("http/1.1 101"), "{status}");
        held.push(t);
    }
    let mut t = connect_from("127.0.0.1", s.addr).await;
    let (head, body) = ask(&mut t, &get("/healthz", "localhost")).await;
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("too many connections from your address"));
    let (t, status) = ws_from("127.0.0.2", &s, "").await;
    assert!(
        status.starts_with("http/1.1 101"),
        "another address: {status}"
    );
    drop(t);
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (t, status) = ws_from("127.0.0.1", &s, "").await;
        if status.starts_with("http/1.1 101") {
            held.push(t);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slot never came back: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(metric(&s, "chat_per_ip_rejected_total").await >= 1);
}

/// An address opening connections faster than its rate is told to slow down (429); other
/// addresses are not.
#[tokio::test]
async fn one_address_cannot_open_connections_without_pause() {
    let s = Server::start(&[
        "--store",
        "memory",
        "--max-connections-per-ip",
        "0",
        "--handshake-rate-per-ip",
        "1",
        "--handshake-burst-per-ip",
        "3",
    ]);
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let mut t = connect_from("127.0.0.3", s.addr).await;
        let (head, _) = ask(&mut t, &get("/healthz", "localhost")).await;
        statuses.push(head.lines().next().unwrap_or("").to_string());
    }
    assert!(
        statuses[..3].iter().all(|s| s.starts_with("http/1.1 200")),
        "{statuses:?}"
    );
    assert!(
        statuses[3..].iter().all(|s| s.starts_with("http/1.1 429")),
        "{statuses:?}"
    );
    let mut t = connect_from("127.0.0.4", s.addr).await;
    let (head, _) = ask(&mut t, &get("/healthz", "localhost")).await;
    assert!(head.starts_with("http/1.1 200"), "another address: {head}");
}

/// Behind a trusted proxy the client is the right-most untrusted X-Forwarded-For address; from
/// anyone else the header is ignored.
#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let s = Server::start(&[
        "--store",
        "memory",
        "--max-connections-per-ip",
        "1",
        "--handshake-rate-per-ip",
        "0",
        "--trusted-proxies",
        "127.0.0.5",
    ]);
    let xff = |a: &str| format!("X-Forwarded-For: 203.0.113.9, {a}\r\n");
    let (_a, status) = ws_from("127.0.0.5", &s, &xff("198.51.100.1")).await;
    assert!(status.starts_with("http/1.1 101"), "{status}");
    let (_b, status) = ws_from("127.0.0.5", &s, &xff("198.51.100.1")).await;
    assert!(
        status.starts_with("http/1.1 503"),
        "same client behind the proxy: {status}"
    );
    let (_c, status) = ws_from("127.0.0.5", &s, &xff("198.51.100.2")).await;
    assert!(
        status.starts_with("http/1.1 101"),
        "another client behind the proxy: {status}"
    );
    // An untrusted peer cannot pick the address it is counted under.
    let (_d, status) = ws_from("127.0.0.6", &s, &xff("198.51.100.3")).await;
    assert!(status.starts_with("http/1.1 101"), "{status}");
    let (_e, status) = ws_from("127.0.0.6", &s, &xff("198.51.100.4")).await;
    assert!(status.starts_with("http/1.1 503"), "{status}");
}

/// DNS rebinding: a page at attacker.example that resolves to 127.0.0.1 sends its own name as
/// Host (and as Origin, which used to be enough). Bound to loopback, only local names pass.
#[tokio::test]
async fn requests_for_other_host_names_are_refused() {
    let s = Server::start(OPEN);
    let local = s.addr.to_string();
    let port = s.addr.port();
    for host in [
        local.clone(),
        format!("localhost:{port}"),
        "localhost".into(),
    ] {
        let mut t = TcpStream::connect(s.addr).await.expect("connect");
        let (head, _) = ask(&mut t, &get("/healthz", &host)).await;
        assert!(head.starts_with("http/1.1 200"), "{host}: {head}");
    }
    for host in [
        format!("attacker.example:{port}"),
        format!("localhost.attacker.example:{port}"),
        format!("127.0.0.1.attacker.example:{port}"),
    ] {
        let mut t = TcpStream::connect(s.addr).await.expect("connect");
        let (head, _) = ask(&mut t, &get("/healthz", &host)).await;
        assert!(head.starts_with("http/1.1 403"), "{host}: {head}");
        let mut t = TcpStream::connect(s.addr).await.expect("connect");
        let origin = format!("Origin: http://{host}\r\n");
        let (head, _) = ask(&mut t, &upgrade("/chat", &host, &origin)).await;
        assert!(
            head.starts_with("http/1.1 403"),
            "upgrade for {host}: {head}"
        );
    }
    let mut t = TcpStream::connect(s.addr).await.expect("connect");
    let (head, _) = ask(&mut t, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert!(!head.starts_with("http/1.1 200"), "no Host at all: {head}");
    assert!(metric(&s, "chat_host_rejected_total").await >= 6);

    let named = Server::start(&[OPEN, &["--allowed-hosts", "chat.example"]].concat());
    let mut t = TcpStream::connect(named.addr).await.expect("connect");
    let (head, _) = ask(&mut t, &get("/healthz", "chat.example")).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let mut t = TcpStream::connect(named.addr).await.expect("connect");
    let (head, _) = ask(&mut t, &get("/healthz", "attacker.example")).await;
    assert!(head.starts_with("http/1.1 403"), "{head}");
}

/// Behind a TLS proxy the page's Origin is `https://name` and the Host is what the proxy
/// passes on: the browser's own (`name`, or `name:port` off the default port), or with the
/// default port written out (nginx's `$host:$server_port`). Each is the page's own origin.
#[tokio::test]
async fn https_origins_behind_a_proxy_are_the_servers_own() {
    let s = Server::start(
        &[
            OPEN,
            &[
                "--trusted-proxies",
                "127.0.0.1",
                "--allowed-hosts",
                "chat.example",
            ],
        ]
        .concat(),
    );
    let cases = [
        ("chat.example", "https://chat.example", "101"),
        ("chat.example:443", "https://chat.example", "101"),
        ("chat.example:8443", "https://chat.example:8443", "101"),
        // The proxy dropped the port: the server cannot tell it is the same page.
        ("chat.example", "https://chat.example:8443", "403"),
        ("chat.example:443", "https://attacker.example", "403"),
    ];
    for (host, origin, want) in cases {
        let mut t = TcpStream::connect(s.addr).await.expect("connect");
        let extra = format!("Origin: {origin}\r\nX-Forwarded-For: 198.51.100.7\r\n");
        let (head, _) = ask(&mut t, &upgrade("/chat", host, &extra)).await;
        assert!(
            head.starts_with(&format!("http/1.1 {want}")),
            "Host {host}, Origin {origin}: {head}"
        );
    }
}

/// Plain HTTP and WebSocket sessions have caps of their own: a full chat cap leaves files and
/// health checks served, and sessions do not use up the HTTP cap.
#[tokio::test]
async fn http_and_chat_caps_are_apart() {
    let s = Server::start(
        &[
            OPEN,
            &["--max-connections", "2", "--max-http-connections", "2"],
        ]
        .concat(),
    );
    let mut held = Vec::new();
    for _ in 0..2 {
        let (t, status) = ws_from("127.0.0.1", &s, "").await;
        assert!(status.starts_with("http/1.1 101"), "{status}");
        held.push(t);
    }
    let (_t, status) = ws_from("127.0.0.1", &s, "").await;
    assert!(status.starts_with("http/1.1 503"), "chat cap: {status}");
    // Two kept-alive HTTP connections fill the HTTP cap; a third is refused, and chat
    // sessions were never counted in it.
    let mut a = TcpStream::connect(s.addr).await.expect("connect");
    let mut b = TcpStream::connect(s.addr).await.expect("connect");
    for t in [&mut a, &mut b] {
        let (head, _) = ask(t, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
    }
    let mut c = TcpStream::connect(s.addr).await.expect("connect");
    let (head, _) = ask(&mut c, &get("/healthz", "localhost")).await;
    assert!(head.starts_with("http/1.1 503"), "HTTP cap: {head}");
    // Keep-alive: a second request on a kept connection is answered.
    let (head, body) = ask(&mut a, &get("/healthz", "localhost")).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"ok\n");
}

/// A kept-alive connection that sends nothing more is closed after the head timeout.
#[tokio::test]
async fn idle_kept_alive_connections_are_closed() {
    let s = Server::start(&[OPEN, &["--handshake-timeout", "1s"]].concat());
    let mut t = TcpStream::connect(s.addr).await.expect("connect");
    let (head, _) = ask(&mut t, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), t.read(&mut buf))
        .await
        .expect("closed within the timeout")
        .unwrap_or(0);
    assert_eq!(n, 0, "the server closes the idle connection");
}

/// Every request leaves one log line: who, what, the status.
#[tokio::test]
async fn requests_are_logged() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", "127.0.0.1:0"])
        .args(OPEN)
        .args([
            "--max-connections-per-ip",
            "0",
            "--handshake-rate-per-ip",
            "0",
        ])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on http://")
        .expect("address line")
        .parse()
        .expect("addr");
    let mut t = TcpStream::connect(addr).await.expect("connect");
    let (head, _) = ask(&mut t, &get("/healthz?probe=1", "localhost")).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let _ = child.kill();
    let out = child.wait_with_output().expect("stderr");
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("/healthz"))
        .unwrap_or_else(|| panic!("no request line in\n{log}"));
    assert!(
        line.contains("GET") && line.contains("status=200") && line.contains("peer=127.0.0.1"),
        "{line}"
    );
}
