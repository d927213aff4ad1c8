//! Conversations beyond one connection: which conversation a request is about, a user's read
//! state in each, and the actions of room owners and admins.

use crate::types::{MessageId, Nickname, RoomName, Timestamp};
use crate::wire_enum::wire_enum;
use serde::{Deserialize, Serialize};

/// A room, or the direct conversation with one user: `{"room":"general"}` or `{"dm":"bob"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conversation {
    Room(RoomName),
    Dm(Nickname),
}

/// Most unread messages counted in one conversation: a count of this many means "this many
/// or more".
pub const UNREAD_CAP: u32 = 100;

/// Most conversations listed in `welcome` and `conversations` (the most recently active).
pub const MAX_LISTED: usize = 200;

/// A signed-in user's read state in one conversation, kept by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadState {
    pub conv: Conversation,
    /// The user read everything up to this id.
    pub last_read: MessageId,
    /// Messages from others after `last_read` (at most [`UNREAD_CAP`]).
    pub unread: u32,
    /// Of those, the ones that mention the user.
    #[serde(default)]
    pub mentions: u32,
    /// The first of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_unread: Option<MessageId>,
    /// The user muted this conversation (`set_muted`).
    #[serde(default, skip_serializing_if = "crate::protocol::is_false")]
    pub muted: bool,
}

wire_enum! {
/// What a room's owner or a server admin does to a user (`moderate`).
pub enum Action {
    /// Makes the user a member of an invite-only room.
    Invite = "invite",
    /// Takes the user's membership away (and the user out of the room).
    Remove = "remove",
    /// Hands the room's ownership to the user.
    Transfer = "transfer",
    /// Takes the user out of the room; they may come back.
    Kick = "kick",
    /// Takes the user out of the room and keeps them out, for `for_secs` or for good. Without
    /// a room (admins only): bans a guest name and the address it came from, server-wide.
    Ban = "ban",
    Unban = "unban",
    /// The user may read the room but not post or type in it, for `for_secs` or for good.
    Mute = "mute",
    Unmute = "unmute",
    /// Admins only, without a room: disables the account server-wide (its sessions end).
    Disable = "disable",
}
}

/// "Until" of a sanction meaning "for good".
pub const FOREVER: Timestamp = i64::MAX;
