//! The load generator against a real server (ours, in process, on 127.0.0.1:0): every scenario
//! the benchmark runs must count every delivery, with both protocols. A client that missed a
//! wake-up, or a batch of sends that lost a message, shows up here as `lost` or a shortfall.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use server::metrics::Metrics;
use server::store::{MemoryStore, Store};
use server::{Config, Hub};

async fn start() -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    start_with(|_| {}).await
}

/// A server with the test's limits, and then `change` applied to its configuration.
async fn start_with(
    change: impl FnOnce(&mut Config),
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut cfg = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        static_dir: Some(std::env::temp_dir().join("loadgen-test-no-dist")),
        // Loopback is not exempt from the per-address limits: tests lift them explicitly.
        max_connections_per_ip: 0,
        handshake_rate_per_ip: 0,
        rate_per_sec: 1_000_000,
        rate_burst: 1_000_000,
        ..Config::default()
    };
    change(&mut cfg);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(cfg.memory_retention));
    let hub = Hub::new(Arc::new(cfg), store, Arc::new(Metrics::default()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(listener, hub, async move {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Runs the load generator binary and returns its report.
async fn loadgen(addr: std::net::SocketAddr, args: &[&str]) -> Value {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"));
    cmd.arg("--server")
        .arg(addr.to_string())
        .arg("--server-pid")
        .arg(std::process::id().to_string())
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run loadgen");
    assert!(
        out.status.success(),
        "loadgen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json report");
    v["report"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_counts_every_delivery_in_both_protocols() {
    let (addr, _stop) = start().await;
    for proto in ["demo", "typed"] {
        let r = loadgen(
            addr,
            &[
                "--proto",
                proto,
                "fanout",
                "--receivers",
                "40",
                "--rates",
                "50,200",
                "--secs",
                "0.5,0.4",
                "--drain",
                "1",
                "--warmup",
                "0.3",
            ],
        )
        .await;
        assert_eq!(r["connected"], 40, "{proto}: {r}");
        // The warm-up runs at the first rate and is reported apart from the measured phases.
        let warm = &r["warmup"];
        assert_eq!(warm["rate"], 50, "{proto}: {r}");
        assert_eq!(warm["delivered"], warm["expected"], "{proto}: {warm}");
        assert!(warm["sent"].as_u64() >= Some(10), "{proto}: {warm}");
        let phases = r["phases"].as_array().expect("phases");
        let shape: Vec<_> = phases.iter().map(|p| (&p["rate"], &p["secs"])).collect();
        assert_eq!(
            shape,
            [(&50.into(), &0.5.into()), (&200.into(), &0.4.into())]
        );
        for p in phases {
            let sent = p["sent"].as_u64().expect("sent");
            assert!(sent >= 20, "{proto}: too few sends: {p}");
            assert_eq!(p["expected"].as_u64(), Some(sent * 40), "{proto}: {p}");
            assert_eq!(p["delivered"], p["expected"], "{proto}: {p}");
            assert_eq!(p["lost"], 0, "{proto}: {p}");
        }
        assert_eq!(r["disconnects"], serde_json::json!({}), "{proto}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_delivers_every_send_to_every_other_client() {
    let (addr, _stop) = start().await;
    for proto in ["demo", "typed"] {
        let r = loadgen(
            addr,
            &[
                "--proto",
                proto,
                "throughput",
                "--clients",
                "10",
                "--warmup",
                "0.2",
                "--secs",
                "0.5",
                "--drain",
                "1",
            ],
        )
        .await;
        let sent = r["sent_total"].as_u64().expect("sent_total");
        assert!(sent > 100, "{proto}: {r}");
        // Every send reaches the 9 others; nothing is left missing after the drain.
        assert_eq!(
            r["delivered_total"].as_u64(),
            Some(sent * 9),
            "{proto}: {r}"
        );
        assert_eq!(r["lost"], 0, "{proto}: {r}");
        assert_eq!(r["stalls"], 0, "{proto}: {r}");
        assert_eq!(r["disconnects"], serde_json::json!({}), "{proto}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transports_count_every_delivery_and_its_bytes() {
    let (addr, _stop) = start().await;
    let r = loadgen(
        addr,
        &[
            "transports",
            "--transport",
            "ws",
            "--receivers",
            "20",
            "--rate",
            "20",
            "--warmup",
            "0.5",
            "--secs",
            "1",
            "--drain",
            "2",
        ],
    )
    .await;
    assert_eq!(r["ready"], 20, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["duplicates"], 0, "{r}");
    assert_eq!(r["measured_deliveries"], r["expected"], "{r}");
    assert_eq!(r["expected"].as_u64(), Some(20 * 20), "{r}");
    // A message frame of 126 bytes or more: 2 bytes of header and 2 of extended length.
    let overhead = r["overhead_down_per_delivery"].as_f64().expect("overhead");
    assert!((4.0..5.0).contains(&overhead), "{r}");
    assert_eq!(r["requests"], 0, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_transports_count_every_delivery_and_their_requests() {
    for (transport, wait) in [("long", 30), ("short", 0)] {
        let (addr, _stop) = start_with(|cfg| cfg.poll_wait = Duration::from_secs(wait)).await;
        let r = loadgen(
            addr,
            &[
                "transports",
                "--transport",
                transport,
                "--receivers",
                "20",
                "--rate",
                "20",
                "--warmup",
                "0.5",
                "--secs",
                "1",
                "--drain",
                "2",
                "--period",
                "0.5",
            ],
        )
        .await;
        assert_eq!(r["ready"], 20, "{transport}: {r}");
        assert_eq!(r["lost"], 0, "{transport}: {r}");
        assert_eq!(r["duplicates"], 0, "{transport}: {r}");
        assert_eq!(r["measured_deliveries"], r["expected"], "{transport}: {r}");
        // Every GET is counted up and its answer down: at least an HTTP head each way per poll.
        let requests = r["requests"].as_f64().expect("requests");
        assert!(requests > 0.0, "{transport}: {r}");
        let up = r["bytes_up"].as_f64().expect("up");
        assert!(up / requests > 60.0, "{transport}: {r}");
        let overhead =
            r["bytes_down"].as_f64().expect("down") - r["payload_down"].as_f64().expect("payload");
        assert!(overhead / requests > 60.0, "{transport}: {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_delivers_each_message_to_the_other_members_of_its_room_only() {
    // The scenario's users are guests, who make the rooms by joining them.
    let (addr, _stop) = start_with(|c| c.guests_create_rooms = true).await;
    let r = loadgen(
        addr,
        &[
            "--proto",
            "typed",
            "rooms",
            "--users",
            "60",
            "--rooms",
            "12",
            "--per-user",
            "3",
            "--senders-pct",
            "10",
            "--rate",
            "5",
            "--warmup",
            "0.2",
            "--secs",
            "0.6",
            "--drain",
            "2",
        ],
    )
    .await;
    assert_eq!(r["connected"], 60, "{r}");
    assert_eq!(r["senders"], 6, "{r}");
    // 60 users × 3 rooms over 12 rooms: 15 members each, so a message reaches 14 others.
    assert_eq!(r["members"], serde_json::json!([15, 15]), "{r}");
    let sent = r["sent"].as_u64().expect("sent");
    assert!(sent >= 15, "too few sends: {r}");
    assert_eq!(r["expected"].as_u64(), Some(sent * 14), "{r}");
    assert_eq!(r["delivered"], r["expected"], "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    // The typed protocol echoes a message to its sender, and that is not counted as a delivery.
    assert_eq!(
        r["self_echo"].as_u64(),
        Some(sent + r["warmup_sent"].as_u64().unwrap_or(0)),
        "{r}"
    );
    assert_eq!(r["error_frames"], 0, "{r}");
    assert!(r["server_cpu_us_per_delivery"].as_f64().is_some(), "{r}");
    assert_eq!(r["disconnects"], serde_json::json!({}), "{r}");
}
