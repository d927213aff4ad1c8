//! Typed messages on the chat WebSocket (`/chat`), and the demo's `{"sender","msg"}` frame.
//!
//! Every frame is one JSON object tagged by `"type"`. A session starts with the client's `hello`
//! (the protocol version travels there, not in a subprotocol header, so proxies that drop
//! `Sec-WebSocket-Protocol` do not matter) and the server's `welcome`.

use crate::conversation::{Action, Conversation, ReadState};
use crate::error_code::ErrorCode;
use crate::types::{ClientMsgId, MessageText, Nickname, Password, RoomName};
use crate::wire_enum::wire_enum;
use serde::{Deserialize, Serialize};

/// Version of this protocol; a client sends it in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

pub use crate::types::{MessageId, Timestamp};

/// What a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message of a session. Without `auth`, the client is a guest named `nick`; a
    /// guest's `resume_token` (from an earlier `welcome`) lets it take over its own still-open
    /// session instead of getting `nick_taken`. With `auth`, the client signs in (see [`Auth`]);
    /// `nick` names the account for `password` and `register`, and is not needed otherwise.
    Hello {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nick: Option<Nickname>,
        protocol: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_token: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<Auth>,
    },
    /// Ends this session (`everywhere`: every session of the account) and closes its
    /// connections with 4010.
    SignOut {
        #[serde(default)]
        everywhere: bool,
    },
    /// Changes the account's password. Every other session of the account ends (4010); this
    /// connection gets a new session token in `password_changed`.
    ChangePassword {
        old: Password,
        new: Password,
    },
    /// Join a room (created on first join). With `after`, the history returned is exactly the
    /// messages after that id (resume); without it, the room's most recent messages.
    Join {
        room: RoomName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<MessageId>,
    },
    Leave {
        room: RoomName,
    },
    /// A page of the rooms someone is in, by name: the first, or those named after `after`
    /// (the last name of the previous page).
    ListRooms {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<RoomName>,
    },
    /// Post to a room the client has joined. `client_id` makes the send idempotent.
    Send {
        room: RoomName,
        text: MessageText,
        client_id: ClientMsgId,
    },
    /// A direct message to one connected user.
    Direct {
        to: Nickname,
        text: MessageText,
        client_id: ClientMsgId,
    },
    /// "I am typing in this room"; the server throttles and relays it.
    Typing {
        room: RoomName,
    },
    /// A page of a room's history: older than `before`, or newer than `after`, or the latest.
    History {
        room: RoomName,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<MessageId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<MessageId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// A page of the direct conversation with `with` (signed-in users; as `history`).
    DmHistory {
        with: Nickname,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<MessageId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<MessageId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
    },
    /// Creates a room (public, or invite-only) owned by the sender, and joins it.
    CreateRoom {
        room: RoomName,
        #[serde(default)]
        invite_only: bool,
    },
    /// An owner's or admin's action on a user: in `room`, or server-wide without one (see
    /// [`Action`]). `for_secs` bounds a ban or a mute (none: for good).
    Moderate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        nick: Nickname,
        action: Action,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        for_secs: Option<u64>,
    },
    /// Replaces the text of one's own message `id`; acked like a send, with the edit's own id.
    Edit {
        conv: Conversation,
        id: MessageId,
        text: MessageText,
        client_id: ClientMsgId,
    },
    /// Deletes message `id` (one's own; an owner or admin: any in their room); its text is
    /// erased from the store. Acked like a send, with the deletion's own id.
    Delete {
        conv: Conversation,
        id: MessageId,
        client_id: ClientMsgId,
    },
    /// Marks a conversation read up to `id` (signed-in users); every connection of the user
    /// gets the new state in `read`.
    MarkRead {
        conv: Conversation,
        id: MessageId,
    },
    /// Mutes or unmutes one of the user's conversations (signed-in users): no notifications,
    /// not counted in the title. Kept by the server; every connection of the user gets the
    /// new state in `read`.
    SetMuted {
        conv: Conversation,
        muted: bool,
    },
    /// Asks again for the read state of every conversation the user has (as in `welcome`).
    Conversations {},
}

/// How a client proves who it is in `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// Signs in to the account named by `hello`'s `nick`.
    Password { password: Password },
    /// Creates the account `nick` with this password (at least
    /// [`MIN_PASSWORD_CHARS`](crate::types::MIN_PASSWORD_CHARS) characters) and signs in.
    Register { password: Password },
    /// A session token from an earlier `welcome` (or `password_changed`).
    Session { token: String },
    /// A JSON Web Token from the site this chat serves: `sub` is the user id, `name` the
    /// display name, `exp` is enforced.
    Jwt { token: String },
}

/// A stored room message, as every receiver sees it. `guest`: the sender had no account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub room: RoomName,
    pub sender: Nickname,
    #[serde(default, skip_serializing_if = "MessageText::is_empty")]
    pub text: MessageText,
    pub ts: Timestamp,
    #[serde(default, skip_serializing_if = "is_false")]
    pub guest: bool,
    /// Set on an edit or a deletion: the id of the message it changes (this event has an id
    /// of its own, after it). Clients apply it to the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<MessageId>,
    /// The text was edited: on an edit, and on a message as history returns it now.
    #[serde(default, skip_serializing_if = "is_false")]
    pub edited: bool,
    /// Deleted: on a deletion, and on a deleted message in history (a tombstone); `text` is
    /// then empty (left out).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Users the text mentions as `@name`, by the names they go by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Nickname>,
}

