//! The connection's log: a span per connection, `conn`, with its id, peer address and
//! endpoint, then the user once `hello` (or the demo path) names one and the close code at the
//! end; a line when it opens and one when it closes, both inside the span. Fields are recorded
//! only then, never per message.

use super::Inbound;
use crate::hub::{Conn, Hub};
use crate::protocol::Protocol;
use futures_util::FutureExt;
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

/// [`super::run`] inside `span`, with the open and close lines. Built from combinators, not
/// an `async` block: a block would hold the socket and the protocol twice (once as its
/// captures, once inside the awaited future), and an idle connection is mostly this task.
pub fn run<S: Protocol, R: Inbound>(
    ws: R,
    hub: Arc<Hub>,
    conn: Arc<Conn>,
    protocol: S,
    span: Span,
) -> impl Future<Output = ()> + Send {
    span.in_scope(|| tracing::info!("open"));
    let closing = conn.clone();
    super::run(ws, hub, conn, protocol)
        .map(move |()| {
            let code = closing.close_reason().unwrap_or(CloseReason::Normal).code();
            Span::current().record("close", code);
            tracing::info!("closed");
        })
        .instrument(span)
}
