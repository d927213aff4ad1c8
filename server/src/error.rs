//! Error types of the server library.

use shared::ErrorCode;

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

/// Why a client request was refused; becomes an `error` message on the wire.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("you are not in room `{0}`; join it first")]
    NotInRoom(String),
    #[error("no connected user is called `{0}`")]
    UnknownUser(String),
    #[error("too many rooms: at most {0}")]
    TooManyRooms(usize),
    #[error("new rooms are created too fast from your nickname or address; retry in a moment")]
    CreatingTooFast,
    #[error("the message could not be stored; resend it with the same client_id")]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotSignedIn(&'static str),
    #[error("{0}")]
    NotAllowed(String),
    #[error("room `{0}` is invite-only; ask its owner for an invitation")]
    NotInvited(String),
    #[error("you are banned from room `{0}`")]
    Banned(String),
    #[error("you are muted in room `{0}`")]
    Muted(String),
    #[error("no message {0} here (or it was deleted)")]
    NoSuchMessage(u64),
    #[error("room `{0}` exists already")]
    RoomExists(String),
    #[error("guests may not create rooms here; sign in to create `{0}`")]
    GuestsCannotCreateRooms(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}; retry in a moment")]
    Throttled(&'static str),
}

impl RequestError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RequestError::NotInRoom(_) => ErrorCode::NotInRoom,
            RequestError::UnknownUser(_) => ErrorCode::UnknownUser,
            RequestError::TooManyRooms(_) => ErrorCode::TooManyRooms,
            RequestError::CreatingTooFast => ErrorCode::RateLimited,
            RequestError::Store(_) => ErrorCode::StoreUnavailable,
            RequestError::NotSignedIn(_) => ErrorCode::NotSignedIn,
            RequestError::NotAllowed(_) => ErrorCode::NotAllowed,
            RequestError::NotInvited(_) => ErrorCode::NotInvited,
            RequestError::Banned(_) => ErrorCode::Banned,
            RequestError::Muted(_) => ErrorCode::Muted,
            RequestError::NoSuchMessage(_) => ErrorCode::NoSuchMessage,
            RequestError::RoomExists(_) => ErrorCode::RoomExists,
            RequestError::GuestsCannotCreateRooms(_) => ErrorCode::GuestsCannotCreateRooms,
            RequestError::Invalid(_) => ErrorCode::InvalidMessage,
            RequestError::Throttled(_) => ErrorCode::RateLimited,
        }
    }
}
