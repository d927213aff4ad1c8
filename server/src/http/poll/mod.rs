//! Long polling at `/poll`: the fallback for networks that break WebSocket, speaking the same
//! typed protocol (one JSON message per line of an HTTP body). The requests are described
//! with their headers at `shared::POLL_PATH`. Origin and Host are checked as for the
//! WebSocket upgrade, a session counts against the same connection limits, and the session
//! id travels in a header only, so request logs never hold it.
//!
//! - `session`: [`PollSession`](session::PollSession), one client: its pipe, its inbound
//!   messages, the GET that waits.
//! - `sessions`: [`Sessions`], the table of this node's sessions.

mod session;
mod sessions;

pub use sessions::Sessions;

use super::{origin, text, Body, Edge};
use crate::admission::ConnAdmission;
use crate::broker::relay::{Forwarded, Op, RelayHandler, Reply};
use crate::limits::ip_key;
use crate::metrics::Metrics;
use crate::outbound::Taken;
use async_trait::async_trait;
use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use session::{Opening, PollSession};
use shared::{CloseReason, POLL_ACK, POLL_CLOSE, POLL_SEQ, POLL_SESSION, POLL_WAIT};
use std::sync::Weak;
use std::time::Duration;

/// Longest an ended session stays, for a GET whose answer was lost to fetch its close.
const MAX_LINGER: Duration = Duration::from_secs(30);

/// Time a forwarded request may take beyond the poll wait before it counts as lost.
const RELAY_SLACK: Duration = Duration::from_secs(10);

/// Answers one request of `/poll`.
pub async fn handle(edge: &Edge, conn: &ConnAdmission, req: Request<Incoming>) -> Response<Body> {
    let headers = req.headers();
    if let Some(refused) = origin::refuse(edge, headers) {
        return refused;
    }
    let id = match headers.get(POLL_SESSION).map(HeaderValue::to_str) {
        None => None,
        Some(Ok(id)) => Some(id.to_string()),
        Some(Err(_)) => return text(StatusCode::BAD_REQUEST, "bad chat-session header\n"),
    };
    let method = req.method().clone();
    let (op, refusal) = match (&method, &id) {
        (&Method::POST, None) => return open(edge, conn, req).await,
        (&Method::GET, Some(_)) => match number(req.headers(), POLL_ACK) {
            Some(ack) => {
                let wait_ms = number(req.headers(), POLL_WAIT);
                (Op::Get { ack, wait_ms }, None)
            }
            None => {
                return text(
                    StatusCode::BAD_REQUEST,
                    "chat-ack must be the last sequence received (0 at first)\n",
                )
            }
        },
        (&Method::POST, Some(_)) => match read_body(edge, req).await {
            Ok(body) => match String::from_utf8(body.to_vec()) {
                Ok(body) => (Op::Post { body }, None),
                Err(_) => (Op::NotUtf8, Some(BodyRefusal::NotUtf8)),
            },
            Err(BodyRefusal::TooBig) => (Op::TooBig, Some(BodyRefusal::TooBig)),
            Err(refusal) => return refusal.answer(),
        },
        (&Method::DELETE, Some(_)) => (Op::Delete, None),
        (&Method::GET | &Method::DELETE, None) => {
            return text(
                StatusCode::BAD_REQUEST,
                "missing chat-session header (POST /poll opens a session)\n",
            )
        }
        _ => return not_allowed(),
    };
    let id = id.unwrap_or_default();
    let reply = match edge.polls.get(&id) {
        Some(session) => act(edge, &session, op).await,
        None => forward(edge, id, op).await,
    };
    match refusal {
        Some(refusal) => refusal.answer(),
        None => respond(reply),
    }
}

/// The number in header `name`, if it holds one.
fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// A request for a session this node does not hold: the node holding it answers, when the
/// id names another node of the cluster and that node is up.
async fn forward(edge: &Edge, session: String, op: Op) -> Reply {
    let Some((relay, node)) = &edge.relay else {
        return unknown();
    };
    let Some(owner) = Sessions::owner(&session).filter(|owner| owner != node) else {
        return unknown();
    };
    let within = match op {
        Op::Get { .. } => wait(edge) + RELAY_SLACK,
        _ => RELAY_SLACK,
    };
    let owner = owner.to_string();
    Metrics::inc(&edge.hub.metrics.relay_forwards);
    relay
        .forward(&owner, Forwarded { session, op }, within)
        .await
        .unwrap_or_else(unknown)
}

/// Serves the requests other nodes forward to this one's sessions.
pub struct Relayed(pub Weak<Edge>);

#[async_trait]
impl RelayHandler for Relayed {
    async fn handle(&self, req: Forwarded) -> Reply {
        let Some(edge) = self.0.upgrade() else {
            return unknown();
        };
        match edge.polls.get(&req.session) {
            Some(session) => act(&edge, &session, req.op).await,
            None => unknown(),
        }
    }
}

/// How long a GET is held: `--poll-wait`, under half of the idle timeout.
fn wait(edge: &Edge) -> Duration {
    let config = &edge.hub.config;
    config.poll_wait.min(config.idle_timeout / 2)
}

