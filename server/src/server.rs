//! The accept loop: one port for the WebSocket endpoints, `/healthz`, `/metrics` and files.

use crate::cluster::Cluster;
use crate::config::Config;
use crate::connection;
use crate::error::StoreError;
use crate::http::{self, HeadError, Request};
use crate::hub::{Backends, Conn, Hub, Log};
use crate::metrics::Metrics;
use crate::outbound::SocketIo;
use crate::protocol::{DemoProtocol, Protocol, TypedProtocol};
use crate::store;
use shared::{CloseReason, CHAT_PATH, DEMO_PATH_PREFIX};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// Opens the configured store, then serves `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StoreError> {
    let config = Arc::new(config);
    let metrics = Arc::new(Metrics::default());
    let hub = match &config.redis {
        Some(url) => {
            let cluster = Cluster::connect(url, config.retention_per_room).await?;
            tracing::info!(node = %cluster.node, redis = %url, "joined the cluster");
            let backends = Backends {
                history: cluster.clone(),
                log: Log::Shared(cluster.clone()),
                broker: cluster.clone(),
                registry: cluster.clone(),
                presence: cluster,
            };
            Hub::with_backends(config.clone(), backends, metrics)
        }
        None => Hub::new(config.clone(), store::open(&config).await?, metrics),
    };
    serve(listener, hub, shutdown).await;
    Ok(())
}

/// Serves `listener` with `hub` until `shutdown` resolves; then stops accepting, closes every
/// client with 1001, waits for them up to the configured grace, and flushes the store and leaves the cluster.
pub async fn serve(listener: TcpListener, hub: Arc<Hub>, shutdown: impl Future<Output = ()>) {
    let limit = Arc::new(Semaphore::new(hub.config.max_connections));
    // Every connection task holds a clone of `done_tx`; `recv()` ends when all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _addr)) => {
                    Metrics::inc(&hub.metrics.connections_total);
                    let hub = hub.clone();
                    match limit.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let admission = Admission {
                                _permit: permit,
                                _done: done_tx.clone(),
                            };
                            tokio::spawn(handle(stream, hub, admission));
                        }
                        Err(_) => {
                            Metrics::inc(&hub.metrics.connections_rejected_cap);
                            tokio::spawn(reject_full(stream));
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::error!(cause = %e, "failed to accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    tracing::info!(open = hub.open_connections(), "shutting down");
    hub.close_all(CloseReason::GoingAway);
    drop(done_tx);
    if tokio::time::timeout(hub.config.shutdown_grace, done_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            open = hub.open_connections(),
            "shutdown grace over; exiting anyway"
        );
    }
    hub.shutdown().await;
}

async fn reject_full(mut stream: TcpStream) {
    let body = "server is at its connection limit; retry later\n";
    let resp = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(resp.as_bytes())).await;
    let _ = stream.shutdown().await;
}

/// tungstenite's settings: a 1 KiB read buffer (every open connection keeps one; a chat
/// frame fits in it, and a bigger one is read in several calls), no write buffering
/// (tungstenite writes only pongs; deliveries bypass it), and the size limits.
pub fn ws_config(cfg: &Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes))
}

/// A connection's place under the connection limit, held until the connection ends; shutdown
/// waits for every one of them.
struct Admission {
    _permit: OwnedSemaphorePermit,
    _done: mpsc::Sender<()>,
}

/// Serves one accepted connection: a plain HTTP request, or the WebSocket handshake. An
/// upgraded connection goes on in a task of its own, so what it holds for its lifetime is
/// only what the session needs: the handshake's state (request head, HTTP futures) is freed.
async fn handle(mut stream: TcpStream, hub: Arc<Hub>, admission: Admission) {
    let _ = stream.set_nodelay(true);
    if hub.config.socket_unsent_limit > 0 {
        let _ =
            socket2::SockRef::from(&stream).set_tcp_notsent_lowat(hub.config.socket_unsent_limit);
    }
    let req = match http::read_head(&mut stream, hub.config.handshake_timeout).await {
        Ok(r) => r,
        Err(HeadError::Gone) => return,
        Err(HeadError::Bad) => {
            return http::respond_text(&mut stream, "400 Bad Request", "bad request\n").await
        }
        Err(HeadError::TooLarge) => {
            return http::respond_text(
                &mut stream,
                "431 Request Header Fields Too Large",
                "request head too large\n",
            )
            .await
        }
    };
    if req.is_websocket_upgrade() {
        upgrade(stream, req, hub, admission).await;
    } else {
        plain_http(stream, req, hub).await;
    }
}

