//! The real binary: prints its address, and on SIGTERM/SIGINT closes every client with 1001
//! and exits within its grace period.

mod common;

use common::*;
use shared::CloseReason;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn spawn_server(extra: &[&str]) -> (Child, String) {
    let mut args = vec!["--shutdown-grace", "2s", "--store", "memory"];
    args.extend_from_slice(extra);
    spawn_binary(&args)
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("server did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn shuts_down_on(sig: &str) {
    let (mut child, addr) = spawn_server(&[]);
    let mut typed = Client::open(&format!("ws://{addr}/chat")).await;
    typed.hello("alice").await;
    let mut demo = Client::open(&format!("ws://{addr}/ws/bob")).await;
    signal(&child, sig);
    assert_eq!(typed.expect_close().await, 1001);
    assert_eq!(demo.expect_close().await, 1001);
    let status = wait_exit(&mut child, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_and_exits() {
    shuts_down_on("-TERM").await;
}

#[tokio::test]
async fn sigint_closes_clients_with_1001_and_exits() {
    shuts_down_on("-INT").await;
}

/// A client whose handshake was still under way when shutdown began (the server had sent its
/// 101 but not yet registered the connection) is closed with 1001 too, not dropped at exit.
#[tokio::test]
async fn a_connection_registered_after_shutdown_began_is_closed_with_1001() {
    let s = TestServer::start().await;
    let mut early = Client::open(&format!("ws://{}/chat", s.addr)).await;
    early.hello("early").await;
    s.hub.close_all(CloseReason::GoingAway);
    assert_eq!(early.expect_close().await, 1001);
    let mut late_demo = Client::open(&format!("ws://{}/ws/late", s.addr)).await;
    assert_eq!(late_demo.expect_close().await, 1001);
    let mut late_typed = Client::open(&format!("ws://{}/chat", s.addr)).await;
    assert_eq!(late_typed.expect_close().await, 1001);
}

/// At shutdown the server ends each socket once its close frame is out, without waiting for
/// the client's answer (ten thousand answers would hold the next process back). A client that
/// has not answered sees the end of the stream right after the frame, well before the 1 s the
/// server waits for an answer at any other close.
#[tokio::test]
async fn shutdown_does_not_wait_for_the_clients_close_answer() {
    use tokio::io::AsyncReadExt;
    let s = TestServer::start().await;
    let mut quiet = Client::open(&format!("ws://{}/chat", s.addr)).await;
    quiet.hello("quiet").await;
    s.hub.close_all(CloseReason::GoingAway);
    assert_eq!(quiet.expect_close().await, 1001);
    // The WebSocket has queued its answer and sends it on its next read: read the socket under it.
    let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = quiet.ws.get_mut() else {
        panic!("a plain TCP stream");
    };
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_millis(900), tcp.read(&mut buf))
        .await
        .expect("the socket still open: the server waits for the answer")
        .expect("read");
    assert_eq!(n, 0, "the end of the stream after the close frame");
}

#[tokio::test]
async fn a_client_that_never_reads_cannot_hold_shutdown_past_the_grace() {
    let (mut child, addr) = spawn_server(&["--rate-per-sec", "0"]);
    let mut talker = Client::open(&format!("ws://{addr}/chat")).await;
    talker.hello("talker").await;
    talker.join("general", None).await;
    let sock = tokio::net::TcpSocket::new_v4().expect("socket");
    sock.set_recv_buffer_size(4096).expect("rcvbuf");
    let tcp = sock
        .connect(addr.parse().expect("addr"))
        .await
        .expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(
        format!("ws://{addr}/chat"),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .expect("ws");
    let mut stuck = Client { ws, next_cid: 0 };
    stuck.hello("stuck").await;
    stuck.join("general", None).await;
    for i in 0..200 {
        talker
            .say("general", &format!("{i} {}", "z".repeat(3000)))
            .await;
    }
    signal(&child, "-TERM");
    let start = Instant::now();
    let status = wait_exit(&mut child, Duration::from_secs(8));
    assert!(status.success());
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "exit bounded by the grace period"
    );
}

#[test]
fn help_explains_flags_and_env() {
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .arg("--help")
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--static-dir",
        "--store",
        "--data-dir",
        "--max-connections",
        "--rate-per-sec",
        "--idle-timeout",
        "CHAT_LISTEN",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn bind_failure_is_a_clear_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", &addr])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen on"), "{err}");
}

/// A kept-alive HTTP connection (a browser keeps one after loading the page) does not hold
/// the shutdown until its idle timeout or the grace: it is closed, and the server exits.
#[tokio::test]
async fn kept_alive_http_connections_do_not_hold_shutdown() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut child, addr) = spawn_binary(&[
        "--shutdown-grace",
        "60s",
        "--handshake-timeout",
        "60s",
        "--store",
        "memory",
    ]);
    let mut t = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    t.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(WAIT, t.read(&mut buf))
        .await
        .expect("answer")
        .expect("read");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    signal(&child, "-TERM");
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let n = tokio::time::timeout(WAIT, t.read(&mut buf))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0, "the kept connection was closed");
}
