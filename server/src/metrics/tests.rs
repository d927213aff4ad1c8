use super::*;
use std::time::Duration;

/// The value of `series` in the rendered metrics `text` (the store's tests read it too).
pub(crate) fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn counters_gauges_and_closes_render_under_their_names() {
    let m = Metrics::new();
    Metrics::inc(&m.connections_total);
    m.messages_out.inc_by(41);
    Metrics::inc(&m.messages_out);
    m.rooms_open.inc();
    m.record_close(CloseReason::SlowConsumer);
    m.record_close(CloseReason::SlowConsumer);
    let text = m.render(3);
    assert_eq!(value(&text, "chat_connections_total"), Some(1.0));
    assert_eq!(value(&text, "chat_messages_out_total"), Some(42.0));
    assert_eq!(value(&text, "chat_rooms_open"), Some(1.0));
    assert_eq!(value(&text, "chat_users_online"), Some(3.0));
    assert_eq!(
        value(
            &text,
            "chat_closes_total{reason=\"slow_consumer\",code=\"4008\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(m.closes(CloseReason::SlowConsumer), 2);
    assert!(text.ends_with("# EOF\n"), "one OpenMetrics document");
    assert_eq!(text.matches("# EOF").count(), 1);
}

#[test]
fn a_connection_counts_under_its_endpoint_while_open() {
    let m = Metrics::new();
    let a = m.open_on(Endpoint::Poll);
    let b = m.open_on(Endpoint::Poll);
    let c = m.open_on(Endpoint::Echo);
    let text = m.render(0);
    assert_eq!(
        value(&text, "chat_connections_by_endpoint{endpoint=\"poll\"}"),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "chat_connections_by_endpoint{endpoint=\"echo\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "chat_connections_by_endpoint{endpoint=\"chat\"}"),
        Some(0.0)
    );
    drop((a, b, c));
    assert_eq!(m.open_on_endpoint(Endpoint::Poll), 0);
    assert_eq!(m.open_on_endpoint(Endpoint::Echo), 0);
}

#[test]
fn histograms_count_and_bucket_their_samples() {
    let m = Metrics::new();
    timings::observe(&m.timings.store_fsync, Duration::from_micros(300));
    timings::observe(&m.timings.store_fsync, Duration::from_millis(30));
    let text = m.render(0);
    assert_eq!(value(&text, "chat_store_fsync_seconds_count"), Some(2.0));
    let sum = value(&text, "chat_store_fsync_seconds_sum").expect("sum");
    assert!((sum - 0.0303).abs() < 1e-9, "{sum}");
    // 300 µs lands at or under the 400 µs bound; 30 ms above it.
    assert_eq!(
        value(&text, "chat_store_fsync_seconds_bucket{le=\"0.0004\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "chat_store_fsync_seconds_bucket{le=\"+Inf\"}"),
        Some(2.0)
    );
    for empty in [
        "chat_ack_latency_seconds_count",
        "chat_store_commit_seconds_count",
        "chat_flusher_pass_seconds_count",
        "chat_fanout_delay_seconds_count",
    ] {
        assert_eq!(value(&text, empty), Some(0.0), "{empty}");
    }
}

#[test]
fn build_info_names_the_version() {
    let text = Metrics::new().render(0);
    let line = text
        .lines()
        .find(|l| l.starts_with("chat_build_info{"))
        .expect("build info");
    assert!(
        line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(line.ends_with(" 1"), "{line}");
}

#[cfg(target_os = "linux")]
#[test]
fn process_metrics_read_this_process() {
    let s = process::sample();
    let rss = s.resident_bytes.expect("rss");
    assert!(rss > 1 << 20, "a test binary holds more than 1 MiB: {rss}");
    assert!(s.virtual_bytes.expect("vsize") >= rss);
    assert!(s.threads.expect("threads") >= 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let start = s.start_time_seconds.expect("start");
    assert!(
        start <= now + 1.0 && start > now - 24.0 * 3600.0,
        "started in the last day: {start} vs {now}"
    );
    let before = s.open_fds.expect("fds");
    let f = std::fs::File::open("/proc/self/stat").expect("open");
    assert_eq!(process::sample().open_fds, Some(before + 1));
    drop(f);
    assert!(s.max_fds.expect("limit") >= before);
    assert!(s.cpu_seconds.expect("cpu") >= 0.0);
    let text = Metrics::new().render(0);
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(value(&text, name).is_some(), "{name} in {text}");
    }
}
