//! The machine-readable codes of the `error` message.

use crate::wire_enum::wire_enum;

wire_enum! {
/// Machine-readable error codes of the `error` message.
pub enum ErrorCode {
    /// The frame is not JSON (or not a JSON object).
    BadJson = "bad_json",
    /// The `type` is missing or not one this server knows.
    UnknownType = "unknown_type",
    /// A field is missing, has the wrong type, or fails validation.
    InvalidMessage = "invalid_message",
    UnsupportedProtocol = "unsupported_protocol",
    /// Only `hello` is accepted before `welcome`.
    HelloRequired = "hello_required",
    /// `hello` was already accepted on this connection.
    AlreadyHello = "already_hello",
    NickTaken = "nick_taken",
    InvalidNick = "invalid_nick",
    NotInRoom = "not_in_room",
    UnknownUser = "unknown_user",
    TooManyRooms = "too_many_rooms",
    RateLimited = "rate_limited",
    /// Storage failed; the message was not stored and may be resent with the same `client_id`.
    StoreUnavailable = "store_unavailable",
    Internal = "internal",
    /// Wrong account name or password (the two are not told apart), or a disabled account.
    SignInFailed = "sign_in_failed",
    /// Too many failed sign-ins for this account from this address: wait and retry.
    TooManyAttempts = "too_many_attempts",
    /// The session token is unknown, expired or revoked: sign in again.
    SessionExpired = "session_expired",
    /// The JWT is malformed, expired, not signed with the configured key, or not accepted
    /// here (`alg: none`): get a new one; retrying this one will not help.
    InvalidToken = "invalid_token",
    /// Registration is closed, rate-limited for this address, or the account cap is reached.
    RegistrationClosed = "registration_closed",
    /// The new password is too short or too long.
    WeakPassword = "weak_password",
    /// This server does not accept guests: sign in.
    GuestsNotAllowed = "guests_not_allowed",
    /// The request needs an account (guests cannot change a password, edit, or keep read
    /// state).
    NotSignedIn = "not_signed_in",
    /// Only the room's owner, a server admin, or the message's author may do this.
    NotAllowed = "not_allowed",
    /// The room is invite-only and the user is not a member.
    NotInvited = "not_invited",
    /// The user is banned from the room (or, closing with 4013, from the server).
    Banned = "banned",
    /// The user is muted in the room: it may read but not post or type.
    Muted = "muted",
    /// No such message in that conversation (or it was deleted, or is itself an edit).
    NoSuchMessage = "no_such_message",
    /// A room of that name exists already.
    RoomExists = "room_exists",
    /// Guests may not create rooms on this server (`--guests-create-rooms`).
    GuestsCannotCreateRooms = "guests_cannot_create_rooms",
}
}
