//! What each request gets: the Host check first, then the WebSocket handshake, `/healthz`
//! (the process answers), `/readyz` (it can store messages), long polling (`/poll`), or a
//! file of the web client. `/metrics` is not here: it has an address of its own
//! (`--metrics-listen`).

use super::{text, upgrade, Body, Edge};
use crate::admission::ConnAdmission;
use crate::metrics::Metrics;
use http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, HOST};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

pub async fn route(edge: &Edge, conn: &ConnAdmission, req: Request<Incoming>) -> Response<Body> {
    // Two Host headers could be read differently by a proxy in front and by this check.
    if req.headers().get_all(HOST).iter().nth(1).is_some() {
        return text(StatusCode::BAD_REQUEST, "more than one Host header\n");
    }
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if !edge.hosts.allows(host) {
        Metrics::inc(&edge.hub.metrics.requests_rejected_host);
        return text(
            StatusCode::FORBIDDEN,
            "this server does not answer to that host name (see --allowed-hosts)\n",
        );
    }
    if upgrade::is_websocket(&req) {
        return upgrade::start(edge, conn, req);
    }
    Metrics::inc(&edge.hub.metrics.http_requests);
    if let Err(refused) = edge.gate.plain_http(conn) {
        let mut res = text(refused.status(), refused.message());
        res.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return res;
    }
    if req.uri().path() == shared::POLL_PATH {
        return super::poll::handle(edge, conn, req).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "use GET or HEAD\n");
        res.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return res;
    }
    match req.uri().path() {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => readiness(edge).await,
        path if upgrade::endpoint(path).is_some() => text(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket\n",
        ),
        _ => {
            edge.assets
                .respond(req.method(), req.uri(), req.headers())
                .await
        }
    }
}

/// `/readyz`: 200 when sends can be stored now, 503 with the reason when they cannot (the
/// store stopped, Redis is unreachable), so a load balancer sends clients elsewhere.
async fn readiness(edge: &Edge) -> Response<Body> {
    let (status, body) = match edge.hub.ready().await {
        Ok(()) => (StatusCode::OK, serde_json::json!({ "ready": true })),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "ready": false, "reason": reason }),
        ),
    };
    let mut res = text(status, format!("{body}\n"));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}
