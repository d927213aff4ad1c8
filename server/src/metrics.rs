//! Counters for `/metrics`, in the Prometheus text format. Plain atomics: every update is one
//! relaxed add on the hot path, and rendering reads them without stopping anyone.

use shared::CloseReason;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    pub connections_open: AtomicI64,
    /// Rooms and direct conversations held in memory.
    pub rooms_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub connections_rejected_cap: AtomicU64,
    pub connections_rejected_origin: AtomicU64,
    pub connections_rejected_http_cap: AtomicU64,
    pub connections_rejected_per_ip: AtomicU64,
    pub connections_rejected_rate: AtomicU64,
    pub requests_rejected_host: AtomicU64,
    pub http_write_timeouts: AtomicU64,
    pub http_requests: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub messages_stored: AtomicU64,
    pub drops_slow_consumer: AtomicU64,
    pub store_errors: AtomicU64,
    pub errors_sent: AtomicU64,
    /// Sign-ins (password, registration, session, JWT) accepted, and refused.
    pub sign_ins: AtomicU64,
    pub sign_in_refusals: AtomicU64,
    closes: [AtomicU64; CloseReason::ALL.len()],
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn record_close(&self, reason: CloseReason) {
        if let Some(i) = CloseReason::ALL.iter().position(|r| *r == reason) {
            self.closes[i].fetch_add(1, Relaxed);
        }
    }

    pub fn closes(&self, reason: CloseReason) -> u64 {
        CloseReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.closes[i].load(Relaxed))
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        counter(
            "chat_connections_total",
            "Connections accepted.",
            self.connections_total.load(Relaxed),
        );
        counter(
            "chat_connections_rejected_total",
            "Connections refused at the connection caps: WebSocket sessions, or all open connections (HTTP 503).",
            self.connections_rejected_cap.load(Relaxed),
        );
        counter(
            "chat_http_connections_rejected_total",
            "Connections refused at the plain-HTTP connection cap (HTTP 503).",
            self.connections_rejected_http_cap.load(Relaxed),
        );
        counter(
            "chat_per_ip_rejected_total",
            "Connections refused because their address held its limit of connections (HTTP 503).",
            self.connections_rejected_per_ip.load(Relaxed),
        );
        counter(
            "chat_rate_rejected_total",
            "Connections refused because their address opened them too fast (HTTP 429).",
            self.connections_rejected_rate.load(Relaxed),
        );
        counter(
            "chat_host_rejected_total",
            "Requests refused because their Host is not allowed (HTTP 403).",
            self.requests_rejected_host.load(Relaxed),
        );
        counter(
            "chat_http_write_timeouts_total",
            "HTTP connections dropped because a response made no progress for --http-write-timeout.",
            self.http_write_timeouts.load(Relaxed),
        );
        counter(
            "chat_origin_rejected_total",
            "WebSocket upgrades refused by the Origin allowlist (HTTP 403).",
            self.connections_rejected_origin.load(Relaxed),
        );
        counter(
            "chat_http_requests_total",
            "Plain HTTP requests served.",
            self.http_requests.load(Relaxed),
        );
        counter(
            "chat_messages_in_total",
            "WebSocket text messages received.",
            self.messages_in.load(Relaxed),
        );
        counter(
            "chat_messages_out_total",
            "WebSocket messages written.",
            self.messages_out.load(Relaxed),
        );
        counter(
            "chat_messages_stored_total",
            "Chat messages stored.",
            self.messages_stored.load(Relaxed),
        );
        counter(
            "chat_drops_total",
            "Deliveries dropped because a receiver's outbound queue was full.",
            self.drops_slow_consumer.load(Relaxed),
        );
        counter(
            "chat_store_errors_total",
            "Store operations that failed.",
            self.store_errors.load(Relaxed),
        );
        counter(
            "chat_errors_sent_total",
            "Error messages sent to clients.",
            self.errors_sent.load(Relaxed),
        );
        counter(
            "chat_sign_ins_total",
            "Sign-ins accepted (password, registration, session token, JWT).",
            self.sign_ins.load(Relaxed),
        );
        counter(
            "chat_sign_in_refusals_total",
            "Sign-ins refused (wrong password, unknown name, throttled, expired, bad token).",
            self.sign_in_refusals.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP chat_connections_open Connections open now.\n# TYPE chat_connections_open gauge\nchat_connections_open {}",
            self.connections_open.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP chat_rooms_open Rooms and direct conversations held in memory now.\n# TYPE chat_rooms_open gauge\nchat_rooms_open {}",
            self.rooms_open.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP chat_closes_total WebSocket sessions closed, by reason.\n# TYPE chat_closes_total counter"
        );
        for (i, r) in CloseReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "chat_closes_total{{reason=\"{}\",code=\"{}\"}} {}",
                r.label(),
                r.code(),
                self.closes[i].load(Relaxed)
            );
        }
        out
    }
}
