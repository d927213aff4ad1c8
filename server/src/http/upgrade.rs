//! The WebSocket handshake: the request is checked and answered `101` here; the socket then
//! comes back out of hyper as the `TcpStream` it was, so the fan-out writes straight to it.

use super::{origin, text, Body, Edge, Io};
use crate::admission::{ConnAdmission, SessionAdmission};
use crate::connection;
use crate::hub::{Conn, Hub};
use crate::limits::ip_key;
use crate::metrics;
use crate::protocol::{DemoProtocol, EchoProtocol, Protocol, TypedProtocol};
use futures_util::FutureExt;
use http::header::{
    HeaderValue, CONNECTION, RETRY_AFTER, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use shared::{CHAT_PATH, DEMO_PATH_PREFIX, ECHO_PATH};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tracing::Instrument;

pub enum Endpoint {
    Chat,
    Demo(String),
    Echo,
}

/// The WebSocket endpoint at `path`: `/chat`, `/ws/<nickname>` for the demo protocol, or
/// `/ws` for the seeds' echo.
pub fn endpoint(path: &str) -> Option<Endpoint> {
    if path == CHAT_PATH {
        return Some(Endpoint::Chat);
    }
    if path == ECHO_PATH {
        return Some(Endpoint::Echo);
    }
    let nick = path.strip_prefix(DEMO_PATH_PREFIX)?;
    (!nick.is_empty() && !nick.contains('/')).then(|| Endpoint::Demo(nick.to_string()))
}

impl Endpoint {
    /// What the connection's log and `/metrics` call the endpoint.
    fn kind(&self) -> metrics::Endpoint {
        match self {
            Endpoint::Chat => metrics::Endpoint::Chat,
            Endpoint::Demo(_) => metrics::Endpoint::Demo,
            Endpoint::Echo => metrics::Endpoint::Echo,
        }
    }
}

fn has_token(headers: &HeaderMap, name: http::header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

pub fn is_websocket(req: &Request<Incoming>) -> bool {
    has_token(req.headers(), CONNECTION, "upgrade")
        && has_token(req.headers(), UPGRADE, "websocket")
}

/// Checks a WebSocket handshake and answers it; on `101` the session starts in a task of its
/// own once hyper hands the socket over.
pub fn start(edge: &Edge, conn: &ConnAdmission, mut req: Request<Incoming>) -> Response<Body> {
    let Some(endpoint) = endpoint(req.uri().path()) else {
        return text(
            StatusCode::NOT_FOUND,
            "no WebSocket endpoint here; use /chat, /ws/<nickname> or /ws (echo)\n",
        );
    };
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n");
    }
    let headers = req.headers();
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        != Some("13")
    {
        let mut res = text(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket version 13 required\n",
        );
        res.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return res;
    }
    let Some(key) = headers
        .get(SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().trim_ascii())
        .filter(|k| !k.is_empty())
    else {
        return text(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key\n");
    };
    let accept = derive_accept_key(key);
    if let Some(refused) = origin::refuse(edge, headers) {
        return refused;
    }
    let client = edge.gate.client(conn, headers);
    let admission = match edge.gate.session(conn, client) {
        Ok(a) => a,
        Err(refused) => {
            let mut res = text(refused.status(), refused.message());
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return res;
        }
    };
    let Ok(accept) = HeaderValue::from_str(&accept) else {
        return text(StatusCode::BAD_REQUEST, "bad Sec-WebSocket-Key\n");
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(session(
        on_upgrade,
        edge.hub.clone(),
        endpoint,
        admission,
        (conn.peer, client),
    ));
    let mut res = Response::new(Body::default());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(SEC_WEBSOCKET_ACCEPT, accept);
    res
}

/// tungstenite's settings: a 128-byte read buffer (every open connection keeps one; a
/// frame's payload grows it, and the socket is read in bigger pieces all the same, see
/// `SocketIo`), no write buffering (tungstenite writes only pongs; deliveries bypass it), and
/// the size limits.
pub fn ws_config(cfg: &crate::Config) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(128)
        .write_buffer_size(0)
        .max_message_size(Some(cfg.max_message_bytes))
        .max_frame_size(Some(cfg.max_message_bytes))
}

/// Takes the raw socket back from hyper (with the bytes it read past the request head) and
/// starts the session on it, which holds `admission` until it ends. `who`: the socket's peer
/// and the client (the peer, or the address a trusted proxy named).
async fn session(
    on_upgrade: OnUpgrade,
    hub: Arc<Hub>,
    endpoint: Endpoint,
    admission: SessionAdmission,
    who: (SocketAddr, IpAddr),
) {
    let Ok(upgraded) = on_upgrade.await else {
        return;
    };
    let Ok(hyper::upgrade::Parts { io, read_buf, .. }) = upgraded.downcast::<Io>() else {
        tracing::error!("upgraded connection is not the server's socket type; dropped");
        return;
    };
    // `read_buf` shares hyper's whole read buffer (8 KiB): copy out the few bytes read past
    // the head and free it now, not when the session ends (that doubled idle memory).
    let early = read_buf.to_vec();
    drop(read_buf);
    let stream = io.into_inner().into_inner();
    tune(&stream, &hub);
    let conn = hub.open_conn(stream);
    let kind = endpoint.kind();
    let span = connection::log::span(&conn, who.0, who.1, kind.label());
    let addr = ip_key(who.1);
    let ws = connection::Ws::new(conn.clone(), early, ws_config(&hub.config));
    match endpoint {
        Endpoint::Chat => {
            let protocol = TypedProtocol::new(hub.clone(), conn.clone(), Some(addr));
            spawn_session(ws, hub, conn, protocol, admission, span, kind);
        }
        Endpoint::Demo(nick) => {
            // In the span: the user it registers is recorded there.
            let protocol = DemoProtocol::start(hub.clone(), &conn, &nick, Some(addr))
                .instrument(span.clone())
                .await;
            spawn_session(ws, hub, conn, protocol, admission, span, kind);
        }
        Endpoint::Echo => {
            let protocol = EchoProtocol::new(conn.clone());
            spawn_session(ws, hub, conn, protocol, admission, span, kind);
        }
    }
}

/// Runs the session in a task of its own, sized for its protocol alone: what an idle
/// connection holds is only that (the handshake's task, with its states, ends here).
fn spawn_session<S: Protocol + 'static>(
    ws: connection::Ws,
    hub: Arc<Hub>,
    conn: Arc<Conn>,
    protocol: S,
    admission: SessionAdmission,
    span: tracing::Span,
    endpoint: metrics::Endpoint,
) {
    // Combinators, not an `async` block, for the reason `connection::log::run` gives.
    let open = hub.metrics.open_on(endpoint);
    tokio::spawn(
        connection::log::run(ws, hub, conn, protocol, span).map(move |()| {
            drop(open);
            drop(admission);
        }),
    );
}

/// Past the handshake the kernel may hold only a little unsent data for this socket, so a
/// client that stops reading shows as a full socket (see `--socket-unsent-limit`).
fn tune(stream: &TcpStream, hub: &Hub) {
    if hub.config.socket_unsent_limit > 0 {
        let _ =
            socket2::SockRef::from(stream).set_tcp_notsent_lowat(hub.config.socket_unsent_limit);
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::Metrics;
    use crate::store::MemoryStore;
    use crate::{Config, Hub};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// A masked client text frame (RFC 6455 5.3; the zero mask keeps it readable).
    fn text_frame(payload: &str) -> Vec<u8> {
        let mut f = vec![0x81, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        f.extend_from_slice(payload.as_bytes());
        f
    }

    /// The socket comes back out of hyper as the server's own `TcpStream` (the downcast works),
    /// gets its send-side option, and the bytes the client sent right behind the request head
    /// (read by hyper with it) reach the WebSocket.
    #[tokio::test]
    async fn the_upgraded_socket_is_the_raw_stream_with_its_options_and_early_bytes() {
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            socket_unsent_limit: 12_345,
            store: crate::config::StoreKind::Memory,
            ..Config::default()
        };
        let listener = TcpListener::bind(config.listen).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hub = Hub::new(
            Arc::new(config),
            Arc::new(MemoryStore::new(100)),
            Arc::new(Metrics::default()),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve(listener, hub.clone(), async move {
            let _ = stopped.await;
        }));

        let mut t = TcpStream::connect(addr).await.expect("connect");
        let mut first = format!(
            "GET /chat HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes();
        first.extend(text_frame(
            r#"{"type":"hello","nick":"early","protocol":1}"#,
        ));
        t.write_all(&first)
            .await
            .expect("one write: head and frame");

        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("welcome") {
            let n = tokio::time::timeout(Duration::from_secs(5), t.read(&mut buf))
                .await
                .expect("the hello is answered in time")
                .expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");

        let conns = hub.conns_for_test();
        assert_eq!(conns.len(), 1);
        let sock = socket2::SockRef::from(conns[0].socket());
        assert_eq!(sock.tcp_notsent_lowat().expect("getsockopt"), 12_345);
        assert!(sock.tcp_nodelay().expect("getsockopt"));

        drop(t);
        let _ = stop.send(());
        server
            .await
            .expect("server stops")
            .expect("the store did not fail");
    }
}
