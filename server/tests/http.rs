//! The plain-HTTP side of the one port: /healthz, /metrics, the web client's files.

mod common;

use common::*;
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get(addr: std::net::SocketAddr, request: &str) -> (String, Vec<u8>) {
    let mut t = TcpStream::connect(addr).await.expect("tcp");
    t.write_all(request.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, t.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end");
    // Header names are case-insensitive (hyper writes them in lower case): compare in lower case.
    (
        String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase(),
        buf[split + 4..].to_vec(),
    )
}

async fn get_path(addr: std::net::SocketAddr, path: &str) -> (String, Vec<u8>) {
    get(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
    .await
}

fn dist() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-http-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("index.html"), "<!doctype html><title>chat</title>").expect("write");
    std::fs::write(dir.join("app-1a2b.js"), "console.log(1)").expect("write");
    std::fs::write(dir.join("app-1a2b_bg.wasm"), b"\0asm").expect("write");
    std::fs::write(dir.join("sub/style.css"), "body{}").expect("write");
    std::fs::write(
        dir.parent().expect("parent").join("chat-http-secret.txt"),
        "secret",
    )
    .expect("write");
    dir
}

#[tokio::test]
async fn healthz_and_metrics() {
    let s = TestServer::start().await;
    let (head, body) = get_path(s.addr, "/healthz").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(body, b"ok\n");
    let mut c = s.connect("alice").await;
    c.join("general", None).await;
    c.say("general", "count me").await;
    c.recv().await;
    // Never on the public port: without a proxy in front, it would be public.
    let (head, _) = get_path(s.addr, "/metrics").await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    let (head, body) = get_path(s.metrics_addr, "/metrics").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("application/openmetrics-text; version=1.0.0"));
    let body = String::from_utf8(body).expect("utf8");
    for line in [
        "chat_connections_open 1",
        "chat_connections_by_endpoint{endpoint=\"chat\"} 1",
        "chat_connections_by_endpoint{endpoint=\"poll\"} 0",
        "chat_users_online 1",
        "chat_messages_stored_total 1",
        "# TYPE chat_closes counter",
        "chat_closes_total{reason=\"slow_consumer\",code=\"4008\"} 0",
        "chat_drops_total 0",
        "chat_ack_latency_seconds_count 1",
        "# TYPE chat_build info",
        "# TYPE process_cpu_seconds counter",
        "# EOF",
    ] {
        assert!(body.contains(line), "missing `{line}` in\n{body}");
    }
    let messages_in: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("chat_messages_in_total "))
        .expect("messages_in")
        .parse()
        .expect("number");
    assert!(messages_in >= 3);
    // The fan-out went through a flusher pass, which timed itself.
    let passes: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("chat_flusher_pass_seconds_count "))
        .expect("flusher passes")
        .parse()
        .expect("number");
    assert!(passes >= 1, "{body}");
    let (head, _) = get_path(s.metrics_addr, "/").await;
    assert!(
        head.starts_with("http/1.1 404"),
        "only /metrics there: {head}"
    );
    s.stop().await;
}

#[tokio::test]
async fn serves_the_client_files_with_content_types() {
    let dir = dist();
    let s = TestServer::with(|c| c.static_dir = Some(dir.clone())).await;
    let (head, body) = get_path(s.addr, "/").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/html; charset=utf-8"));
    assert!(head.contains("cache-control: no-cache"));
    assert!(String::from_utf8_lossy(&body).contains("<title>chat</title>"));
    for (path, ctype) in [
        ("/app-1a2b.js", "text/javascript"),
        ("/app-1a2b_bg.wasm", "application/wasm"),
        ("/sub/style.css", "text/css"),
        ("/index.html?x=1", "text/html"),
    ] {
        let (head, _) = get_path(s.addr, path).await;
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert!(
            head.contains(&format!("content-type: {ctype}")),
            "{path}: {head}"
        );
    }
    let (head, body) = get(
        s.addr,
        "HEAD /app-1a2b.js HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 200") && head.contains("content-length: 14"));
    assert!(body.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn no_path_traversal() {
    let dir = dist();
    let s = TestServer::with(|c| c.static_dir = Some(dir.clone())).await;
    for path in [
        "/../chat-http-secret.txt",
        "/%2e%2e/chat-http-secret.txt",
        "/sub/..%2f..%2fchat-http-secret.txt",
        "/..%5cchat-http-secret.txt",
        "/sub/../../chat-http-secret.txt",
    ] {
        let (head, body) = get_path(s.addr, path).await;
        assert!(
            head.starts_with("http/1.1 400") || head.starts_with("http/1.1 404"),
            "{path}: {head}"
        );
        assert!(!String::from_utf8_lossy(&body).contains("secret"), "{path}");
    }
    // A symlink out of the directory is not followed out.
    let link = dir.join("escape.txt");
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        dir.parent().expect("parent").join("chat-http-secret.txt"),
        &link,
    )
    .expect("symlink");
    let (head, _) = get_path(s.addr, "/escape.txt").await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    s.stop().await;
}

#[tokio::test]
async fn bad_requests() {
    let s = TestServer::start().await;
    let (head, _) = get(
        s.addr,
        "POST /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 405"), "{head}");
    let (head, _) = get(s.addr, "NOT HTTP AT ALL\r\n\r\n").await;
    assert!(head.starts_with("http/1.1 400"), "{head}");
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(20_000));
    let (head, _) = get(s.addr, &huge).await;
    assert!(head.starts_with("http/1.1 431"), "{head}");
    let (head, _) = get_path(s.addr, "/chat").await;
    assert!(head.starts_with("http/1.1 426"), "{head}");
    let (head, body) = get_path(s.addr, "/").await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("not built"));
    let (head, _) = get(
        s.addr,
        "GET /chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 8\r\n\r\n",
    )
    .await;
    assert!(
        head.starts_with("http/1.1 426") && head.contains("sec-websocket-version: 13"),
        "{head}"
    );
    let (head, _) = get(
        s.addr,
        "GET /elsewhere HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    s.stop().await;
}
