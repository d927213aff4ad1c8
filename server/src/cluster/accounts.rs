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
//! Every change that touches more than one key is one Lua script, so it is atomic.

use super::{bus, connection, unavailable, Cluster};
use crate::auth::accounts::{
    Account, AccountId, Accounts, CreateError, Lifetimes, NewAccount, SESSIONS_PER_ACCOUNT,
};
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
fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// How long a new session's key lives before its first lookup, which sets it to what the
/// lifetimes leave ([`Accounts::create_session`] is not told them).
const NEW_SESSION_TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// A session's last use is written only when the stored one is older than this, so that a
/// busy client's lookups do not each write. The idle lifetime then counts from up to a
/// minute before the true last use: a session can expire that much early, never late.
const TOUCH_AFTER_MS: i64 = 60_000;

/// Creates an account unless its key (or its external `sub`) is taken or the cap is reached:
/// -1 taken, -2 full, else the new id.
const CREATE_LUA: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end
if ARGV[2] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return -1 end
local cap = tonumber(ARGV[3])
if cap > 0 and redis.call('HLEN', KEYS[1]) >= cap then return -2 end
local id = redis.call('INCR', KEYS[3])
local acct = 'chat:acct:' .. id
redis.call('HSET', acct, 'name', ARGV[4], 'key', ARGV[1], 'disabled', '0', 'created', ARGV[6])
if ARGV[5] ~= '' then redis.call('HSET', acct, 'phc', ARGV[5]) end
if ARGV[2] ~= '' then
  redis.call('HSET', acct, 'ext', ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[2], id)
end
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('ZADD', KEYS[4], id, id)
return id
";

/// Lua that deletes every session listed in the sorted set `KEYS[2]`, and the set.
macro_rules! drop_sessions_lua {
    () => {
        "for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', 'chat:sess:' .. h)
end
redis.call('DEL', KEYS[2])
"
    };
}

/// Sets field `ARGV[1]` of account `KEYS[1]` to `ARGV[2]`, and with `ARGV[3]` = 1 deletes its
/// sessions too. 0: no such account.
const SET_LUA: &str = concat!(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
",
    drop_sessions_lua!(),
    "end
return 1
"
);

/// Deletes every session of one account.
const DROP_SESSIONS_LUA: &str = concat!(drop_sessions_lua!(), "return 1\n");

/// Records session `ARGV[1]` of account `ARGV[2]` at `ARGV[3]`, living `ARGV[4]` ms; drops the
/// account's sessions that expired by themselves, then its least recently used ones past
/// `ARGV[5]`.
const CREATE_SESSION_LUA: &str = r"
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'c', ARGV[3], 'u', ARGV[3], 'h', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', 'chat:sess:' .. h) == 0 then redis.call('ZREM', KEYS[2], h) end
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('DEL', 'chat:sess:' .. h)
    redis.call('ZREM', KEYS[2], h)
  end
end
return 1
";

/// Looks session `KEYS[1]` (hash hex `ARGV[1]`) up at `ARGV[2]` under idle lifetime `ARGV[3]`
/// and absolute lifetime `ARGV[4]`: deletes it if expired (nil), else writes its last use if
/// older than `ARGV[5]` ms, sets its expiry to when it would expire unused, and returns
/// {account, stored hex}.
const SESSION_LUA: &str = r"
local v = redis.call('HMGET', KEYS[1], 'a', 'c', 'u', 'h')
if not v[1] then return false end
local now, c, u = tonumber(ARGV[2]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
local set = 'chat:acct:' .. v[1] .. ':sess'
local idle, absolute = tonumber(ARGV[3]), tonumber(ARGV[4])
if now - u >= idle or now - c >= absolute then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', set, ARGV[1])
  return false
end
if now - u >= tonumber(ARGV[5]) then
  u = now
  redis.call('HSET', KEYS[1], 'u', ARGV[2])
  redis.call('ZADD', set, ARGV[2], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], math.min(u + idle, c + absolute) - now)
return {v[1], v[4] or ''}
";

/// Deletes session `KEYS[1]` (hash hex `ARGV[1]`); returns its account, or nil.
const DELETE_SESSION_LUA: &str = r"
local a = redis.call('HGET', KEYS[1], 'a')
if not a then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', 'chat:acct:' .. a .. ':sess', ARGV[1])
return a
";

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
        let hex = hex(&hash);
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
        let hex = hex(hash);
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
        let hex = hex(hash);
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
