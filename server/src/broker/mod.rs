//! The seams between the hub and the other nodes of a cluster: events every node's hub
//! handles ([`Broker`]), who holds a nickname ([`Registry`]), who is in a room ([`Presence`]),
//! and a message log shared by the nodes ([`SharedLog`]). `memory.rs` implements the first
//! three for a node on its own; `crate::cluster` implements all four on Redis, and the
//! [`relay::Relay`] of long-polling requests between nodes. The hub holds
//! these traits and never asks which implementation it has.

pub mod memory;
pub mod relay;

use crate::error::StoreError;
use crate::nick_key::NickKey;
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use shared::{ClientMsgId, MessageId, MessageText, Nickname, RoomInfo, RoomName, Timestamp};
use std::sync::Arc;

/// An event published to every node's hub, the publishing node's included.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "k")]
pub enum Event {
    /// A message of the shared log (`to` is set for direct messages).
    #[serde(rename = "m")]
    Message {
        ch: String,
        s: String,
        t: String,
        ts: Timestamp,
        #[serde(default)]
        to: String,
        /// The sender's account (0: a guest). Before `id`, which the log appends last.
        #[serde(default)]
        a: u64,
        /// The message an edit or deletion is about (0: none).
        #[serde(default, skip_serializing_if = "is_zero")]
        g: MessageId,
        /// `Meta::flags`: bit 0 edited, bit 1 deleted.
        #[serde(default, skip_serializing_if = "is_zero_i64")]
        f: i64,
        /// `Meta::mentions_text`, or empty.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        m: String,
        id: MessageId,
    },
    #[serde(rename = "p")]
    Presence {
        room: String,
        nick: String,
        joined: bool,
        /// The user is a guest.
        #[serde(default)]
        g: bool,
    },
    #[serde(rename = "y")]
    Typing { room: String, nick: String },
    /// The user's session was resumed on another node: `node` must close its copy.
    #[serde(rename = "kick")]
    Kick { nick: String, node: String },
    /// Sessions of account `a` ended: `s` is one session's hash in hex, or empty for all of
    /// them; `keep`, if set, is a session spared (the one a password change just gave). Every
    /// node closes the matching connections (4010).
    #[serde(rename = "revoke")]
    Revoke {
        a: u64,
        #[serde(default)]
        s: String,
        #[serde(default)]
        keep: String,
    },
    /// A frame for every connection of the user `n` (on whichever nodes they are).
    #[serde(rename = "u")]
    ToUser { n: String, j: String },
    /// An owner or admin acted on user `nick` (see `Hub::moderate`): every node tells the
    /// room's members, the user and the actor, and takes the user out of the room or
    /// reloads its sanctions as `action` requires. `subj` is the sanction subject; `room`
    /// is empty for a server-wide action.
    #[serde(rename = "mod")]
    Moderated {
        room: String,
        nick: String,
        subj: String,
        action: String,
        by: String,
        #[serde(default)]
        until: i64,
    },
    /// A node's heartbeat on the bus: the node that published it learns from its echo that
    /// its subscription still carries events. The broker consumes it; no hub sees it.
    #[serde(rename = "beat")]
    Beat { node: String },
}

/// Where a broker's events go (the hub).
pub trait EventHandler: Send + Sync {
    fn on_event(&self, ev: Event);
    /// The subscription was down, or this node looked dead to the others: events may have
    /// been missed and this node's users and memberships removed. Write them again and catch
    /// up from history; an error leaves that to the next attempt.
    fn on_reconnect(&self) -> BoxFuture<'static, Result<(), StoreError>>;
}

/// Carries events to every node's hub.
pub trait Broker: Send + Sync {
    /// This node's id, as events name it.
    fn node(&self) -> &str;
    /// Starts handing events to `handler`.
    fn subscribe(&self, handler: Arc<dyn EventHandler>);
    /// Publishes `ev` to every node, this one included, in the order of the calls. Never
    /// blocks; a failure is logged.
    fn publish(&self, ev: Event);
    /// Stops delivering and leaves the other nodes (shutdown).
    fn close(&self) -> BoxFuture<'static, ()>;
    /// Forwarding of long-polling requests to the node holding their session; `None` for a
    /// node on its own.
    fn relay(&self) -> Option<Arc<dyn relay::Relay>> {
        None
    }
}

