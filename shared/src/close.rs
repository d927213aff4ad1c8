//! Why the server closes a connection: the WebSocket close code, a short reason, and whether a
//! well-behaved client should reconnect by itself.

/// Every way the server ends a session. Codes 1000-1015 are RFC 6455's; 4000-4999 are ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// 1000: the session ended normally.
    Normal,
    /// 1001: the server is shutting down; reconnect (to it or another node).
    GoingAway,
    /// 1002: the peer broke RFC 6455 (say, an unmasked client frame).
    ProtocolError,
    /// 1003: a binary frame where only text is accepted.
    UnsupportedData,
    /// 1007: a text frame that is not valid UTF-8.
    InvalidPayload,
    /// 1008: flooding past the rate limit.
    PolicyViolation,
    /// 1009: a frame or message over the size limit.
    MessageTooBig,
    /// 1011: the server hit an unexpected condition.
    InternalError,
    /// 1013: the server is at capacity or its storage is unavailable; retry later.
    TryAgainLater,
    /// 4001: the nickname is in use by another session.
    NickTaken,
    /// 4002: the nickname is not valid.
    InvalidNick,
    /// 4003: no `hello` arrived in time.
    HandshakeTimeout,
    /// 4004: nothing (not even a pong) arrived within the idle timeout.
    IdleTimeout,
    /// 4005: the same user resumed the session on another connection.
    Replaced,
    /// 4006: the client speaks a protocol version this server does not.
    UnsupportedProtocol,
    /// 4008: the client did not read fast enough; its outbound queue overflowed.
    SlowConsumer,
    /// 4009: signing in failed (wrong name or password, an unknown or expired session, a bad
    /// JWT): retrying with the same credentials will not help.
    AuthFailed,
    /// 4010: the session ended (signed out, here or everywhere; the password changed; the
    /// account was disabled): sign in again.
    SignedOut,
    /// 4011: this server does not accept guests.
    GuestsNotAllowed,
    /// 4012: too many failed sign-ins for this account from this address; wait before trying.
    TooManyAttempts,
    /// 4013: an admin banned this guest name or the address it came from.
    Banned,
}

impl CloseReason {
    pub const ALL: [CloseReason; 21] = [
        CloseReason::Normal,
        CloseReason::GoingAway,
        CloseReason::ProtocolError,
        CloseReason::UnsupportedData,
        CloseReason::InvalidPayload,
        CloseReason::PolicyViolation,
        CloseReason::MessageTooBig,
        CloseReason::InternalError,
        CloseReason::TryAgainLater,
        CloseReason::NickTaken,
        CloseReason::InvalidNick,
        CloseReason::HandshakeTimeout,
        CloseReason::IdleTimeout,
        CloseReason::Replaced,
        CloseReason::UnsupportedProtocol,
        CloseReason::SlowConsumer,
        CloseReason::AuthFailed,
        CloseReason::SignedOut,
        CloseReason::GuestsNotAllowed,
        CloseReason::TooManyAttempts,
        CloseReason::Banned,
    ];

    pub const fn code(self) -> u16 {
        match self {
            CloseReason::Normal => 1000,
            CloseReason::GoingAway => 1001,
            CloseReason::ProtocolError => 1002,
            CloseReason::UnsupportedData => 1003,
            CloseReason::InvalidPayload => 1007,
            CloseReason::PolicyViolation => 1008,
            CloseReason::MessageTooBig => 1009,
            CloseReason::InternalError => 1011,
            CloseReason::TryAgainLater => 1013,
            CloseReason::NickTaken => 4001,
            CloseReason::InvalidNick => 4002,
            CloseReason::HandshakeTimeout => 4003,
            CloseReason::IdleTimeout => 4004,
            CloseReason::Replaced => 4005,
            CloseReason::UnsupportedProtocol => 4006,
            CloseReason::SlowConsumer => 4008,
            CloseReason::AuthFailed => 4009,
            CloseReason::SignedOut => 4010,
            CloseReason::GuestsNotAllowed => 4011,
            CloseReason::TooManyAttempts => 4012,
            CloseReason::Banned => 4013,
        }
    }

    /// A stable label: the close frame's reason text and the metrics label.
    pub const fn label(self) -> &'static str {
        match self {
            CloseReason::Normal => "normal",
            CloseReason::GoingAway => "going_away",
            CloseReason::ProtocolError => "protocol_error",
            CloseReason::UnsupportedData => "unsupported_data",
            CloseReason::InvalidPayload => "invalid_payload",
            CloseReason::PolicyViolation => "rate_limited",
            CloseReason::MessageTooBig => "message_too_big",
            CloseReason::InternalError => "internal_error",
            CloseReason::TryAgainLater => "try_again_later",
            CloseReason::NickTaken => "nick_taken",
            CloseReason::InvalidNick => "invalid_nick",
            CloseReason::HandshakeTimeout => "handshake_timeout",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::Replaced => "replaced",
            CloseReason::UnsupportedProtocol => "unsupported_protocol",
            CloseReason::SlowConsumer => "slow_consumer",
            CloseReason::AuthFailed => "auth_failed",
            CloseReason::SignedOut => "signed_out",
            CloseReason::GuestsNotAllowed => "guests_not_allowed",
            CloseReason::TooManyAttempts => "too_many_attempts",
            CloseReason::Banned => "banned",
        }
    }

    /// Whether a client should reconnect by itself (with backoff) after this close.
    pub const fn should_reconnect(self) -> bool {
        matches!(
            self,
            CloseReason::GoingAway
                | CloseReason::InternalError
                | CloseReason::TryAgainLater
                | CloseReason::HandshakeTimeout
                | CloseReason::IdleTimeout
                | CloseReason::SlowConsumer
        )
    }

    pub fn from_code(code: u16) -> Option<CloseReason> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// What a client does on a close code: reconnect unless the code says it would not help.
    /// Unknown codes and abnormal closes (1006: no close frame) are treated as transient.
    pub fn code_allows_reconnect(code: u16) -> bool {
        Self::from_code(code).map_or(code != 1000, Self::should_reconnect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        for r in CloseReason::ALL {
            assert_eq!(CloseReason::from_code(r.code()), Some(r));
            assert!(
                r.label().len() <= 123,
                "close reason must fit a control frame"
            );
        }
        let mut codes: Vec<u16> = CloseReason::ALL.iter().map(|r| r.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CloseReason::ALL.len());
    }

    #[test]
    fn reconnect_policy() {
        assert!(CloseReason::code_allows_reconnect(1001));
        assert!(CloseReason::code_allows_reconnect(1006));
        assert!(CloseReason::code_allows_reconnect(4008));
        assert!(!CloseReason::code_allows_reconnect(4001));
        assert!(!CloseReason::code_allows_reconnect(1008));
        assert!(!CloseReason::code_allows_reconnect(1000));
        for no in [4009, 4010, 4011, 4012, 4013] {
            assert!(!CloseReason::code_allows_reconnect(no), "{no}");
        }
    }
}
