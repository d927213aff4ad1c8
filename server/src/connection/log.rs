//! The connection's log: a span per connection, `conn`, with its id, peer address and
//! endpoint, then the user once `hello` (or the demo path) names one and the close code at the
//! end; a line when it opens and one when it closes, both inside the span. Fields are recorded
//! only then, never per message.

use super::Inbound;
use crate::hub::{Conn, Hub};
use crate::protocol::Protocol;
use shared::CloseReason;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tracing::field::{display, Empty};
use tracing::{Instrument, Span};

/// The span of connection `conn` from `peer` on `endpoint` (`chat`, `demo`, `echo`, `poll`).
/// `client` is recorded when it is not the peer (behind a trusted proxy). A root span: the
/// HTTP request that opened the connection ends before it does.
pub fn span(conn: &Conn, peer: SocketAddr, client: IpAddr, endpoint: &'static str) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "conn",
        id = conn.id,
        %peer,
        endpoint,
        client = Empty,
        user = Empty,
        close = Empty,
    );
    if client != peer.ip() {
        span.record("client", display(client));
    }
    span
}

/// [`super::run`] inside `span`, with the open and close lines.
pub fn run<S: Protocol, R: Inbound>(
    ws: R,
    hub: Arc<Hub>,
    conn: Arc<Conn>,
    protocol: S,
    span: Span,
) -> impl Future<Output = ()> + Send {
    async move {
        tracing::info!("open");
        super::run(ws, hub, conn.clone(), protocol).await;
        let code = conn.close_reason().unwrap_or(CloseReason::Normal).code();
        Span::current().record("close", code);
        tracing::info!("closed");
    }
    .instrument(span)
}
