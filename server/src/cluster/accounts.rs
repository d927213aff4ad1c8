//! [`Accounts`] on Redis: accounts and their sessions, shared by every node of a cluster.
//!
//! - `chat:acct:next`: the last id given (`INCR`); `chat:acct:ids`: every id, scored by
//!   itself, for paging.
//! - `chat:acct:<id>`: a hash {name, key, phc, ext, disabled, created} (`phc` and `ext` only
//!   when set).
//! - `chat:acct:key`: [`NickKey`] → id; `chat:acct:ext`: external `sub` → id. The number of
//!   fields of `chat:acct:key` is the number of accounts (the cap's count).
//! - `chat:sess:<hex of the SHA-256>`: a hash {a: account, c: created, u: last used, h: the
//!   hex again}, expiring (`PEXPIRE`) when the session would; `chat:acct:<id>:sess`: a sorted
//!   set of the account's session hashes by last use, for deleting them all and for evicting
//!   the least recently used one past [`SESSIONS_PER_ACCOUNT`].
//!
//! Every change that touches more than one key is one Lua script (`accounts/lua.rs`), so it
//! is atomic.

use super::{bus, connection, unavailable, Cluster};
use crate::auth::accounts::{
    Account, AccountId, Accounts, CreateError, Lifetimes, NewAccount, SESSIONS_PER_ACCOUNT,
};
use crate::auth::token::to_hex;
use crate::broker::Event;
use crate::error::StoreError;
use crate::nick_key::NickKey;
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use shared::{Nickname, Timestamp};
use std::collections::HashMap;
use std::sync::Weak;
use subtle::ConstantTimeEq;

mod lua;

use lua::{
    CREATE_LUA, CREATE_SESSION_LUA, DELETE_SESSION_LUA, DROP_SESSIONS_LUA, SESSION_LUA, SET_LUA,
};

const NEXT: &str = "chat:acct:next";
const IDS: &str = "chat:acct:ids";
const BY_KEY: &str = "chat:acct:key";
const BY_EXT: &str = "chat:acct:ext";

fn account_key(id: AccountId) -> String {
    format!("chat:acct:{id}")
}
fn sessions_key(id: AccountId) -> String {
    format!("chat:acct:{id}:sess")
}
fn session_key(hex: &str) -> String {
    format!("chat:sess:{hex}")
}

/// How long a new session's key lives before its first lookup, which sets it to what the
/// lifetimes leave ([`Accounts::create_session`] is not told them).
const NEW_SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// A session's last use is written only when the stored one is older than this, so that a
/// busy client's lookups do not each write. The idle lifetime then counts from up to a
/// minute before the true last use: a session can expire that much early, never late.
const TOUCH_AFTER_MS: i64 = 60_000;

/// Where the connection comes from.
#[derive(Clone)]
enum Source {
    /// A connection of its own ([`RedisAccounts::connect`], [`RedisAccounts::new`]).
    Own(ConnectionManager),
    /// The cluster's command connection of the moment (it is replaced when found silent).
    Cluster(Weak<Cluster>),
}

/// Accounts and sessions in Redis, under `chat:acct:` and `chat:sess:`.
#[derive(Clone)]
pub struct RedisAccounts {
    source: Source,
}

impl RedisAccounts {
    /// Connects to Redis at `url` with a connection of its own.
    pub async fn connect(url: &str) -> Result<RedisAccounts, StoreError> {
        let client = connection::client(url)?;
        let mut conn = connection::open(&client, url).await?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(Self::new(conn))
    }

    /// Works on an open connection.
    pub fn new(conn: ConnectionManager) -> RedisAccounts {
        RedisAccounts {
            source: Source::Own(conn),
        }
    }

    /// Tells every node that the sessions of `account` ended ([`Event::Revoke`] on the bus),
    /// so that they close its connections now rather than at their next lookup.
    pub async fn publish_revoke(&self, account: AccountId) -> Result<(), StoreError> {
        let ev = Event::Revoke {
            a: account,
            s: String::new(),
            keep: String::new(),
        };
        bus::publish_now(&mut self.conn()?, &ev).await
    }

    fn conn(&self) -> Result<ConnectionManager, StoreError> {
        match &self.source {
            Source::Own(conn) => Ok(conn.clone()),
            Source::Cluster(cluster) => cluster
                .upgrade()
                .map(|c| c.conn())
                .ok_or_else(|| StoreError::Unavailable("the cluster connection is closed".into())),
        }
    }

    /// Sets one field of account `id`, deleting its sessions when `revoke`.
    async fn set(
        &self,
        id: AccountId,
        field: &str,
        value: &str,
        revoke: bool,
    ) -> Result<bool, StoreError> {
        let done: i64 = Script::new(SET_LUA)
            .key(account_key(id))
            .key(sessions_key(id))
            .arg(field)
            .arg(value)
            .arg(if revoke { "1" } else { "0" })
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }
}

impl Cluster {
    /// The accounts in this cluster's Redis, on its command connection.
    pub fn accounts(&self) -> RedisAccounts {
        RedisAccounts {
            source: Source::Cluster(self.me.clone()),
        }
    }
}

