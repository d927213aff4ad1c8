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
}

impl RequestError {
    pub fn code(&self) -> ErrorCode {
        match self {
            RequestError::NotInRoom(_) => ErrorCode::NotInRoom,
            RequestError::UnknownUser(_) => ErrorCode::UnknownUser,
            RequestError::TooManyRooms(_) => ErrorCode::TooManyRooms,
            RequestError::CreatingTooFast => ErrorCode::RateLimited,
            RequestError::Store(_) => ErrorCode::StoreUnavailable,
        }
    }
}