enum Endpoint {
    Chat,
    Demo(String),
}

fn endpoint(path: &str) -> Option<Endpoint> {
    let path = path.split('?').next().unwrap_or("");
    if path == CHAT_PATH {
        return Some(Endpoint::Chat);
    }
    let nick = path.strip_prefix(DEMO_PATH_PREFIX)?;
    (!nick.is_empty() && !nick.contains('/')).then(|| Endpoint::Demo(nick.to_string()))
}

async fn upgrade(mut stream: TcpStream, req: Request, hub: Arc<Hub>, admission: Admission) {
    let Some(endpoint) = endpoint(&req.path) else {
        return http::respond_text(
            &mut stream,
            "404 Not Found",
            "no WebSocket endpoint here; use /chat or /ws/<nickname>\n",
        )
        .await;
    };
    if req.method != "GET" {
        return http::respond_text(&mut stream, "405 Method Not Allowed", "use GET\n").await;
    }
    if req.header("sec-websocket-version").map(str::trim) != Some("13") {
        let body = b"WebSocket version 13 required\n";
        return http::respond(
            &mut stream,
            "426 Upgrade Required",
            "text/plain",
            &[("Sec-WebSocket-Version", "13")],
            body,
            false,
        )
        .await;
    }
    let Some(key) = req
        .header("sec-websocket-key")
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        return http::respond_text(
            &mut stream,
            "400 Bad Request",
            "missing Sec-WebSocket-Key\n",
        )
        .await;
    };
    if !http::origin_allowed(
        req.header("origin"),
        req.header("host"),
        &hub.config.allowed_origins,
    ) {
        Metrics::inc(&hub.metrics.connections_rejected_origin);
        return http::respond_text(&mut stream, "403 Forbidden", "origin not allowed\n").await;
    }
    if stream
        .write_all(http::upgrade_response(key).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let conn = hub.open_conn(stream);
    let ws = WebSocketStream::from_partially_read(
        SocketIo::new(conn.clone()),
        req.rest,
        Role::Server,
        Some(ws_config(&hub.config)),
    )
    .await;
    match endpoint {
        Endpoint::Chat => {
            let protocol = TypedProtocol::new(hub.clone(), conn.clone());
            spawn_protocol(ws, hub, conn, protocol, admission);
        }
        Endpoint::Demo(nick) => {
            let protocol = DemoProtocol::start(hub.clone(), &conn, &nick).await;
            spawn_protocol(ws, hub, conn, protocol, admission);
        }
    }
}

/// Runs an upgraded connection in a task of its own, holding its `admission` (connection permit) until it ends.
fn spawn_protocol<S: Protocol + 'static>(
    ws: connection::Ws,
    hub: Arc<Hub>,
    conn: Arc<Conn>,
    protocol: S,
    admission: Admission,
) {
    tokio::spawn(async move {
        connection::run(ws, hub, conn, protocol).await;
        drop(admission);
    });
}

async fn plain_http(mut stream: TcpStream, req: Request, hub: Arc<Hub>) {
    Metrics::inc(&hub.metrics.http_requests);
    if req.method != "GET" && req.method != "HEAD" {
        let body = b"method not allowed\n";
        return http::respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            &[("Allow", "GET, HEAD")],
            body,
            false,
        )
        .await;
    }
    let head_only = req.method == "HEAD";
    let path = req.path.split('?').next().unwrap_or("/");
    match path {
        "/healthz" => {
            http::respond(&mut stream, "200 OK", "text/plain", &[], b"ok\n", head_only).await
        }
        "/metrics" => {
            let body = hub.metrics.render();
            http::respond(
                &mut stream,
                "200 OK",
                "text/plain; version=0.0.4",
                &[],
                body.as_bytes(),
                head_only,
            )
            .await
        }
        _ if endpoint(path).is_some() => {
            http::respond_text(
                &mut stream,
                "426 Upgrade Required",
                "this endpoint speaks WebSocket\n",
            )
            .await
        }
        _ => {
            let dir = hub.config.static_dir.clone().unwrap_or_else(|| "dist".into());
            http::serve_static(&mut stream, &dir, &req).await
        }
    }
}
