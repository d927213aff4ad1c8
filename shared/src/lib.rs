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
//! - [`close`]: close reasons with their WebSocket close codes and whether a client should reconnect.

pub mod close;
pub mod conversation;
pub mod decode;
pub mod error_code;
pub mod protocol;
pub mod types;

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