/// A direct message between two users. `guest`: the sender had no account. A direct message
/// to or from a guest is delivered live only and never stored; between two accounts it is
/// stored, and reaches an offline recipient when they next connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectMessage {
    pub id: MessageId,
    pub from: Nickname,
    pub to: Nickname,
    #[serde(default, skip_serializing_if = "MessageText::is_empty")]
    pub text: MessageText,
    pub ts: Timestamp,
    #[serde(default, skip_serializing_if = "is_false")]
    pub guest: bool,
    /// Set on an edit or a deletion: the id of the message it changes (this event has an id
    /// of its own, after it). Clients apply it to the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<MessageId>,
    /// The text was edited: on an edit, and on a message as history returns it now.
    #[serde(default, skip_serializing_if = "is_false")]
    pub edited: bool,
    /// Deleted: on a deletion, and on a deleted message in history (a tombstone); `text` is
    /// then empty (left out).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Users the text mentions as `@name`, by the names they go by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Nickname>,
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// A room in the `rooms` listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: RoomName,
    pub members: u32,
}

wire_enum! {
/// Whether a `presence` frame says a member came or went.
pub enum PresenceState {
    Joined = "joined",
    Left = "left",
}
}

/// Limits the server enforces, told to the client in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub max_message_bytes: u32,
    pub max_text_bytes: u32,
    pub history_page: u32,
    pub rate_per_sec: u32,
    pub rate_burst: u32,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// `nick` is the name the user goes by (an account's as registered); `guest` says it has
    /// no account. `session` is a new session token (after `password` or `register`): keep it and
    /// present it in `auth` next time. A guest keeps its `nick` and `resume_token` instead.
    Welcome {
        nick: Nickname,
        #[serde(default, skip_serializing_if = "is_false")]
        guest: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<String>,
        protocol: u32,
        default_room: RoomName,
        resume_token: String,
        /// Names the server's message history. If it differs from the one a client saw
        /// before, ids started over (an ephemeral store restarted): drop what is held and
        /// rejoin without `after`.
        epoch: String,
        limits: Limits,
        /// The user is one of the server's admins.
        #[serde(default, skip_serializing_if = "is_false")]
        admin: bool,
        /// A signed-in user's rooms and direct conversations with their read state, most
        /// recently active first (at most [`MAX_LISTED`](crate::conversation::MAX_LISTED)).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conversations: Vec<ReadState>,
    },
    /// Answer to `join`: current members and history (recent, or what follows `after`).
    /// `has_more` says older (recent mode) or newer (resume mode) messages remain to page.
    /// Like every page (`history`, `rooms`), it fits a byte budget under the server's
    /// outbound bound, and the server reads nothing more from the client until it is sent.
    Joined {
        room: RoomName,
        members: Vec<Nickname>,
        /// Which of `members` are guests.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        guests: Vec<Nickname>,
        history: Vec<ChatMessage>,
        has_more: bool,
        /// The room is invite-only.
        #[serde(default, skip_serializing_if = "is_false")]
        invite_only: bool,
        /// Its owner (none: the server's admins).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Nickname>,
        /// The joining user is muted here until then ([`FOREVER`](crate::conversation::FOREVER):
        /// for good).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        muted_until: Option<Timestamp>,
        /// A signed-in user's read state in the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read: Option<ReadState>,
    },
    Left {
        room: RoomName,
    },
    /// A page of the room listing: the `after` of the request, echoed (none for the first
    /// page); `has_more`: rooms named after the last one remain.
    Rooms {
        rooms: Vec<RoomInfo>,
        #[serde(default)]
        has_more: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<RoomName>,
    },
    Message(ChatMessage),
    Direct(DirectMessage),
    /// The server stored the message sent with `client_id` under `id`. `duplicate` is true when
    /// the id had been seen before: nothing new was stored or delivered.
    Ack {
        client_id: ClientMsgId,
        id: MessageId,
        ts: Timestamp,
        duplicate: bool,
    },
    Presence {
        room: RoomName,
        nick: Nickname,
        state: PresenceState,
        #[serde(default, skip_serializing_if = "is_false")]
        guest: bool,
    },
    /// The password was changed: this is the connection's new session token; every other
    /// session of the account has ended.
    PasswordChanged {
        session: String,
    },
    Typing {
        room: RoomName,
        nick: Nickname,
        expires_in_ms: u32,
    },
    History {
        room: RoomName,
        messages: Vec<ChatMessage>,
        has_more: bool,
    },
    DmHistory {
        with: Nickname,
        messages: Vec<DirectMessage>,
        has_more: bool,
    },
    /// An owner or admin acted on `nick` (in `room`, or server-wide): sent to the room's
    /// members, the user acted on, and the one who acted. `until`: when a ban or mute ends.
    Moderated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        nick: Nickname,
        action: Action,
        by: Nickname,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until: Option<Timestamp>,
    },
    /// The user's read state in one conversation changed (marked read on one of its
    /// connections, or a new message): every connection of the user gets it.
    Read(ReadState),
    /// The answer to `conversations`.
    Conversations {
        conversations: Vec<ReadState>,
    },
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<ClientMsgId>,
    },
}

/// The demo protocol's frame: what a `/ws/<nickname>` user receives. `S` is `&str` where the
/// fields are borrowed for encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoMessage<S = String> {
    pub sender: S,
    pub msg: S,
}

impl ServerMessage {
    /// Encodes to the JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string, no custom Serialize.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

impl ClientMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

impl<S: Serialize> DemoMessage<S> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}
