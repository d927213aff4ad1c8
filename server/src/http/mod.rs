//! The HTTP side of the one port, on hyper: every accepted connection is served here until it
//! ends or upgrades to a WebSocket.
//!
//! - [`serve_connection`]: hyper's HTTP/1 connection (keep-alive, a time limit per request
//!   head, a write deadline) under tower-http layers (the request log, `nosniff`).
//! - `route`: what each request gets: `/healthz`, `/readyz`, `/poll`, the web client's files
//!   ([`assets`]), or the WebSocket handshake (`upgrade`). The Host check ([`host`]) comes
//!   first, on every request.
//! - `deadline`: the socket wrapper that drops a connection whose response makes no progress.
//! - `origin`: the Origin allowlist for WebSocket upgrades (and long polling).
//! - `poll`: long polling at `/poll`, the fallback transport.
//! - `metrics`: `/metrics`, served on `--metrics-listen` only, never on this port.

pub mod assets;
mod deadline;
pub mod host;
mod metrics;
mod origin;
mod poll;
mod route;
mod upgrade;

pub use metrics::serve_metrics;
#[cfg(test)]
pub(crate) use upgrade::ws_config;

use crate::admission::{ConnAdmission, Gate};
use crate::hub::Hub;
use bytes::Bytes;
use deadline::WriteDeadline;
use http::header::{HeaderValue, X_CONTENT_TYPE_OPTIONS};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use assets::Assets;
pub use host::HostPolicy;

/// Every response body: whole, shared bytes (files are held once and answered by reference).
pub type Body = Full<Bytes>;

/// The socket type hyper serves, which a WebSocket upgrade takes back.
pub(crate) type Io = TokioIo<WriteDeadline<TcpStream>>;

/// Largest request head accepted (hyper answers 431 past it).
const MAX_HEAD: usize = 16 * 1024;

/// What every connection of the port shares.
pub struct Edge {
    pub hub: Arc<Hub>,
    pub assets: Assets,
    pub hosts: HostPolicy,
    pub gate: Gate,
    /// This node's long-polling sessions.
    pub polls: Arc<poll::Sessions>,
    /// In a cluster: the forwarding of other nodes' sessions' requests, and this node's id.
    relay: Option<(Arc<dyn crate::broker::relay::Relay>, String)>,
    /// Turns true at shutdown: kept-alive connections then close after their current answer.
    closing: watch::Sender<bool>,
}

impl Edge {
    /// The edge for `hub`'s configuration; Err names a bad `--allowed-hosts` entry.
    pub fn new(hub: Arc<Hub>) -> Result<Edge, String> {
        let config = &hub.config;
        let hosts = HostPolicy::new(config.listen, &config.allowed_hosts)?;
        let assets = Assets::new(config.static_dir.as_deref());
        let gate = Gate::new(config, hub.metrics.clone());
        let relay = hub.relay();
        Ok(Edge {
            hub,
            assets,
            hosts,
            gate,
            polls: poll::Sessions::new(match &relay {
                Some((_, node)) => format!("{node}."),
                None => String::new(),
            }),
            relay,
            closing: watch::Sender::new(false),
        })
    }

    /// In a cluster, starts answering the long-polling requests other nodes forward here.
    pub fn serve_relay(self: &Arc<Self>) {
        if let Some((relay, _)) = &self.relay {
            relay.serve(Arc::new(poll::Relayed(Arc::downgrade(self))));
        }
    }

    /// Asks every plain-HTTP connection to close once its current answer is written.
    pub fn close_http(&self) {
        self.closing.send_replace(true);
    }
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

/// hyper's HTTP/1 connection settings: the head must arrive within `head_timeout` and fit in
/// [`MAX_HEAD`] bytes. The fuzz target of request heads uses the same settings.
pub(crate) fn http1_builder(head_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .max_buf_size(MAX_HEAD);
    builder
}

/// Serves one accepted connection until it closes, fails its deadlines, or becomes a WebSocket
/// session (which then goes on in a task of its own).
pub async fn serve_connection(stream: TcpStream, edge: Arc<Edge>, admission: ConnAdmission) {
    let _ = stream.set_nodelay(true);
    let config = &edge.hub.config;
    let io: Io = TokioIo::new(WriteDeadline::new(
        stream,
        config.http_write_timeout,
        edge.hub.metrics.clone(),
    ));
    let builder = http1_builder(config.handshake_timeout);
    let peer = admission.peer;
    let admission = Arc::new(admission);
    let route = {
        let edge = edge.clone();
        move |req: Request<Incoming>| {
            let edge = edge.clone();
            let admission = admission.clone();
            async move { Ok::<_, Infallible>(route::route(&edge, &admission, req).await) }
        }
    };
    let service = tower::ServiceBuilder::new()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |req: &Request<Incoming>| request_span(peer, req))
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                .on_failure(()),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .service_fn(route);
    let mut closing = edge.closing.subscribe();
    let conn = builder
        .serve_connection(io, TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = closing.wait_for(|closing| *closing) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// The request log line's fields: who asked for what (the response adds status and latency).
fn request_span(peer: SocketAddr, req: &Request<Incoming>) -> tracing::Span {
    tracing::info_span!(
        "http",
        %peer,
        method = %req.method(),
        path = %req.uri().path(),
    )
}
