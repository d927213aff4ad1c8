//! The accounts table and the sessions signed in to them, behind one trait: in memory, in
//! SQLite (`chat.db`, beside the messages), or in Redis. Names are unique by their
//! [`NickKey`]; sessions are kept only as the SHA-256 of their token.

pub mod memory;
pub mod sqlite;

use crate::error::StoreError;
use crate::nick_key::NickKey;
use async_trait::async_trait;
use shared::{Nickname, Timestamp};

/// An account's id: assigned at creation, never reused.
pub type AccountId = u64;

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// The name as registered (what others see).
    pub name: Nickname,
    /// The Argon2id hash in PHC string form; `None` for an account made by an external
    /// identity (JWT), which has no password here.
    pub phc: Option<String>,
    /// The `sub` of the external identity this account stands for.
    pub external: Option<String>,
    pub disabled: bool,
    pub created: Timestamp,
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: Nickname,
    pub phc: Option<String>,
    pub external: Option<String>,
    pub now: Timestamp,
    /// Refuse with [`CreateError::Full`] when this many accounts exist (0: no cap).
    pub cap: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// An account with the same [`NickKey`] (or the same `external`) exists.
    #[error("an account with that name exists")]
    Exists,
    /// The account cap is reached.
    #[error("no more accounts can be created here")]
    Full,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Lifetimes of a session, checked at every lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A session unused for this long has expired (milliseconds).
    pub idle_ms: i64,
    /// A session this old has expired, used or not (milliseconds).
    pub absolute_ms: i64,
}

/// Sessions one account may hold; creating one more ends its least recently used.
pub const SESSIONS_PER_ACCOUNT: usize = 64;

/// The accounts and their sessions. Every method is a short operation on the backend; none
/// hashes a password (the caller does, on the blocking pool).
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Creates an account, unique by the [`NickKey`] of its name (and by `external`).
    async fn create(&self, new: NewAccount) -> Result<Account, CreateError>;
    /// The account whose name has `key`.
    async fn by_key(&self, key: &NickKey) -> Result<Option<Account>, StoreError>;
    async fn by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError>;
    /// The account made for the external identity `sub`.
    async fn by_external(&self, sub: &str) -> Result<Option<Account>, StoreError>;
    /// Of `keys`, those that name an account (to mark the others as guests).
    async fn registered(&self, keys: &[NickKey]) -> Result<Vec<NickKey>, StoreError>;
    /// Sets a new password hash and deletes every session of the account. `false`: no such
    /// account.
    async fn set_password(&self, id: AccountId, phc: &str) -> Result<bool, StoreError>;
    /// Disables (or enables) the account; disabling deletes its sessions. `false`: no such
    /// account.
    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<bool, StoreError>;
    /// Up to `limit` accounts with ids above `after`, by id.
    async fn list(&self, after: AccountId, limit: usize) -> Result<Vec<Account>, StoreError>;
    async fn count(&self) -> Result<u64, StoreError>;

    /// Records a session of `account` under `hash` (the SHA-256 of its token), created and
    /// last used `now`. Past [`SESSIONS_PER_ACCOUNT`], the least recently used one is deleted.
    async fn create_session(
        &self,
        hash: [u8; 32],
        account: AccountId,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// The account of the session `hash`, if it exists and has not expired under `life`
    /// (an expired one is deleted); its last use becomes `now`. The stored hash is compared
    /// in constant time.
    async fn session(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
        life: Lifetimes,
    ) -> Result<Option<AccountId>, StoreError>;
    /// Deletes one session. `Some(account)`: it existed.
    async fn delete_session(&self, hash: &[u8; 32]) -> Result<Option<AccountId>, StoreError>;
    /// Deletes every session of `account`.
    async fn delete_sessions(&self, account: AccountId) -> Result<(), StoreError>;

    /// Accounts whose sessions ended (password set, disabled, all signed out) since the mark
    /// `after`, and the new mark; `None` asks only for the current mark. For a backend other
    /// processes write (an operator's `server user …` on a SQLite data directory): Redis
    /// publishes `revoke` instead, and memory has no other writer, so they report nothing.
    async fn revocations(&self, after: Option<u64>) -> Result<(u64, Vec<AccountId>), StoreError> {
        Ok((after.unwrap_or(0), Vec::new()))
    }
}

#[cfg(test)]
mod tests;
