//! Typed messages on the chat WebSocket (`/chat`), and the demo's `{"sender","msg"}` frame.
//!
//! Every frame is one JSON object tagged by `"type"`. A session starts with the client's `hello`
//! (the protocol version travels there, not in a subprotocol header, so proxies that drop
//! `Sec-WebSocket-Protocol` do not matter) and the server's `welcome`.

use crate::types::{ClientMsgId, MessageText, Nickname, Password, RoomName};
use serde::{Deserialize, Serialize};

/// Version of this protocol; a client sends it in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Server-assigned message id: unique and increasing within a room (or a direct conversation).
pub type MessageId = u64;
/// Server timestamp: milliseconds since the Unix epoch.
pub type Timestamp = i64;

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
    pub text: MessageText,
    pub ts: Timestamp,
    #[serde(default, skip_serializing_if = "is_false")]
    pub guest: bool,
}

/// A direct message between two users. `guest`: the sender had no account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectMessage {
    pub id: MessageId,
    pub from: Nickname,
    pub to: Nickname,
    pub text: MessageText,
    pub ts: Timestamp,
    #[serde(default, skip_serializing_if = "is_false")]
    pub guest: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A room in the `rooms` listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: RoomName,
    pub members: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Joined,
    Left,
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
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<ClientMsgId>,
    },
}

/// Machine-readable error codes of the `error` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON (or not a JSON object).
    BadJson,
    /// The `type` is missing or not one this server knows.
    UnknownType,
    /// A field is missing, has the wrong type, or fails validation.
    InvalidMessage,
    UnsupportedProtocol,
    /// Only `hello` is accepted before `welcome`.
    HelloRequired,
    /// `hello` was already accepted on this connection.
    AlreadyHello,
    NickTaken,
    InvalidNick,
    NotInRoom,
    UnknownUser,
    TooManyRooms,
    RateLimited,
    /// Storage failed; the message was not stored and may be resent with the same `client_id`.
    StoreUnavailable,
    Internal,
    /// Wrong account name or password (the two are not told apart), or a disabled account.
    SignInFailed,
    /// Too many failed sign-ins for this account from this address: wait and retry.
    TooManyAttempts,
    /// The session token is unknown, expired or revoked: sign in again.
    SessionExpired,
    /// The JWT is malformed, expired, not signed with the configured key, or not accepted
    /// here (`alg: none`): get a new one; retrying this one will not help.
    InvalidToken,
    /// Registration is closed, rate-limited for this address, or the account cap is reached.
    RegistrationClosed,
    /// The new password is too short or too long.
    WeakPassword,
    /// This server does not accept guests: sign in.
    GuestsNotAllowed,
    /// The request needs an account (guests cannot change a password).
    NotSignedIn,
}

/// The demo protocol's frame: what a `/ws/<nickname>` user receives. `S` is `&str` where the
/// fields are borrowed for encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoMessage<S = String> {
    pub sender: S,
    pub msg: S,
}

/// A client frame that could not be decoded, classified for the `error` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub code: ErrorCode,
    pub message: String,
}

/// Decodes a client frame, telling bad JSON, unknown types and invalid fields apart.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(msg) => Ok(msg),
        Err(err) => Err(classify(text, err)),
    }
}

const KNOWN_TYPES: &[&str] = &[
    "hello",
    "sign_out",
    "change_password",
    "join",
    "leave",
    "list_rooms",
    "send",
    "direct",
    "typing",
    "history",
];

fn classify(text: &str, err: serde_json::Error) -> DecodeError {
    use serde_json::error::Category;
    if matches!(
        err.classify(),
        Category::Syntax | Category::Eof | Category::Io
    ) {
        return DecodeError {
            code: ErrorCode::BadJson,
            message: format!("not valid JSON: {err}"),
        };
    }
    // Only on the error path: look at the raw object to say what was wrong with it.
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return DecodeError {
                code: ErrorCode::BadJson,
                message: format!("not valid JSON: {e}"),
            }
        }
    };
    let Some(obj) = value.as_object() else {
        return DecodeError {
            code: ErrorCode::BadJson,
            message: "a message must be a JSON object".into(),
        };
    };
    match obj.get("type").and_then(|t| t.as_str()) {
        None => DecodeError {
            code: ErrorCode::UnknownType,
            message: "missing string field `type`".into(),
        },
        Some(t) if !KNOWN_TYPES.contains(&t) => DecodeError {
            code: ErrorCode::UnknownType,
            message: format!("unknown message type `{}`", truncate(t, 40)),
        },
        Some(t) => DecodeError {
            code: ErrorCode::InvalidMessage,
            message: format!("invalid `{t}` message: {err}"),
        },
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_errors() {
        assert_eq!(
            decode_client("{not json").unwrap_err().code,
            ErrorCode::BadJson
        );
        assert_eq!(decode_client("[1,2]").unwrap_err().code, ErrorCode::BadJson);
        assert_eq!(
            decode_client("\"hi\"").unwrap_err().code,
            ErrorCode::BadJson
        );
        assert_eq!(
            decode_client("{}").unwrap_err().code,
            ErrorCode::UnknownType
        );
        assert_eq!(
            decode_client(r#"{"type":"explode"}"#).unwrap_err().code,
            ErrorCode::UnknownType
        );
        assert_eq!(
            decode_client(r#"{"type":"send","room":"general"}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            decode_client(r#"{"type":"join","room":5}"#)
                .unwrap_err()
                .code,
            ErrorCode::InvalidMessage
        );
        let e = decode_client(r#"{"type":"hello","nick":"a b","protocol":1}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMessage);
        assert!(e.message.contains("nickname"), "{}", e.message);
    }

    #[test]
    fn unit_variant_decodes() {
        assert_eq!(
            decode_client(r#"{"type":"list_rooms"}"#),
            Ok(ClientMessage::ListRooms { after: None })
        );
        assert!(matches!(
            decode_client(r#"{"type":"list_rooms","after":"b"}"#),
            Ok(ClientMessage::ListRooms { after: Some(_) })
        ));
    }
}
