//! Validated newtypes. Construction is the only way in, so a value of these types is always valid;
//! deserialization goes through the same checks.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest nickname, in characters.
/// Server-assigned message id: unique and increasing within a room (or a direct conversation).
pub type MessageId = u64;
/// Server timestamp: milliseconds since the Unix epoch.
pub type Timestamp = i64;

pub const MAX_NICK_CHARS: usize = 32;
/// Longest room name, in characters.
pub const MAX_ROOM_CHARS: usize = 48;
/// Largest message text, in UTF-8 bytes.
pub const MAX_TEXT_BYTES: usize = 4000;
/// Shortest password an account may be given, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password, in UTF-8 bytes (a bound on what a peer makes the server hash).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest client-generated message id, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 64;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("nickname must be 1 to {MAX_NICK_CHARS} characters")]
    NickLength,
    #[error("nickname may contain only letters, digits, '_', '-' and '.'")]
    NickChars,
    #[error("room name must be 1 to {MAX_ROOM_CHARS} characters")]
    RoomLength,
    #[error("room name may contain only letters, digits, '_', '-' and '.'")]
    RoomChars,
    #[error("message text must not be empty")]
    TextEmpty,
    #[error("message text must be at most {MAX_TEXT_BYTES} bytes")]
    TextTooLong,
    #[error("message text must not contain control characters other than newline and tab")]
    TextControl,
    #[error("client_id must be 1 to {MAX_CLIENT_ID_BYTES} printable ASCII characters")]
    ClientId,
    #[error("password must be 1 to {MAX_PASSWORD_BYTES} bytes")]
    PasswordLength,
}

fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
                let value = value.into();
                $check(&value)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
    };
}

fn check_nick(v: &str) -> Result<(), ValidationError> {
    let n = v.chars().count();
    if n == 0 || n > MAX_NICK_CHARS {
        return Err(ValidationError::NickLength);
    }
    if !v.chars().all(name_char) {
        return Err(ValidationError::NickChars);
    }
    Ok(())
}

fn check_room(v: &str) -> Result<(), ValidationError> {
    let n = v.chars().count();
    if n == 0 || n > MAX_ROOM_CHARS {
        return Err(ValidationError::RoomLength);
    }
    if !v.chars().all(name_char) {
        return Err(ValidationError::RoomChars);
    }
    Ok(())
}

fn check_text(v: &str) -> Result<(), ValidationError> {
    if v.trim().is_empty() {
        return Err(ValidationError::TextEmpty);
    }
    if v.len() > MAX_TEXT_BYTES {
        return Err(ValidationError::TextTooLong);
    }
    if v.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ValidationError::TextControl);
    }
    Ok(())
}

fn check_client_id(v: &str) -> Result<(), ValidationError> {
    if v.is_empty() || v.len() > MAX_CLIENT_ID_BYTES || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::ClientId);
    }
    Ok(())
}