/// Outcome of a nickname claim.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    Taken,
    New,
    /// The resume token matched: the user's session moves here, under the new `token` (a
    /// resume token is good for one resume).
    TakenOver {
        token: String,
    },
}

/// Who holds a nickname on the other nodes (this node's own users are the hub's).
#[async_trait]
pub trait Registry: Send + Sync {
    /// Claims `key` (the key of `nick`, which names the user to other nodes) for this node
    /// with `token`, or takes it over (then holding `token`) with the `resume` token of the session that holds it on
    /// another node (which is told to close it).
    async fn claim(
        &self,
        key: &NickKey,
        nick: &Nickname,
        token: &str,
        resume: Option<&str>,
    ) -> Result<Claim, StoreError>;
    /// Releases a nickname this node holds.
    fn release(&self, key: &NickKey);
    /// Whether a nickname with `key` is held by a live node (this one included where the
    /// backend records it; the hub asks only after its own users).
    async fn online(&self, key: &NickKey) -> Result<bool, StoreError>;
    /// Writes this node's claims (key and resume token) again, after an outage in which the
    /// other nodes may have seen this one dead and removed them. Returns the keys another node
    /// claimed meanwhile (the newer claim wins): their sessions here must end.
    async fn reassert(&self, users: Vec<(NickKey, String)>) -> Result<Vec<NickKey>, StoreError>;
}

/// Who is in which room, across nodes. The update of `join` and `leave` takes effect when
/// called, in the order of the calls on this node (the returned future only reports it), so
/// a quick leave and join of one user cannot swap.
pub trait Presence: Send + Sync {
    /// Records `nick` in `room`. `Some(members)`: it was not there before.
    fn join(&self, room: &RoomName, nick: &Nickname) -> BoxFuture<'static, Change>;
    /// Removes `nick` from `room` (its last connection on this node left). `Some(members)`:
    /// it was there.
    fn leave(&self, room: &RoomName, nick: &Nickname) -> BoxFuture<'static, Change>;
    /// The first `limit` members of `room`, by name.
    fn members(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Nickname>, StoreError>>;
    /// Rooms someone is in, by name, with their member counts: at most `limit` of those named
    /// after `after`, and whether more follow.
    fn rooms(
        &self,
        after: Option<RoomName>,
        limit: usize,
    ) -> BoxFuture<'static, Result<(Vec<RoomInfo>, bool), StoreError>>;
    /// Records this node's memberships again after an outage (see [`Registry::reassert`]),
    /// leaving any another node holds. Returns those that were missing, each with its room's
    /// member count after it.
    fn reassert(&self, memberships: Vec<(RoomName, Nickname)>) -> BoxFuture<'static, Restored>;
}

/// Memberships [`Presence::reassert`] found missing and wrote again, with their room's size.
pub type Restored = Result<Vec<(RoomName, Nickname, usize)>, StoreError>;

/// What a presence change did: `Some(members after it)` when it changed anything.
pub type Change = Result<Option<usize>, StoreError>;

/// A message for the shared log.
pub struct Outgoing<'a> {
    pub channel: &'a str,
    pub sender: &'a Nickname,
    pub text: &'a MessageText,
    pub ts: Timestamp,
    pub client_id: Option<&'a ClientMsgId>,
    /// The recipient of a direct message.
    pub to: Option<&'a Nickname>,
    /// The sender's account; `None`: a guest.
    pub author: Option<u64>,
    /// An edit's or deletion's target, and the mentions.
    pub meta: &'a crate::store::Meta,
}

/// What appending to the shared log did.
#[derive(Debug)]
pub enum Published {
    /// Stored and published to every node under this id.
    Stored(MessageId),
    /// The sender's client id was already stored: nothing new.
    Duplicate(crate::store::StoredAck),
}

/// A message log several nodes share: it assigns each channel's ids, keeps the message and
/// publishes it as an [`Event::Message`] to every node, in id order.
#[async_trait]
pub trait SharedLog: Send + Sync {
    async fn append(&self, msg: Outgoing<'_>) -> Result<Published, StoreError>;
    /// Whether appends can succeed now (`/readyz`); the error says why not.
    async fn ready(&self) -> Result<(), String>;
    /// Resolves, with why, once the backend no longer holds the history this node works
    /// from: the server then closes its clients and exits, to start over on the new one.
    async fn lost(&self) -> String;
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