/// Does what a request asks of a session held here.
async fn act(edge: &Edge, session: &PollSession, op: Op) -> Reply {
    match op {
        Op::Get { ack, wait_ms } => {
            let wait = match wait_ms {
                Some(ms) => wait(edge).min(Duration::from_millis(ms)),
                None => wait(edge),
            };
            let held = Metrics::count(&edge.hub.metrics.poll_gets_held);
            let taken = session.get(ack, wait).await;
            drop(held);
            match taken {
                Ok(taken) => answer(taken),
                Err(_) => plain(
                    StatusCode::BAD_REQUEST,
                    "chat-ack is past the last message sent\n",
                ),
            }
        }
        Op::Post { body } => match session.post(&body).await {
            Ok(()) => plain(StatusCode::NO_CONTENT, ""),
            Err(session::Ended) => Reply {
                close: Some(session.close_code().unwrap_or(1000)),
                ..plain(StatusCode::GONE, "the session has ended\n")
            },
        },
        Op::Delete => close(session, CloseReason::Normal),
        Op::TooBig => close(session, CloseReason::MessageTooBig),
        Op::NotUtf8 => close(session, CloseReason::InvalidPayload),
    }
}

/// Ends a session held here with `reason`.
fn close(session: &PollSession, reason: CloseReason) -> Reply {
    session.conn.close(reason);
    plain(StatusCode::NO_CONTENT, "")
}

fn plain(status: StatusCode, body: &str) -> Reply {
    Reply {
        status: status.as_u16(),
        body: body.to_string(),
        ..Reply::default()
    }
}

/// The HTTP answer of a [`Reply`] (a GET's messages are NDJSON).
fn respond(reply: Reply) -> Response<Body> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut res = text(status, reply.body);
    let h = res.headers_mut();
    if let Some(seq) = reply.seq {
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(HeaderName::from_static(POLL_SEQ), HeaderValue::from(seq));
    }
    if let Some(code) = reply.close {
        h.insert(HeaderName::from_static(POLL_CLOSE), HeaderValue::from(code));
    }
    res
}

/// `POST /poll` without a session: opens one, and takes the messages of its body.
async fn open(edge: &Edge, conn: &ConnAdmission, req: Request<Incoming>) -> Response<Body> {
    let client = edge.gate.client(conn, req.headers());
    let body = match read_body(edge, req).await {
        Ok(body) => body,
        Err(refusal) => return refusal.answer(),
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return text(StatusCode::BAD_REQUEST, "the body is not UTF-8\n");
    };
    let admission = match edge.gate.poll_session(conn, client) {
        Ok(a) => a,
        Err(refused) => {
            let mut res = text(refused.status(), refused.message());
            res.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return res;
        }
    };
    let linger = edge.hub.config.idle_timeout.min(MAX_LINGER);
    let opening = Opening {
        peer: conn.peer,
        client,
    };
    let (id, session) = edge
        .polls
        .open(&edge.hub, admission, ip_key(client), opening, linger);
    let _ = session.post(body).await;
    let mut res = text(StatusCode::CREATED, "");
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(POLL_SESSION), v);
    }
    res
}

/// A GET's answer: the messages, one per line, the last one's number and the close code.
fn answer(taken: Taken) -> Reply {
    let len = taken.messages.iter().map(|m| m.len() + 1).sum();
    let mut body = String::with_capacity(len);
    for m in &taken.messages {
        // Our own JSON: UTF-8 always.
        body.push_str(std::str::from_utf8(m).unwrap_or_default());
        body.push('\n');
    }
    Reply {
        status: 200,
        seq: Some(taken.last),
        close: taken.close,
        body,
    }
}

/// The session is unknown here, or ended long enough ago to be forgotten.
fn unknown() -> Reply {
    Reply {
        close: Some(CloseReason::IdleTimeout.code()),
        ..plain(
            StatusCode::NOT_FOUND,
            "no such session (it ended, or never was)\n",
        )
    }
}

fn not_allowed() -> Response<Body> {
    let mut res = text(StatusCode::METHOD_NOT_ALLOWED, "use GET, POST or DELETE\n");
    res.headers_mut()
        .insert(ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
    res
}

/// Why a body was refused.
enum BodyRefusal {
    TooBig,
    NotUtf8,
    Slow,
    Broken,
}

impl BodyRefusal {
    fn answer(&self) -> Response<Body> {
        match self {
            BodyRefusal::TooBig => text(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is over the message size limit (--max-message-bytes); the session is closed (1009)\n",
            ),
            BodyRefusal::NotUtf8 => text(
                StatusCode::BAD_REQUEST,
                "the body is not UTF-8; the session is closed (1007)\n",
            ),
            BodyRefusal::Slow => text(StatusCode::REQUEST_TIMEOUT, "the body came too slowly\n"),
            BodyRefusal::Broken => text(StatusCode::BAD_REQUEST, "the body could not be read\n"),
        }
    }
}

/// Reads a body of at most `--max-message-bytes`, within the time allowed for a request head.
async fn read_body(edge: &Edge, req: Request<Incoming>) -> Result<Bytes, BodyRefusal> {
    let max = edge.hub.config.max_message_bytes;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyRefusal::TooBig);
    }
    let within: Duration = edge.hub.config.handshake_timeout;
    let body = Limited::new(req.into_body(), max);
    match tokio::time::timeout(within, body.collect()).await {
        Err(_) => Err(BodyRefusal::Slow),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyRefusal::TooBig),
        Ok(Err(_)) => Err(BodyRefusal::Broken),
    }
}