string_newtype!(
    /// A user's nickname: 1 to 32 letters, digits, `_`, `-` or `.`; unique among connected users.
    Nickname,
    check_nick
);
string_newtype!(
    /// A room name: 1 to 48 letters, digits, `_`, `-` or `.`.
    RoomName,
    check_room
);
string_newtype!(
    /// Message text: not blank, at most 4000 bytes, no control characters but newline and tab.
    MessageText,
    check_text
);
impl MessageText {
    /// The empty text of a deleted message (what the server sends in place of its text; a
    /// client can never send it).
    pub fn tombstone() -> MessageText {
        MessageText(String::new())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for MessageText {
    fn default() -> MessageText {
        MessageText::tombstone()
    }
}

string_newtype!(
    /// A client-generated message id (a UUID, say) that makes a send idempotent.
    ClientMsgId,
    check_client_id
);

/// A password as a client sends it: 1 to [`MAX_PASSWORD_BYTES`] bytes. Its `Debug` hides it,
/// so it never reaches a log; whether it is long enough for a new account is the server's call
/// ([`MIN_PASSWORD_CHARS`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Password(String);

impl Password {
    pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
        let value = value.into();
        if value.is_empty() || value.len() > MAX_PASSWORD_BYTES {
            return Err(ValidationError::PasswordLength);
        }
        Ok(Password(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Long enough for a new account.
    pub fn strong_enough(&self) -> bool {
        self.0.chars().count() >= MIN_PASSWORD_CHARS
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

impl TryFrom<String> for Password {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Password> for String {
    fn from(value: Password) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords() {
        assert!(Password::new("x").is_ok());
        assert!(!Password::new("short").expect("valid").strong_enough());
        assert!(Password::new("long enough").expect("valid").strong_enough());
        assert_eq!(Password::new(""), Err(ValidationError::PasswordLength));
        assert_eq!(
            Password::new("x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(ValidationError::PasswordLength)
        );
        let p = Password::new("hunter22").expect("valid");
        assert!(!format!("{p:?}").contains("hunter"));
    }

    #[test]
    fn nicknames() {
        assert!(Nickname::new("alice").is_ok());
        assert!(Nickname::new("Zoë_2.0-x").is_ok());
        assert_eq!(Nickname::new(""), Err(ValidationError::NickLength));
        assert_eq!(
            Nickname::new("a".repeat(33)),
            Err(ValidationError::NickLength)
        );
        assert!(Nickname::new("a".repeat(32)).is_ok());
        assert_eq!(Nickname::new("a b"), Err(ValidationError::NickChars));
        assert_eq!(Nickname::new("<b>"), Err(ValidationError::NickChars));
        assert_eq!(Nickname::new("a/b"), Err(ValidationError::NickChars));
        assert_eq!(Nickname::new("a:b"), Err(ValidationError::NickChars));
    }

    #[test]
    fn rooms() {
        assert!(RoomName::new("general").is_ok());
        assert_eq!(RoomName::new(""), Err(ValidationError::RoomLength));
        assert_eq!(
            RoomName::new("x".repeat(49)),
            Err(ValidationError::RoomLength)
        );
        assert_eq!(RoomName::new("dm:a:b"), Err(ValidationError::RoomChars));
    }

    #[test]
    fn texts() {
        assert!(MessageText::new("hello\nworld\t!").is_ok());
        assert!(MessageText::new("<img src=x onerror=alert(1)>").is_ok());
        assert_eq!(MessageText::new("  \n"), Err(ValidationError::TextEmpty));
        assert_eq!(
            MessageText::new("a\u{0}b"),
            Err(ValidationError::TextControl)
        );
        assert!(MessageText::new("é".repeat(2000)).is_ok());
        assert_eq!(
            MessageText::new("é".repeat(2001)),
            Err(ValidationError::TextTooLong)
        );
    }

    #[test]
    fn client_ids() {
        assert!(ClientMsgId::new("c-1f2e").is_ok());
        assert_eq!(ClientMsgId::new(""), Err(ValidationError::ClientId));
        assert_eq!(ClientMsgId::new("a b"), Err(ValidationError::ClientId));
        assert_eq!(
            ClientMsgId::new("x".repeat(65)),
            Err(ValidationError::ClientId)
        );
    }

    #[test]
    fn deserialize_validates() {
        let bad: Result<Nickname, _> = serde_json::from_str("\"a b\"");
        assert!(bad.is_err());
        let good: Nickname = serde_json::from_str("\"bob\"").expect("valid nick");
        assert_eq!(good.as_str(), "bob");
    }
}

impl RoomName {
    /// The default room ([`crate::DEFAULT_ROOM`]), shared with the demo endpoint's users.
    pub fn default_room() -> RoomName {
        RoomName(crate::DEFAULT_ROOM.to_string())
    }
}

#[cfg(test)]
mod default_room_tests {
    #[test]
    fn default_room_is_valid() {
        let r = super::RoomName::default_room();
        assert_eq!(super::RoomName::new(r.as_str()), Ok(r));
    }
}
