//! Sending a message: resolve the target, check idempotency, then hand it to the log.

use super::idempotency::InflightGuard;
use super::room::Room;
use super::users::Peer;
use super::Hub;
use crate::auth::AccountId;
use crate::broker::Event;
use crate::error::{RequestError, StoreError};
use crate::nick_key::NickKey;
use crate::store::{dm_channel, Meta};
use crate::util::lock;
use crate::util::now_ms;
use async_trait::async_trait;
use shared::{ClientMsgId, MessageId, MessageText, Nickname, RoomName, Timestamp};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
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
        self.begin_publish_meta(from, target, text, client_id, Meta::default())
            .await
    }

    /// `begin_publish` of a message with `meta` (an edit or deletion, or mentions already
    /// found). A room message's mentions are found here.
    pub(super) async fn begin_publish_meta(
        self: &Arc<Self>,
        from: &Peer,
        target: Target,
        text: MessageText,
        client_id: Option<ClientMsgId>,
        mut meta: Meta,
    ) -> Result<Publishing, RequestError> {
        let dest = match target {
            Target::Room(name) => {
                let room = self
                    .existing_room(name.as_str())
                    .ok_or_else(|| RequestError::NotInRoom(name.to_string()))?;
                {
                    let st = lock(&room.state);
                    if !st.members.contains_key(&from.conn.id) {
                        return Err(RequestError::NotInRoom(name.to_string()));
                    }
                    // Deleting one's own message is not posting: a muted user may.
                    if !meta.deleted {
                        Hub::check_muted(&st.sanctions, from, name.as_str())?;
                    }
                }
                if meta.target.is_none() && text.as_str().contains('@') {
                    meta.mentions = self.mentions(&text).await;
                }
                Dest::Room(room, name)
            }
            Target::User(to) => {
                let key = NickKey::of(&to);
                let mut peers = self.user_conns(&to);
                // Addressed as the recipient shows itself ("alice" typed for "Alice" reaches,
                // and names, "Alice"): as connected here, as registered, or as typed for a
                // guest on another node.
                let (to, account) = match peers.first() {
                    Some(p) => (p.nick.clone(), p.account()),
                    None => match self.store_call(self.auth.accounts().by_key(&key).await)? {
                        // An account's connections may be on any node, or none yet.
                        Some(account) => (account.name, Some(account.id)),
                        None if self.store_call(self.registry.online(&key).await)? => (to, None),
                        None => return Err(RequestError::UnknownUser(to.to_string())),
                    },
                };
                let (Some(to_account), Some(from_account)) = (account, from.account()) else {
                    // To or from a guest: delivered live, never stored.
                    return Ok(self.send_live(from, to, text, meta));
                };
                self.remember_dm(from, from_account, &to, to_account)
                    .await?;
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
            meta,
        };
        self.log.begin(self, send).await
    }

    /// A direct message to or from a guest: delivered to both users' connections on every
    /// node, stored nowhere (a later guest of the same name must never read it), with an id
    /// from `live_ids`.
    fn send_live(&self, from: &Peer, to: Nickname, text: MessageText, meta: Meta) -> Publishing {
        let id = self.live_ids.fetch_add(1, Ordering::Relaxed);
        let ts = now_ms();
        self.broker.publish(Event::Message {
            ch: dm_channel(&from.nick, &to),
            s: from.nick.to_string(),
            t: text.to_string(),
            ts,
            to: to.to_string(),
            a: from.account().unwrap_or(0),
            g: meta.target.unwrap_or(0),
            f: meta.flags(),
            m: meta.mentions_text().unwrap_or_default(),
            id,
        });
        Publishing::Done(AckInfo {
            id,
            ts,
            duplicate: false,
        })
    }

    /// A direct conversation between two accounts is among both users' conversations, its
    /// activity now.
    async fn remember_dm(
        &self,
        from: &Peer,
        from_account: AccountId,
        to: &Nickname,
        to_account: AccountId,
    ) -> Result<(), RequestError> {
        let channel = dm_channel(&from.nick, to);
        let now = now_ms();
        for account in [from_account, to_account] {
            self.store_call(self.conversations.add(account, &channel, 0, now).await)?;
        }
        Ok(())
    }
}
