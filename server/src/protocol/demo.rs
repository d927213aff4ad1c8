//! The demo's protocol on `/ws/<nickname>`: the client sends plain text, every other user of
//! the default room receives `{"sender": <nickname>, "msg": <text>}`. Demo users share the
//! default room with typed clients; they receive room messages and direct messages only.
//!
//! The demo protocol has no error frame: text the typed protocol would refuse (blank, over the
//! size limit, control characters) is dropped and logged, and a flood is closed with 1008.

use super::{Flow, Protocol};
use crate::config::Guests;
use crate::error::RequestError;
use crate::hub::{Conn, Hub, Peer, Publishing, RegisterError, Target};
use crate::limits::IpKey;
use shared::{CloseReason, MessageText, Nickname, RoomName};
use std::sync::Arc;

/// A demo user's session: always in the default room, which is not stored here (an idle
/// connection holds this struct; the name is made when a message needs it).
pub struct DemoProtocol {
    hub: Arc<Hub>,
    peer: Option<Peer>,
}

/// Decodes `%XX` escapes of a path segment; `None` for a malformed escape or invalid UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl DemoProtocol {
    /// Registers the user, a guest, and joins the default room. On a bad or taken nickname
    /// (a registered one included) the connection is asked to close (4002, 4001), and with
    /// `--guests deny` at once (4011); the session then holds nobody.
    pub async fn start(
        hub: Arc<Hub>,
        conn: &Arc<Conn>,
        raw_nick: &str,
        addr: Option<IpKey>,
    ) -> Self {
        let room = RoomName::default_room();
        let mut session = DemoProtocol {
            hub: hub.clone(),
            peer: None,
        };
        if hub.config.guests == Guests::Deny {
            conn.close(CloseReason::GuestsNotAllowed);
            return session;
        }
        let Some(nick) = percent_decode(raw_nick).and_then(|n| Nickname::new(n).ok()) else {
            conn.close(CloseReason::InvalidNick);
            return session;
        };
        let peer = match hub.register(conn, nick, true, None, addr).await {
            Ok((peer, _token)) => {
                // The connection's span (`connection::log`) names its user from here on.
                tracing::Span::current().record("user", peer.nick.as_str());
                peer
            }
            Err(RegisterError::NickTaken | RegisterError::Registered) => {
                conn.close(CloseReason::NickTaken);
                return session;
            }
            Err(RegisterError::InvalidNick) => {
                conn.close(CloseReason::InvalidNick);
                return session;
            }
            Err(RegisterError::Unavailable) => {
                conn.close(CloseReason::TryAgainLater);
                return session;
            }
            Err(RegisterError::Banned) => {
                conn.close(CloseReason::Banned);
                return session;
            }
        };
        session.peer = Some(peer.clone());
        match hub.join(&peer, &room, None, addr, None).await {
            Ok(()) => {}
            // Banned from the default room: the demo has no other.
            Err(RequestError::Banned(_)) => conn.close(CloseReason::Banned),
            Err(e) => {
                tracing::warn!(cause = %e, "demo user could not join the default room");
                conn.close(CloseReason::TryAgainLater);
            }
        }
        session
    }
}

impl Protocol for DemoProtocol {
    async fn on_text(&mut self, text: &str) -> Flow {
        let Some(peer) = self.peer.clone() else {
            return Flow::Close(CloseReason::InternalError);
        };
        let text = match MessageText::new(text) {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(nick = %peer.nick, cause = %e, "dropped demo-protocol message");
                return Flow::Continue;
            }
        };
        let nick = peer.nick.clone();
        let warn = move |e: RequestError| {
            tracing::warn!(nick = %nick, cause = %e, "demo-protocol message not delivered");
        };
        match self
            .hub
            .begin_publish(&peer, Target::Room(RoomName::default_room()), text, None)
            .await
        {
            Ok(Publishing::Done(_)) => Flow::Continue,
            // Reading goes on while the store takes this one: a sender's messages share commits.
            Ok(Publishing::Storing(rest)) => Flow::Pending(Box::pin(async move {
                if let Err(e) = rest.await {
                    warn(e);
                }
            })),
            Err(e) => {
                warn(e);
                Flow::Continue
            }
        }
    }

    fn started(&self) -> bool {
        true
    }

    fn on_rate_limited(&mut self) {}

    fn end(&mut self) {
        if let Some(peer) = self.peer.take() {
            self.hub.leave(&peer, &RoomName::default_room());
            self.hub.unregister(&peer);
        }
    }
}
