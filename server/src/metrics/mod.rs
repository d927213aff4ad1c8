//! What `/metrics` shows (served on `--metrics-listen`, never on the public port), with
//! prometheus-client, in the OpenMetrics text format:
//! - counters and gauges, updated where things happen: one relaxed atomic add each;
//! - `timings`: histograms recorded once per ack, store group or flusher pass, never per
//!   delivery;
//! - build info, and `process`: the process's CPU, memory and file descriptors, read from
//!   `/proc` at each scrape.

mod process;
mod timings;

pub use timings::{observe, Timings};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use shared::CloseReason;

/// The endpoints a connection is open on, for `chat_connections_by_endpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The typed protocol over a WebSocket (`/chat`).
    Chat,
    /// The seeds' demo protocol (`/ws/<nick>`).
    Demo,
    /// The seeds' echo (`/ws`).
    Echo,
    /// A long-polling session (`/poll`).
    Poll,
}

impl Endpoint {
    /// In the order of their values: `endpoint as usize` indexes `Metrics::by_endpoint`.
    const ALL: [Endpoint; 4] = [
        Endpoint::Chat,
        Endpoint::Demo,
        Endpoint::Echo,
        Endpoint::Poll,
    ];

    /// Its name in `/metrics` and in the connection's log.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Demo => "demo",
            Endpoint::Echo => "echo",
            Endpoint::Poll => "poll",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CloseLabels {
    reason: &'static str,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    profile: &'static str,
}

/// Every metric of the process; a handle of each is in the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub connections_open: Gauge,
    /// Rooms and direct conversations held in memory.
    pub rooms_open: Gauge,
    pub connections_total: Counter,
    pub connections_rejected_cap: Counter,
    pub connections_rejected_origin: Counter,
    pub connections_rejected_http_cap: Counter,
    pub connections_rejected_per_ip: Counter,
    pub connections_rejected_rate: Counter,
    pub requests_rejected_host: Counter,
    pub http_write_timeouts: Counter,
    pub http_requests: Counter,
    pub messages_in: Counter,
    pub messages_out: Counter,
    pub messages_stored: Counter,
    pub drops_slow_consumer: Counter,
    pub store_errors: Counter,
    pub errors_sent: Counter,
    /// Sign-ins (password, registration, session, JWT) accepted, and refused.
    pub sign_ins: Counter,
    pub sign_in_refusals: Counter,
    /// Long-polling GETs held open now, waiting for messages.
    pub poll_gets_held: Gauge,
    /// Long-polling requests sent to the node that holds their session (through Redis).
    pub relay_forwards: Counter,
    pub timings: Timings,
    closes: Vec<Counter>,
    by_endpoint: Vec<Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// One up on a gauge until this is dropped: a connection open on its endpoint, a GET held.
pub struct Counted(Gauge);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        // The standard process_* names at the root; the server's own under `chat_`.
        let mut root = Registry::default();
        process::register(&mut root);
        let r = root.sub_registry_with_prefix("chat");
        let counter = |r: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            r.register(name, help, c.clone());
            c
        };
        let gauge = |r: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            r.register(name, help, g.clone());
            g
        };
        let closes_family = Family::<CloseLabels, Counter>::default();
        let closes = CloseReason::ALL
            .iter()
            .map(|r| {
                closes_family
                    .get_or_create(&CloseLabels {
                        reason: r.label(),
                        code: r.code().to_string(),
                    })
                    .clone()
            })
            .collect();
        let endpoints = Family::<EndpointLabel, Gauge>::default();
        let by_endpoint = Endpoint::ALL
            .iter()
            .map(|e| {
                endpoints
                    .get_or_create(&EndpointLabel {
                        endpoint: e.label(),
                    })
                    .clone()
            })
            .collect();
        let metrics = Metrics {
            connections_open: gauge(r, "connections_open", "Connections open now"),
            rooms_open: gauge(
                r,
                "rooms_open",
                "Rooms and direct conversations held in memory now",
            ),
            connections_total: counter(r, "connections", "Connections accepted"),
            connections_rejected_cap: counter(
                r,
                "connections_rejected",
                "Connections refused at the connection caps: WebSocket sessions, or all open connections (HTTP 503)",
            ),
            connections_rejected_http_cap: counter(
                r,
                "http_connections_rejected",
                "Connections refused at the plain-HTTP connection cap (HTTP 503)",
            ),
            connections_rejected_per_ip: counter(
                r,
                "per_ip_rejected",
                "Connections refused because their address held its limit of connections (HTTP 503)",
            ),
            connections_rejected_rate: counter(
                r,
                "rate_rejected",
                "Connections refused because their address opened them too fast (HTTP 429)",
            ),
            requests_rejected_host: counter(
                r,
                "host_rejected",
                "Requests refused because their Host is not allowed (HTTP 403)",
            ),
            http_write_timeouts: counter(
                r,
                "http_write_timeouts",
                "HTTP connections dropped because a response made no progress for --http-write-timeout",
            ),
            connections_rejected_origin: counter(
                r,
                "origin_rejected",
                "WebSocket upgrades and long-polling requests refused by the Origin allowlist (HTTP 403)",
            ),
            http_requests: counter(r, "http_requests", "Plain HTTP requests served"),
            messages_in: counter(r, "messages_in", "Text messages received"),
            messages_out: counter(r, "messages_out", "Messages written to clients"),
            messages_stored: counter(r, "messages_stored", "Chat messages stored"),
            drops_slow_consumer: counter(
                r,
                "drops",
                "Deliveries dropped because a receiver's outbound queue was full",
            ),
            store_errors: counter(r, "store_errors", "Store operations that failed"),
            errors_sent: counter(r, "errors_sent", "Error messages sent to clients"),
            sign_ins: counter(
                r,
                "sign_ins",
                "Sign-ins accepted (password, registration, session token, JWT)",
            ),
            sign_in_refusals: counter(
                r,
                "sign_in_refusals",
                "Sign-ins refused (wrong password, unknown name, throttled, expired, bad token)",
            ),
            poll_gets_held: gauge(
                r,
                "poll_gets_held",
                "Long-polling GETs held open now, waiting for messages",
            ),
            relay_forwards: counter(
                r,
                "relay_forwards",
                "Long-polling requests forwarded to the node holding their session",
            ),
            timings: Timings::register(r),
            closes,
            by_endpoint,
            registry: Registry::default(),
        };
        r.register("closes", "Sessions closed, by reason", closes_family);
        r.register(
            "connections_by_endpoint",
            "Connections and long-polling sessions open now, by endpoint",
            endpoints,
        );
        r.register(
            "build",
            "The server's version and build profile",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                profile: if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                },
            }),
        );
        Metrics {
            registry: root,
            ..metrics
        }
    }

    pub fn inc(counter: &Counter) {
        counter.inc();
    }

    pub fn record_close(&self, reason: CloseReason) {
        if let Some(i) = CloseReason::ALL.iter().position(|r| *r == reason) {
            self.closes[i].inc();
        }
    }

    pub fn closes(&self, reason: CloseReason) -> u64 {
        CloseReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.closes[i].get())
    }

    /// Counts a connection under `endpoint` until the returned guard drops.
    pub fn open_on(&self, endpoint: Endpoint) -> Counted {
        Metrics::count(&self.by_endpoint[endpoint as usize])
    }

    /// One up on `gauge` until the returned guard drops.
    pub fn count(gauge: &Gauge) -> Counted {
        gauge.inc();
        Counted(gauge.clone())
    }

    /// The connections open now on `endpoint`.
    pub fn open_on_endpoint(&self, endpoint: Endpoint) -> i64 {
        self.by_endpoint[endpoint as usize].get()
    }

    /// Everything, in the OpenMetrics text format; `users_online` is read by the caller at
    /// the moment of the scrape.
    pub fn render(&self, users_online: usize) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::with_capacity(8192);
        let mut live = Registry::with_prefix("chat");
        live.register(
            "users_online",
            "Distinct names connected to this node now",
            ConstGauge::new(i64::try_from(users_online).unwrap_or(i64::MAX)),
        );
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &live);
        let _ = encode_eof(&mut out);
        out
    }
}

#[cfg(test)]
pub(crate) mod tests;
