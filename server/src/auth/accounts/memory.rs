//! (stub until the real one lands)
use super::*;
#[derive(Default)]
pub struct MemoryAccounts;
impl MemoryAccounts {
    pub fn new() -> MemoryAccounts {
        MemoryAccounts
    }
}
fn no() -> StoreError {
    StoreError::Unavailable("stub".into())
}
#[async_trait]
impl Accounts for MemoryAccounts {
    async fn create(&self, _new: NewAccount) -> Result<Account, CreateError> {
        Err(CreateError::Store(no()))
    }
    async fn by_key(&self, _key: &NickKey) -> Result<Option<Account>, StoreError> {
        Ok(None)
    }
    async fn by_id(&self, _id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(None)
    }
    async fn by_external(&self, _sub: &str) -> Result<Option<Account>, StoreError> {
        Ok(None)
    }
    async fn registered(&self, _keys: &[NickKey]) -> Result<Vec<NickKey>, StoreError> {
        Ok(vec![])
    }
    async fn set_password(&self, _id: AccountId, _phc: &str) -> Result<bool, StoreError> {
        Err(no())
    }
    async fn set_disabled(&self, _id: AccountId, _d: bool) -> Result<bool, StoreError> {
        Err(no())
    }
    async fn list(&self, _after: AccountId, _limit: usize) -> Result<Vec<Account>, StoreError> {
        Ok(vec![])
    }
    async fn count(&self) -> Result<u64, StoreError> {
        Ok(0)
    }
    async fn create_session(&self, _h: [u8; 32], _a: AccountId, _n: Timestamp) -> Result<(), StoreError> {
        Err(no())
    }
    async fn session(&self, _h: &[u8; 32], _n: Timestamp, _l: Lifetimes) -> Result<Option<AccountId>, StoreError> {
        Ok(None)
    }
    async fn delete_session(&self, _h: &[u8; 32]) -> Result<Option<AccountId>, StoreError> {
        Ok(None)
    }
    async fn delete_sessions(&self, _a: AccountId) -> Result<(), StoreError> {
        Ok(())
    }
}
