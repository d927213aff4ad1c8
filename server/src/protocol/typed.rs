//! The typed chat protocol on `/chat`: `hello` first, then rooms, messages, presence, history.

use super::joined::Joined;
use super::{Flow, Protocol};
use crate::error::RequestError;
use crate::hub::{AckInfo, Conn, Hub, Peer, Publishing, Target};
use crate::limits::IpKey;
use crate::metrics::Metrics;
use shared::{
    decode_client, ClientMessage, ClientMsgId, CloseReason, ErrorCode, Nickname, RoomName,
    ServerMessage,
};
use std::sync::Arc;
use tokio::time::Instant;

pub struct TypedProtocol {
    pub(super) hub: Arc<Hub>,
    pub(super) conn: Arc<Conn>,
    pub(super) peer: Option<Peer>,
    /// The SHA-256 of the session token this connection signed in with (boxed: every idle
    /// connection holds this struct).
    pub(super) session: Option<Box<[u8; 32]>>,
    rooms: Joined,
    /// The client's address (as a trusted proxy reports it), charged for rooms it creates.
    pub(super) addr: Option<IpKey>,
}

impl TypedProtocol {
    pub fn new(hub: Arc<Hub>, conn: Arc<Conn>, addr: Option<IpKey>) -> Self {
        TypedProtocol {
            hub,
            conn,
            peer: None,
            session: None,
            rooms: Joined::default(),
            addr,
        }
    }

    pub(super) fn error(
        &self,
        code: ErrorCode,
        message: impl Into<String>,
        client_id: Option<ClientMsgId>,
    ) {
        send_error(&self.hub, &self.conn, code, message.into(), client_id);
    }

    pub(super) fn request_error(&self, e: RequestError, client_id: Option<ClientMsgId>) {
        self.error(e.code(), e.to_string(), client_id);
    }

    /// Before `hello`, a refused frame that is a `hello` with a bad nickname closes with 4002.
    fn invalid_hello(&self, text: &str) -> Option<Flow> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        if v.get("type")?.as_str()? != "hello" {
            return None;
        }
        let nick = v.get("nick").and_then(|n| n.as_str()).unwrap_or("");
        let err = Nickname::new(nick).err()?;
        self.error(ErrorCode::InvalidNick, err.to_string(), None);
        Some(Flow::Close(CloseReason::InvalidNick))
    }

    async fn dispatch(&mut self, peer: Peer, msg: ClientMessage) -> Flow {
        let hub = self.hub.clone();
        match msg {
            ClientMessage::Hello { .. } => {
                self.error(ErrorCode::AlreadyHello, "hello was already accepted", None)
            }
            ClientMessage::SignOut { everywhere } => {
                return Box::pin(self.sign_out(everywhere)).await
            }
            ClientMessage::ChangePassword { old, new } => {
                return Box::pin(self.change_password(old, new)).await
            }
            ClientMessage::Join { room, after } => self.join(&peer, room, after, None).await,
            ClientMessage::Leave { room } => {
                if self.rooms.remove(&room) && hub.leave(&peer, &room) {
                    self.conn.reply(&ServerMessage::Left { room: room.clone() });
                    // Left for good: no longer among the user's rooms.
                    if let Err(e) = hub.forget_room(&peer, &room).await {
                        self.request_error(e, None);
                    }
                } else {
                    self.request_error(RequestError::NotInRoom(room.to_string()), None);
                }
            }
            ClientMessage::ListRooms { after } => {
                match hub.list_rooms(&peer, after.clone()).await {
                    Ok((rooms, has_more)) => {
                        self.conn.reply_page(&ServerMessage::Rooms {
                            rooms,
                            has_more,
                            after,
                        });
                    }
                    Err(e) => self.request_error(e, None),
                }
            }
            ClientMessage::Send {
                room,
                text,
                client_id,
            } => {
                // A message ends the typing burst: the next keystroke is news again.
                if let Some(last) = self.rooms.typing_mut(&room) {
                    *last = None;
                }
                let read = Instant::now();
                let r = hub
                    .begin_publish(&peer, Target::Room(room), text, Some(client_id.clone()))
                    .await;
                return self.ack_when_stored(r, client_id, read);
            }
            ClientMessage::Direct {
                to,
                text,
                client_id,
            } => {
                let read = Instant::now();
                let r = hub
                    .begin_publish(&peer, Target::User(to), text, Some(client_id.clone()))
                    .await;
                return self.ack_when_stored(r, client_id, read);
            }
            ClientMessage::Typing { room } => {
                let interval = hub.config.typing_interval;
                match self.rooms.typing_mut(&room) {
                    None => self.request_error(RequestError::NotInRoom(room.to_string()), None),
                    Some(last) if last.is_some_and(|t| t.elapsed() < interval) => {}
                    Some(last) => {
                        *last = Some(Instant::now());
                        if let Err(e) = hub.typing(&peer, &room) {
                            self.request_error(e, None);
                        }
                    }
                }
            }
            ClientMessage::History {
                room,
                before,
                after,
                limit,
            } => match hub.history(&peer, &room, before, after, limit).await {
                Ok((messages, has_more)) => {
                    self.conn.reply_page(&ServerMessage::History {
                        room,
                        messages,
                        has_more,
                    });
                }
                Err(e) => self.request_error(e, None),
            },
            other => return Box::pin(self.conversation_request(peer, other)).await,
        }
        Flow::Continue
    }

    /// Joins (or with `create`, makes and joins) a room, within the rooms a connection may
    /// be in.
    pub(super) async fn join(
        &mut self,
        peer: &Peer,
        room: RoomName,
        after: Option<shared::MessageId>,
        create: Option<bool>,
    ) {
        let max = self.hub.config.max_rooms_per_connection;
        if !self.rooms.contains(&room) && self.rooms.len() >= max {
            self.request_error(RequestError::TooManyRooms(max), None);
            return;
        }
        // Boxed: joining awaits the backend many times, once; the connection's task stays small.
        let joined = Box::pin(self.hub.join(peer, &room, after, self.addr, create)).await;
        match joined {
            Ok(()) => {
                self.rooms.insert(room);
            }
            Err(e) => self.request_error(e, None),
        }
    }

    /// Acks a send (read at `read`) now, or once the store has it (reading goes on
    /// meanwhile).
    pub(super) fn ack_when_stored(
        &self,
        r: Result<Publishing, RequestError>,
        client_id: ClientMsgId,
        read: Instant,
    ) -> Flow {
        match r {
            Ok(Publishing::Storing(rest)) => {
                let (hub, conn) = (self.hub.clone(), self.conn.clone());
                Flow::Pending(Box::pin(async move {
                    ack(&hub, &conn, rest.await, client_id, read);
                }))
            }
            Ok(Publishing::Done(a)) => {
                ack(&self.hub, &self.conn, Ok(a), client_id, read);
                Flow::Continue
            }
            Err(e) => {
                ack(&self.hub, &self.conn, Err(e), client_id, read);
                Flow::Continue
            }
        }
    }
}

