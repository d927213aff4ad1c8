//! The chat wire protocol, shared by the server and the browser client.
//!
//! Everything here compiles for the host and for `wasm32-unknown-unknown`: no I/O, no runtime.
//!
//! Layout:
//! - [`types`]: validated newtypes (nickname, room name, message text, client message id), so the
//!   server and the client enforce the same limits.
//! - [`protocol`]: the typed client and server messages (JSON, tagged by `"type"`), the demo
//!   `{"sender","msg"}` frame of the demo protocol, error codes and decoding with classified errors.
//! - [`conversation`]: conversations by address, read state, owners' and admins' actions.
//! - [`error_code`]: the machine-readable codes of `error`.
//! - `wire_enum`: unit enums written as one string per variant, from one table (no serde derive).
//! - [`close`]: close reasons with their WebSocket close codes and whether a client should reconnect.

pub mod close;
pub mod conversation;
pub mod decode;
pub mod error_code;
pub mod protocol;
pub mod types;
mod wire_enum;

pub use close::CloseReason;
pub use conversation::{Action, Conversation, ReadState, FOREVER, MAX_LISTED, UNREAD_CAP};
pub use decode::{decode_client, DecodeError};
pub use error_code::ErrorCode;
pub use protocol::{
    Auth, ChatMessage, ClientMessage, DemoMessage, DirectMessage, Limits, MessageId, PresenceState,
    RoomInfo, ServerMessage, Timestamp, PROTOCOL_VERSION,
};
pub use types::{ClientMsgId, MessageText, Nickname, Password, RoomName, ValidationError};

/// The room every user starts in, shared with users of the demo endpoint `/ws/<nickname>`.
pub const DEFAULT_ROOM: &str = "general";
/// Path of the typed chat WebSocket.
pub const CHAT_PATH: &str = "/chat";
/// Prefix of the demo-compatible WebSocket: `/ws/<nickname>`.
pub const DEMO_PATH_PREFIX: &str = "/ws/";
/// The seeds' echo WebSocket: each text frame comes straight back to its sender.
pub const ECHO_PATH: &str = "/ws";

/// Long polling, the fallback for networks that break WebSocket: the same JSON messages, one
/// per line (`\n`), in HTTP bodies.
/// - `POST /poll` without [`POLL_SESSION`]: opens a session; `201` with its id in the
///   [`POLL_SESSION`] response header. The body may already hold messages (the `hello`).
/// - `POST /poll` with [`POLL_SESSION`]: the client's messages, one per line; `204` once
///   they are taken. A body over the message size limit closes the session (1009), `413`.
/// - `GET /poll` with [`POLL_SESSION`] and [`POLL_ACK`] (the last sequence received, 0 at
///   first), and optionally [`POLL_WAIT`]: waits up to the server's poll wait (or the
///   client's, if shorter) for messages after it, and answers `200` with
///   them, one per line, and [`POLL_SEQ`], the sequence of the last one. Messages stay until
///   a later GET acks them, so a response lost on the way is sent again. When the session
///   has ended, [`POLL_CLOSE`] holds its close code (as a WebSocket close frame's).
/// - `DELETE /poll` with [`POLL_SESSION`]: ends the session (1000).
/// - An unknown or expired session: `404`, with [`POLL_CLOSE`] `4004`.
pub const POLL_PATH: &str = "/poll";
/// Header carrying a poll session's id (never the URL, so request logs do not hold it).
pub const POLL_SESSION: &str = "chat-session";
/// Request header of a `GET /poll`: the last sequence the client received.
pub const POLL_ACK: &str = "chat-ack";
/// Optional request header of a `GET /poll`: the longest the client wants it held, in
/// milliseconds (0: answer at once, as short polling does); the server's poll wait caps it.
pub const POLL_WAIT: &str = "chat-wait";
/// Response header of a `GET /poll`: the sequence of the last message in the body.
pub const POLL_SEQ: &str = "chat-seq";
/// Response header of a `GET /poll` once the session has ended: its close code.
pub const POLL_CLOSE: &str = "chat-close";