/// An account from the fields of its hash (`None`: no such hash).
fn account(id: AccountId, mut f: HashMap<String, String>) -> Result<Option<Account>, StoreError> {
    if f.is_empty() {
        return Ok(None);
    }
    let corrupt = |what: &str| StoreError::Corrupt(format!("redis account {id}: bad {what}"));
    let name = f
        .remove("name")
        .and_then(|n| Nickname::new(n).ok())
        .ok_or_else(|| corrupt("name"))?;
    let created: Timestamp = f
        .get("created")
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| corrupt("created"))?;
    Ok(Some(Account {
        id,
        name,
        phc: f.remove("phc"),
        external: f.remove("ext"),
        disabled: f.get("disabled").is_some_and(|d| d == "1"),
        created,
    }))
}

#[async_trait]
impl Accounts for RedisAccounts {
    async fn create(&self, new: NewAccount) -> Result<Account, CreateError> {
        let key = NickKey::of(&new.name);
        let id: i64 = Script::new(CREATE_LUA)
            .key(BY_KEY)
            .key(BY_EXT)
            .key(NEXT)
            .key(IDS)
            .arg(key.as_str())
            .arg(new.external.as_deref().unwrap_or(""))
            .arg(new.cap)
            .arg(new.name.as_str())
            .arg(new.phc.as_deref().unwrap_or(""))
            .arg(new.now)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        match id {
            -1 => Err(CreateError::Exists),
            -2 => Err(CreateError::Full),
            id => Ok(Account {
                id: AccountId::try_from(id)
                    .map_err(|_| StoreError::Corrupt(format!("redis account id {id}")))?,
                name: new.name,
                phc: new.phc,
                external: new.external,
                disabled: false,
                created: new.now,
            }),
        }
    }

    async fn by_key(&self, key: &NickKey) -> Result<Option<Account>, StoreError> {
        let id: Option<AccountId> = self
            .conn()?
            .hget(BY_KEY, key.as_str())
            .await
            .map_err(unavailable)?;
        match id {
            Some(id) => self.by_id(id).await,
            None => Ok(None),
        }
    }

    async fn by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let fields: HashMap<String, String> = self
            .conn()?
            .hgetall(account_key(id))
            .await
            .map_err(unavailable)?;
        account(id, fields)
    }

    async fn by_external(&self, sub: &str) -> Result<Option<Account>, StoreError> {
        let id: Option<AccountId> = self.conn()?.hget(BY_EXT, sub).await.map_err(unavailable)?;
        match id {
            Some(id) => self.by_id(id).await,
            None => Ok(None),
        }
    }

    async fn registered(&self, keys: &[NickKey]) -> Result<Vec<NickKey>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(BY_KEY)
            .arg(keys.iter().map(NickKey::as_str).collect::<Vec<_>>())
            .query_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(keys
            .iter()
            .zip(ids)
            .filter(|(_, id)| id.is_some())
            .map(|(key, _)| key.clone())
            .collect())
    }

    async fn set_password(&self, id: AccountId, phc: &str) -> Result<bool, StoreError> {
        self.set(id, "phc", phc, true).await
    }

    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<bool, StoreError> {
        self.set(id, "disabled", if disabled { "1" } else { "0" }, disabled)
            .await
    }

    async fn list(&self, after: AccountId, limit: usize) -> Result<Vec<Account>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.conn()?;
        let ids: Vec<AccountId> = redis::cmd("ZRANGEBYSCORE")
            .arg(IDS)
            .arg(format!("({after}"))
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        if ids.is_empty() {
            // Past the last account; an empty pipeline is an error of the client's own.
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(account_key(*id));
        }
        let hashes: Vec<HashMap<String, String>> =
            pipe.query_async(&mut conn).await.map_err(unavailable)?;
        let mut accounts = Vec::with_capacity(ids.len());
        for (id, fields) in ids.into_iter().zip(hashes) {
            accounts.extend(account(id, fields)?);
        }
        Ok(accounts)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.conn()?.hlen(BY_KEY).await.map_err(unavailable)
    }

    async fn create_session(
        &self,
        hash: [u8; 32],
        account: AccountId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let hex = to_hex(&hash);
        Script::new(CREATE_SESSION_LUA)
            .key(session_key(&hex))
            .key(sessions_key(account))
            .arg(&hex)
            .arg(account)
            .arg(now)
            .arg(NEW_SESSION_TTL_MS)
            .arg(SESSIONS_PER_ACCOUNT)
            .invoke_async::<i64>(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The key is the hash of a 256-bit random token, so how long Redis takes to find it
    /// tells nothing about other tokens; the stored hash is compared in constant time all
    /// the same.
    async fn session(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
        life: Lifetimes,
    ) -> Result<Option<AccountId>, StoreError> {
        let hex = to_hex(hash);
        let found: Option<(AccountId, String)> = Script::new(SESSION_LUA)
            .key(session_key(&hex))
            .arg(&hex)
            .arg(now)
            .arg(life.idle_ms)
            .arg(life.absolute_ms)
            .arg(TOUCH_AFTER_MS)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(found
            .filter(|(_, stored)| bool::from(stored.as_bytes().ct_eq(hex.as_bytes())))
            .map(|(account, _)| account))
    }

    async fn delete_session(&self, hash: &[u8; 32]) -> Result<Option<AccountId>, StoreError> {
        let hex = to_hex(hash);
        Script::new(DELETE_SESSION_LUA)
            .key(session_key(&hex))
            .arg(&hex)
            .invoke_async(&mut self.conn()?)
            .await
            .map_err(unavailable)
    }

    async fn delete_sessions(&self, account: AccountId) -> Result<(), StoreError> {
        Script::new(DROP_SESSIONS_LUA)
            .key(account_key(account))
            .key(sessions_key(account))
            .invoke_async::<i64>(&mut self.conn()?)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