fn send_error(
    hub: &Hub,
    conn: &Arc<Conn>,
    code: ErrorCode,
    message: String,
    client_id: Option<ClientMsgId>,
) {
    Metrics::inc(&hub.metrics.errors_sent);
    conn.reply(&ServerMessage::Error {
        code,
        message,
        client_id,
    });
}

/// Acks a send read at `read` (the time to this point goes to `chat_ack_latency_seconds`), or
/// says why it failed.
fn ack(
    hub: &Hub,
    conn: &Arc<Conn>,
    r: Result<AckInfo, RequestError>,
    client_id: ClientMsgId,
    read: Instant,
) {
    match r {
        Ok(a) => {
            crate::metrics::observe(&hub.metrics.timings.ack_latency, read.elapsed());
            conn.reply(&ServerMessage::Ack {
                client_id,
                id: a.id,
                ts: a.ts,
                duplicate: a.duplicate,
            });
        }
        Err(e) => send_error(hub, conn, e.code(), e.to_string(), Some(client_id)),
    }
}

impl Protocol for TypedProtocol {
    async fn on_text(&mut self, text: &str) -> Flow {
        let msg = match decode_client(text) {
            Ok(m) => m,
            Err(e) => {
                if self.peer.is_none() {
                    if let Some(flow) = self.invalid_hello(text) {
                        return flow;
                    }
                }
                self.error(e.code, e.message, None);
                return Flow::Continue;
            }
        };
        match (self.peer.clone(), msg) {
            (
                None,
                ClientMessage::Hello {
                    nick,
                    protocol,
                    resume_token,
                    auth,
                },
                // Boxed: signing in awaits a lot once, and would otherwise make every connection's
                // task as big as its state.
            ) => Box::pin(self.hello(nick, protocol, resume_token, auth)).await,
            (None, _) => {
                self.error(ErrorCode::HelloRequired, "send hello first", None);
                Flow::Continue
            }
            (Some(peer), msg) => self.dispatch(peer, msg).await,
        }
    }

    fn started(&self) -> bool {
        self.peer.is_some()
    }

    fn on_rate_limited(&mut self) {
        self.error(ErrorCode::RateLimited, "too many messages; slow down", None);
    }

    fn end(&mut self) {
        if let Some(peer) = self.peer.take() {
            for room in self.rooms.names() {
                self.hub.leave(&peer, room);
            }
            self.hub.unregister(&peer);
        }
    }
}
