//! What outlives a connection besides the messages: the rules of each room (invite-only, its
//! owner), its bans and mutes, each account's conversations with its read mark in each, and
//! the server-wide bans of guests. Behind one trait: in memory, in SQLite (`chat.db`, beside
//! the messages), or in Redis.
//!
//! A *channel* is as in [`crate::store`]: a room's name, or `dm:<a>:<b>`. An account's
//! conversations are its rooms (for an invite-only room, being listed is being a member) and
//! its direct conversations, each with a read mark and whether the user muted it.

#[doc(hidden)]
pub mod conformance;
pub mod memory;
pub mod sqlite;

use crate::auth::AccountId;
use crate::error::StoreError;
use async_trait::async_trait;
use shared::{MessageId, Timestamp};

/// Most conversations one account has; past it, its least recently active direct
/// conversation is dropped, and a room is refused.
pub const MAX_CONVERSATIONS: usize = 1_000;
/// Most bans and mutes in force in one room.
pub const MAX_SANCTIONS_PER_ROOM: usize = 10_000;
/// Most server-wide guest bans (names and addresses together) in force.
pub const MAX_GUEST_BANS: usize = 100_000;

/// A room's rules. A room without any (the default room, and rooms made before rooms had
/// owners) is public and belongs to the server's admins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomRules {
    pub invite_only: bool,
    /// `None`: the server's admins.
    pub owner: Option<AccountId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SanctionKind {
    Ban,
    Mute,
}

impl SanctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SanctionKind::Ban => "ban",
            SanctionKind::Mute => "mute",
        }
    }

    pub fn parse(s: &str) -> Option<SanctionKind> {
        match s {
            "ban" => Some(SanctionKind::Ban),
            "mute" => Some(SanctionKind::Mute),
            _ => None,
        }
    }
}

/// Who a sanction is for: an account (`a:<id>`), or a guest's name (`g:<nick key>`), as
/// [`subject`] spells it.
pub type Subject = String;

/// The subject string of an account, or of a guest's name key.
pub fn subject(account: Option<AccountId>, name_key: &str) -> Subject {
    match account {
        Some(id) => format!("a:{id}"),
        None => format!("g:{name_key}"),
    }
}

/// A ban or a mute in one room, in force until `until` (`shared::FOREVER`: for good).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanction {
    pub subject: Subject,
    pub kind: SanctionKind,
    pub until: Timestamp,
}

/// What [`Conversations::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// New: its read mark is the one given.
    New,
    /// It was there: its read mark is kept; its activity time is now.
    Existing,
    /// The account has [`MAX_CONVERSATIONS`] rooms: nothing was added.
    Full,
}

/// The conversation state of the server. Every method is one short operation on the backend.
#[async_trait]
pub trait Conversations: Send + Sync {
    /// The rules of `room`; `None`: it has none (public, the admins').
    async fn rules(&self, room: &str) -> Result<Option<RoomRules>, StoreError>;
    /// Records the rules of a new room; `false` (and nothing written): it has rules already.
    async fn create_room(&self, room: &str, rules: RoomRules) -> Result<bool, StoreError>;
    /// Sets the rules of `room`, whether it had any or not.
    async fn set_rules(&self, room: &str, rules: RoomRules) -> Result<(), StoreError>;
    /// Of `rooms`, the invite-only ones (for the room listing).
    async fn invite_only_among(&self, rooms: &[String]) -> Result<Vec<String>, StoreError>;

    /// Adds `channel` to the account's conversations with the read mark `read`, or, if it is
    /// there, keeps its mark; its activity time becomes `now` either way. Past
    /// [`MAX_CONVERSATIONS`], a new direct conversation (`dm:…`) drops the account's least
    /// recently active direct one, and a new room is refused ([`Added::Full`]).
    async fn add(
        &self,
        account: AccountId,
        channel: &str,
        read: MessageId,
        now: Timestamp,
    ) -> Result<Added, StoreError>;
    /// Removes `channel` from the account's conversations; `false`: it was not there.
    async fn remove(&self, account: AccountId, channel: &str) -> Result<bool, StoreError>;
    /// Whether `channel` is among the account's conversations (for an invite-only room:
    /// whether the account is a member).
    async fn has(&self, account: AccountId, channel: &str) -> Result<bool, StoreError>;
    /// Moves the read mark of one of the account's conversations forward to `id` (never
    /// back). Returns the mark now; `None`: not one of its conversations.
    async fn mark_read(
        &self,
        account: AccountId,
        channel: &str,
        id: MessageId,
    ) -> Result<Option<MessageId>, StoreError>;
    /// Mutes or unmutes one of the account's conversations (the user's own choice: no
    /// notifications, not counted in a tab's title). `false`: not one of its conversations.
    async fn set_muted(
        &self,
        account: AccountId,
        channel: &str,
        muted: bool,
    ) -> Result<bool, StoreError>;
    /// The account's muted conversations (at most [`MAX_CONVERSATIONS`]: only conversations
    /// it has can be muted, and removing one forgets its mute).
    async fn muted(&self, account: AccountId) -> Result<Vec<String>, StoreError>;
    /// The account's conversations with their read marks, most recently active first (ties:
    /// by channel), at most `limit`.
    async fn list(
        &self,
        account: AccountId,
        limit: usize,
    ) -> Result<Vec<(String, MessageId)>, StoreError>;
    /// The read mark of one conversation; `None`: not one of the account's.
    async fn read_mark(
        &self,
        account: AccountId,
        channel: &str,
    ) -> Result<Option<MessageId>, StoreError>;

    /// Records a ban or mute in `room` (replacing the subject's earlier one of that kind).
    /// `false` (nothing written): the room has [`MAX_SANCTIONS_PER_ROOM`] in force.
    async fn sanction(&self, room: &str, s: Sanction, now: Timestamp) -> Result<bool, StoreError>;
    /// Lifts the subject's ban or mute in `room`; `false`: there was none.
    async fn lift(&self, room: &str, subject: &str, kind: SanctionKind)
        -> Result<bool, StoreError>;
    /// The sanctions of `room` in force at `now` (expired ones are not returned, and may be
    /// deleted), by subject and kind.
    async fn sanctions(&self, room: &str, now: Timestamp) -> Result<Vec<Sanction>, StoreError>;

    /// Bans the guest name `name_key` and, if given, the address `addr` (an `IpKey` as text)
    /// server-wide until `until`. `false` (nothing written): [`MAX_GUEST_BANS`] are in force.
    async fn ban_guest(
        &self,
        name_key: &str,
        addr: Option<&str>,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Whether the guest name `name_key`, or the address `addr`, is banned at `now`.
    async fn guest_banned(
        &self,
        name_key: &str,
        addr: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests;
