//! The machine-readable codes of the `error` message.

use serde::{Deserialize, Serialize};

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
    /// The request needs an account (guests cannot change a password, edit, or keep read
    /// state).
    NotSignedIn,
    /// Only the room's owner, a server admin, or the message's author may do this.
    NotAllowed,
    /// The room is invite-only and the user is not a member.
    NotInvited,
    /// The user is banned from the room (or, closing with 4013, from the server).
    Banned,
    /// The user is muted in the room: it may read but not post or type.
    Muted,
    /// No such message in that conversation (or it was deleted, or is itself an edit).
    NoSuchMessage,
    /// A room of that name exists already.
    RoomExists,
    /// Guests may not create rooms on this server (`--guests-create-rooms`).
    GuestsCannotCreateRooms,
}
