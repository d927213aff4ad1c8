//! [`Conversations`] in SQLite: being written (every method fails until it is).

use super::{Added, Conversations, RoomRules, Sanction, SanctionKind};
use crate::auth::AccountId;
use crate::error::StoreError;
use async_trait::async_trait;
use shared::{MessageId, Timestamp};
use std::path::Path;

pub struct SqliteConversations;

impl SqliteConversations {
    pub fn open(_data_dir: &Path) -> Result<SqliteConversations, StoreError> {
        Ok(SqliteConversations)
    }
}

fn todo<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable("not yet".into()))
}

#[async_trait]
impl Conversations for SqliteConversations {
    async fn rules(&self, _: &str) -> Result<Option<RoomRules>, StoreError> {
        todo()
    }
    async fn create_room(&self, _: &str, _: RoomRules) -> Result<bool, StoreError> {
        todo()
    }
    async fn set_rules(&self, _: &str, _: RoomRules) -> Result<(), StoreError> {
        todo()
    }
    async fn invite_only_among(&self, _: &[String]) -> Result<Vec<String>, StoreError> {
        todo()
    }
    async fn add(
        &self,
        _: AccountId,
        _: &str,
        _: MessageId,
        _: Timestamp,
    ) -> Result<Added, StoreError> {
        todo()
    }
    async fn remove(&self, _: AccountId, _: &str) -> Result<bool, StoreError> {
        todo()
    }
    async fn has(&self, _: AccountId, _: &str) -> Result<bool, StoreError> {
        todo()
    }
    async fn mark_read(
        &self,
        _: AccountId,
        _: &str,
        _: MessageId,
    ) -> Result<Option<MessageId>, StoreError> {
        todo()
    }
    async fn list(&self, _: AccountId, _: usize) -> Result<Vec<(String, MessageId)>, StoreError> {
        todo()
    }
    async fn read_mark(&self, _: AccountId, _: &str) -> Result<Option<MessageId>, StoreError> {
        todo()
    }
    async fn sanction(&self, _: &str, _: Sanction, _: Timestamp) -> Result<bool, StoreError> {
        todo()
    }
    async fn lift(&self, _: &str, _: &str, _: SanctionKind) -> Result<bool, StoreError> {
        todo()
    }
    async fn sanctions(&self, _: &str, _: Timestamp) -> Result<Vec<Sanction>, StoreError> {
        todo()
    }
    async fn ban_guest(
        &self,
        _: &str,
        _: Option<&str>,
        _: Timestamp,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        todo()
    }
    async fn guest_banned(
        &self,
        _: &str,
        _: Option<&str>,
        _: Timestamp,
    ) -> Result<bool, StoreError> {
        todo()
    }
}
