//! Sending a message: resolve the target, check idempotency, then hand it to the log.

use super::idempotency::InflightGuard;
use super::room::Room;
use super::users::Peer;
use super::Hub;
use crate::error::{RequestError, StoreError};
use crate::nick_key::NickKey;
use crate::store::Meta;
use crate::util::lock;
use async_trait::async_trait;
use shared::{ClientMsgId, MessageId, MessageText, Nickname, RoomName, Timestamp};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a successful send returns to its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckInfo {
    pub id: MessageId,
    pub ts: Timestamp,
    pub duplicate: bool,
}

/// A send under way: done already, or waiting for the store (see `Hub::begin_publish`).
pub enum Publishing {
    Done(AckInfo),
    Storing(Pin<Box<dyn Future<Output = Result<AckInfo, RequestError>> + Send>>),
}

pub enum Target {
    Room(RoomName),
    User(Nickname),
}

/// A resolved target.
pub(super) enum Dest {
    /// A room the sender is in.
    Room(Arc<Room>, RoomName),
    /// A user online on some node, and the connections of this node that get the copies.
    User(Nickname, Vec<Peer>),
}

/// A send, resolved and made the only one of its client id in flight.
pub(super) struct Outbound<'a> {
    pub from: &'a Peer,
    pub dest: Dest,
    pub text: MessageText,
    pub client_id: Option<ClientMsgId>,
    pub guard: Option<InflightGuard>,
    /// An edit's or deletion's target, and the mentions.
    pub meta: Meta,
}

/// Where a message gets its id and is kept: `LocalLog` (this node) or `SharedLogRef`.
#[async_trait]
pub(super) trait MessageLog: Send + Sync {
    /// Assigns the id and hands the message on; the rest (stored, delivered, acked) may come
    /// back as a future.
    async fn begin(&self, hub: &Arc<Hub>, send: Outbound<'_>) -> Result<Publishing, RequestError>;
    /// Makes everything appended durable (shutdown).
    async fn flush(&self) -> Result<(), StoreError>;
    /// Whether sends can be stored now; the error says why not.
    async fn ready(&self) -> Result<(), String>;
    /// Resolves, with the reason, once nothing can be stored again (see `Journal::failed`).
    async fn failed(&self) -> String;
}

impl Hub {
    /// Sends a message and waits until it is stored (and delivered, in order).
    pub async fn publish(
        self: &Arc<Self>,
        from: &Peer,
        target: Target,
        text: MessageText,
        client_id: Option<ClientMsgId>,
    ) -> Result<AckInfo, RequestError> {
        match self.begin_publish(from, target, text, client_id).await? {
            Publishing::Done(ack) => Ok(ack),
            Publishing::Storing(rest) => rest.await,
        }
    }

    /// Sends a message: resolves the target (membership, or a user online on some node),
    /// makes it the only send of its client id in flight, and hands it to the message log.
    /// With a `client_id`, a resend of an id already stored (or being stored right now by an
    /// earlier connection) returns the original ack and stores and delivers nothing.
    pub async fn begin_publish(
        self: &Arc<Self>,
        from: &Peer,
        target: Target,
        text: MessageText,
        client_id: Option<ClientMsgId>,
    ) -> Result<Publishing, RequestError> {
        let dest = match target {
            Target::Room(name) => {
                let room = self
                    .existing_room(name.as_str())
                    .filter(|r| lock(&r.state).members.contains_key(&from.conn.id))
                    .ok_or_else(|| RequestError::NotInRoom(name.to_string()))?;
                Dest::Room(room, name)
            }
            Target::User(to) => {
                let key = NickKey::of(&to);
                let mut peers = self.user_conns(&to);
                // Addressed as the recipient shows itself ("alice" typed for "Alice" reaches,
                // and names, "Alice"): as connected here, as registered, or as typed for a
                // guest on another node.
                let to = match peers.first() {
                    Some(p) => p.nick.clone(),
                    None => match self.store_call(self.auth.accounts().by_key(&key).await)? {
                        // An account's connections may be on any node, or none yet.
                        Some(account) => account.name,
                        None if self.store_call(self.registry.online(&key).await)? => to,
                        None => return Err(RequestError::UnknownUser(to.to_string())),
                    },
                };
                // The sender's connections see what they sent, every one of them.
                if key != NickKey::of(&from.nick) {
                    peers.extend(self.user_conns(&from.nick));
                }
                Dest::User(to, peers)
            }
        };
        let guard = match &client_id {
            Some(cid) => match self.begin_idempotent(&from.nick, from.account(), cid).await {
                Ok(guard) => Some(guard),
                Err(ack) => return Ok(Publishing::Done(ack)),
            },
            None => None,
        };
        let send = Outbound {
            from,
            dest,
            text,
            client_id,
            guard,
            meta: Meta::default(),
        };
        self.log.begin(self, send).await
    }
}
