//! `/metrics` on an address of its own (`--metrics-listen`), apart from the public port: the
//! figures there (connections, users, timings) are for the operator's scraper, not for the
//! world. Any other path gets 404. A few scrapers at a time; more are turned away.

use super::{http1_builder, text, Body};
use crate::hub::Hub;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Scrape connections served at once.
const MAX_SCRAPERS: usize = 8;
/// Longest one scrape connection is kept, keep-alive included.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// The content type of the OpenMetrics text format, which Prometheus reads.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves `listener` until the task is dropped.
pub async fn serve_metrics(listener: TcpListener, hub: Arc<Hub>) {
    let slots = Arc::new(Semaphore::new(MAX_SCRAPERS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!(cause = %e, "metrics listener failed to accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let hub = hub.clone();
                async move { Ok::<_, Infallible>(answer(&hub, &req)) }
            });
            let conn = http1_builder(HEAD_TIMEOUT).serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            drop(slot);
        });
    }
}

fn answer(hub: &Hub, req: &Request<Incoming>) -> Response<Body> {
    if req.uri().path() != "/metrics" {
        return text(StatusCode::NOT_FOUND, "only /metrics is served here\n");
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    let mut res = text(StatusCode::OK, hub.metrics.render(hub.users_online()));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    res
}
