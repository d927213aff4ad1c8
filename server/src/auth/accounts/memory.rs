//! [`Accounts`] in memory, for a server without a data directory: accounts and sessions live
//! as long as the process.

use super::{
    Account, AccountId, Accounts, CreateError, Lifetimes, NewAccount, SESSIONS_PER_ACCOUNT,
};
use crate::error::StoreError;
use crate::nick_key::NickKey;
use crate::util::lock;
use async_trait::async_trait;
use shared::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ops::Bound;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// Expired sessions deleted at most per session created; the rest wait for the next one.
const SWEEP_MAX: usize = 256;

type Hash = [u8; 32];

/// A session as stored under its hash.
#[derive(Debug, Clone, Copy)]
struct Session {
    account: AccountId,
    created: Timestamp,
    last_used: Timestamp,
}

#[derive(Debug, Default)]
struct Inner {
    accounts: BTreeMap<AccountId, Account>,
    by_key: HashMap<String, AccountId>,
    by_external: HashMap<String, AccountId>,
    /// The id the next account gets, less one.
    last_id: AccountId,
    sessions: HashMap<Hash, Session>,
    /// The sessions by creation and by last use, oldest first, for sweeping.
    by_created: BTreeSet<(Timestamp, Hash)>,
    by_used: BTreeSet<(Timestamp, Hash)>,
    /// Each account's sessions.
    of_account: HashMap<AccountId, HashSet<Hash>>,
    /// The lifetimes of the latest lookup: what a sweep deletes by (none before a lookup).
    life: Option<Lifetimes>,
}

impl Inner {
    fn remove_session(&mut self, hash: &Hash) -> Option<Session> {
        let s = self.sessions.remove(hash)?;
        self.by_created.remove(&(s.created, *hash));
        self.by_used.remove(&(s.last_used, *hash));
        if let Some(set) = self.of_account.get_mut(&s.account) {
            set.remove(hash);
            if set.is_empty() {
                self.of_account.remove(&s.account);
            }
        }
        Some(s)
    }

    fn remove_sessions_of(&mut self, account: AccountId) {
        let hashes = self.of_account.remove(&account).unwrap_or_default();
        for h in hashes {
            self.remove_session(&h);
        }
    }

    /// Deletes up to [`SWEEP_MAX`] expired sessions, oldest first.
    fn sweep(&mut self, now: Timestamp) {
        let Some(life) = self.life else { return };
        for _ in 0..SWEEP_MAX {
            let idle = self
                .by_used
                .first()
                .filter(|(t, _)| expired(now, *t, life.idle_ms));
            let old = self
                .by_created
                .first()
                .filter(|(t, _)| expired(now, *t, life.absolute_ms));
            match idle.or(old) {
                Some(&(_, h)) => {
                    self.remove_session(&h);
                }
                None => return,
            }
        }
    }

    /// Deletes the least recently used sessions of `account` beyond `keep`.
    fn cap_sessions_of(&mut self, account: AccountId, keep: usize) {
        loop {
            let Some(set) = self.of_account.get(&account) else {
                return;
            };
            if set.len() <= keep {
                return;
            }
            let lru = set
                .iter()
                .filter_map(|h| self.sessions.get(h).map(|s| (s.last_used, *h)))
                .min();
            match lru {
                Some((_, h)) => {
                    self.remove_session(&h);
                }
                None => return,
            }
        }
    }
}

/// `since` is at least `ms` before `now`.
fn expired(now: Timestamp, since: Timestamp, ms: i64) -> bool {
    now.saturating_sub(since) >= ms
}

/// Accounts and sessions in maps behind one lock; ids count up from 1.
#[derive(Debug, Default)]
pub struct MemoryAccounts {
    inner: Mutex<Inner>,
}

impl MemoryAccounts {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Accounts for MemoryAccounts {
    async fn create(&self, new: NewAccount) -> Result<Account, CreateError> {
        let mut g = lock(&self.inner);
        if new.cap > 0 && g.accounts.len() as u64 >= new.cap {
            return Err(CreateError::Full);
        }
        let key = NickKey::of(&new.name).as_str().to_string();
        let taken_external = new
            .external
            .as_ref()
            .is_some_and(|e| g.by_external.contains_key(e));
        if g.by_key.contains_key(&key) || taken_external {
            return Err(CreateError::Exists);
        }
        g.last_id += 1;
        let account = Account {
            id: g.last_id,
            name: new.name,
            phc: new.phc,
            external: new.external,
            disabled: false,
            created: new.now,
        };
        g.by_key.insert(key, account.id);
        if let Some(e) = &account.external {
            g.by_external.insert(e.clone(), account.id);
        }
        g.accounts.insert(account.id, account.clone());
        Ok(account)
    }

    async fn by_key(&self, key: &NickKey) -> Result<Option<Account>, StoreError> {
        let g = lock(&self.inner);
        Ok(g.by_key
            .get(key.as_str())
            .and_then(|id| g.accounts.get(id))
            .cloned())
    }

    async fn by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        Ok(lock(&self.inner).accounts.get(&id).cloned())
    }

    async fn by_external(&self, sub: &str) -> Result<Option<Account>, StoreError> {
        let g = lock(&self.inner);
        Ok(g.by_external
            .get(sub)
            .and_then(|id| g.accounts.get(id))
            .cloned())
    }

    async fn registered(&self, keys: &[NickKey]) -> Result<Vec<NickKey>, StoreError> {
        let g = lock(&self.inner);
        Ok(keys
            .iter()
            .filter(|k| g.by_key.contains_key(k.as_str()))
            .cloned()
            .collect())
    }

    async fn set_password(&self, id: AccountId, phc: &str) -> Result<bool, StoreError> {
        let mut g = lock(&self.inner);
        let Some(a) = g.accounts.get_mut(&id) else {
            return Ok(false);
        };
        a.phc = Some(phc.to_string());
        g.remove_sessions_of(id);
        Ok(true)
    }

    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<bool, StoreError> {
        let mut g = lock(&self.inner);
        let Some(a) = g.accounts.get_mut(&id) else {
            return Ok(false);
        };
        a.disabled = disabled;
        if disabled {
            g.remove_sessions_of(id);
        }
        Ok(true)
    }

    async fn list(&self, after: AccountId, limit: usize) -> Result<Vec<Account>, StoreError> {
        let g = lock(&self.inner);
        Ok(g.accounts
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(limit)
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.inner).accounts.len() as u64)
    }

    async fn create_session(
        &self,
        hash: [u8; 32],
        account: AccountId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut g = lock(&self.inner);
        g.sweep(now);
        // The same hash again (a 2^-256 chance) replaces the session it names.
        g.remove_session(&hash);
        g.sessions.insert(
            hash,
            Session {
                account,
                created: now,
                last_used: now,
            },
        );
        g.by_created.insert((now, hash));
        g.by_used.insert((now, hash));
        g.of_account.entry(account).or_default().insert(hash);
        g.cap_sessions_of(account, SESSIONS_PER_ACCOUNT);
        Ok(())
    }

    async fn session(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
        life: Lifetimes,
    ) -> Result<Option<AccountId>, StoreError> {
        let mut g = lock(&self.inner);
        g.life = Some(life);
        let Some((stored, s)) = g.sessions.get_key_value(hash) else {
            return Ok(None);
        };
        if !bool::from(stored.ct_eq(hash)) {
            return Ok(None);
        }
        let s = *s;
        if expired(now, s.last_used, life.idle_ms) || expired(now, s.created, life.absolute_ms) {
            g.remove_session(hash);
            return Ok(None);
        }
        if now > s.last_used {
            g.by_used.remove(&(s.last_used, *hash));
            g.by_used.insert((now, *hash));
            if let Some(s) = g.sessions.get_mut(hash) {
                s.last_used = now;
            }
        }
        Ok(Some(s.account))
    }

    async fn delete_session(&self, hash: &[u8; 32]) -> Result<Option<AccountId>, StoreError> {
        Ok(lock(&self.inner).remove_session(hash).map(|s| s.account))
    }

    async fn delete_sessions(&self, account: AccountId) -> Result<(), StoreError> {
        lock(&self.inner).remove_sessions_of(account);
        Ok(())
    }
}
