//! [`Accounts`] in SQLite: the `accounts` and `sessions` tables of `chat.db`, beside the
//! messages. The connection is this module's own, beside the store's writer and reader (WAL
//! lets them share the file), or alone when the operator's CLI opens a data directory. Its
//! queries run one at a time on a thread of its own: every guest's `hello` asks whether its
//! name is an account's, and on Tokio's blocking pool a burst of connections would start a
//! thread (and a stack) for each one in flight. Reads of one account run on the caller's
//! thread when they can (`store::sqlite::OwnThread`), and on that thread otherwise.

use super::{
    Account, AccountId, Accounts, CreateError, Lifetimes, NewAccount, SESSIONS_PER_ACCOUNT,
};
use crate::error::StoreError;
use crate::nick_key::NickKey;
use crate::store::sqlite::{err, OwnThread};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use shared::{Nickname, Timestamp};
use std::path::Path;
use subtle::ConstantTimeEq;

/// A lookup records a session's use only when the recorded one is older than this, so that
/// most lookups write nothing: idle expiry is then exact to within this much.
const TOUCH_AFTER_MS: i64 = 60_000;

const ACCOUNT_COLUMNS: &str = "id, name, phc, external, disabled, created";

pub struct SqliteAccounts {
    db: OwnThread,
}

impl SqliteAccounts {
    /// Opens `<data_dir>/chat.db` (creating the directory and the database if missing) and
    /// brings its schema up to date, beside a running store or alone.
    pub fn open(data_dir: &Path) -> Result<SqliteAccounts, StoreError> {
        Ok(SqliteAccounts {
            db: OwnThread::open(data_dir, "accounts")?,
        })
    }
}

fn row_to_account(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    let id: i64 = r.get(0)?;
    let name: String = r.get(1)?;
    let disabled: i64 = r.get(4)?;
    Ok(Account {
        id: id as AccountId,
        name: Nickname::new(name).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?,
        phc: r.get(2)?,
        external: r.get(3)?,
        disabled: disabled != 0,
        created: r.get(5)?,
    })
}

/// The account found by `column = value`.
fn account_where(
    c: &Connection,
    column: &str,
    value: impl rusqlite::ToSql,
) -> rusqlite::Result<Option<Account>> {
    c.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {column} = ?1"
    ))?
    .query_row([value], row_to_account)
    .optional()
}

/// An id as SQLite stores it; `None` for one above any stored id.
fn sql_id(id: AccountId) -> Option<i64> {
    i64::try_from(id).ok()
}

/// `since` is at least `ms` before `now`.
fn expired(now: Timestamp, since: Timestamp, ms: i64) -> bool {
    now.saturating_sub(since) >= ms
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

#[async_trait]
impl Accounts for SqliteAccounts {
    async fn create(&self, new: NewAccount) -> Result<Account, CreateError> {
        self.db
            .run(move |c| {
                let key = NickKey::of(&new.name);
                let tx = c
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(err)?;
                if new.cap > 0 {
                    let count: i64 = tx
                        .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
                        .map_err(err)?;
                    if count as u64 >= new.cap {
                        return Err(CreateError::Full);
                    }
                }
                let inserted = tx.execute(
                    "INSERT INTO accounts (name, name_key, phc, external, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        new.name.as_str(),
                        key.as_str(),
                        new.phc,
                        new.external,
                        new.now
                    ],
                );
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(CreateError::Exists),
                    Err(e) => return Err(err(e).into()),
                }
                let id = tx.last_insert_rowid();
                tx.commit().map_err(err)?;
                Ok(Account {
                    id: id as AccountId,
                    name: new.name,
                    phc: new.phc,
                    external: new.external,
                    disabled: false,
                    created: new.now,
                })
            })
            .await
    }

    async fn by_key(&self, key: &NickKey) -> Result<Option<Account>, StoreError> {
        let key = key.as_str().to_string();
        self.db
            .read(move |c| account_where(c, "name_key", &key))
            .await
    }

    async fn by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
        let Some(id) = sql_id(id) else {
            return Ok(None);
        };
        self.db.read(move |c| account_where(c, "id", id)).await
    }

    async fn by_external(&self, sub: &str) -> Result<Option<Account>, StoreError> {
        let sub = sub.to_string();
        self.db
            .read(move |c| account_where(c, "external", &sub))
            .await
    }

    async fn registered(&self, keys: &[NickKey]) -> Result<Vec<NickKey>, StoreError> {
        let keys = keys.to_vec();
        self.db
            .query(move |c| {
                let mut stmt = c.prepare_cached("SELECT 1 FROM accounts WHERE name_key = ?1")?;
                let mut found = Vec::new();
                for k in keys {
                    if stmt.exists([k.as_str()])? {
                        found.push(k);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn set_password(&self, id: AccountId, phc: &str) -> Result<bool, StoreError> {
        let Some(id) = sql_id(id) else {
            return Ok(false);
        };
        let phc = phc.to_string();
        self.db
            .query(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                if tx.execute(
                    "UPDATE accounts SET phc = ?2 WHERE id = ?1",
                    params![id, phc],
                )? == 0
                {
                    return Ok(false);
                }
                tx.execute("DELETE FROM sessions WHERE account = ?1", [id])?;
                note_revocation(&tx, id)?;
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<bool, StoreError> {
        let Some(id) = sql_id(id) else {
            return Ok(false);
        };
        self.db
            .query(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let n = tx.execute(
                    "UPDATE accounts SET disabled = ?2 WHERE id = ?1",
                    params![id, disabled as i64],
                )?;
                if n == 0 {
                    return Ok(false);
                }
                if disabled {
                    tx.execute("DELETE FROM sessions WHERE account = ?1", [id])?;
                    note_revocation(&tx, id)?;
                }
                tx.commit()?;
                Ok(true)
            })
            .await
    }

    async fn list(&self, after: AccountId, limit: usize) -> Result<Vec<Account>, StoreError> {
        let Some(after) = sql_id(after) else {
            return Ok(Vec::new());
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.db
            .query(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2"
                ))?
                .query_map([after, limit], row_to_account)?
                .collect()
            })
            .await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.db
            .query(|c| {
                c.query_row("SELECT count(*) FROM accounts", [], |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
            })
            .await
    }

    async fn create_session(
        &self,
        hash: [u8; 32],
        account: AccountId,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(account) = sql_id(account) else {
            return Err(StoreError::Unavailable(format!(
                "account id {account} is out of range"
            )));
        };
        self.db
            .query(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute(
                    "INSERT OR REPLACE INTO sessions (hash, account, created, last_used)
                 VALUES (?1, ?2, ?3, ?3)",
                    params![&hash[..], account, now],
                )?;
                tx.execute(
                    "DELETE FROM sessions WHERE account = ?1 AND hash NOT IN (
                    SELECT hash FROM sessions WHERE account = ?1
                    ORDER BY last_used DESC LIMIT ?2)",
                    params![account, SESSIONS_PER_ACCOUNT as i64],
                )?;
                tx.commit()
            })
            .await
    }

    /// Records the use only when the recorded one is older than `TOUCH_AFTER_MS`: idle
    /// expiry is exact to within a minute, and most lookups write nothing.
    async fn session(
        &self,
        hash: &[u8; 32],
        now: Timestamp,
        life: Lifetimes,
    ) -> Result<Option<AccountId>, StoreError> {
        let hash = *hash;
        self.db
            .query(move |c| {
                let found = c
                    .prepare_cached(
                        "SELECT hash, account, created, last_used FROM sessions WHERE hash = ?1",
                    )?
                    .query_row([&hash[..]], |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    })
                    .optional()?;
                let Some((stored, account, created, last_used)) = found else {
                    return Ok(None);
                };
                if !bool::from(stored.as_slice().ct_eq(&hash[..])) {
                    return Ok(None);
                }
                if expired(now, last_used, life.idle_ms) || expired(now, created, life.absolute_ms)
                {
                    c.prepare_cached("DELETE FROM sessions WHERE hash = ?1")?
                        .execute([&hash[..]])?;
                    return Ok(None);
                }
                if now.saturating_sub(last_used) > TOUCH_AFTER_MS {
                    c.prepare_cached("UPDATE sessions SET last_used = ?2 WHERE hash = ?1")?
                        .execute(params![&hash[..], now])?;
                }
                Ok(Some(account as AccountId))
            })
            .await
    }

    async fn delete_session(&self, hash: &[u8; 32]) -> Result<Option<AccountId>, StoreError> {
        let hash = *hash;
        self.db
            .query(move |c| {
                c.prepare_cached("DELETE FROM sessions WHERE hash = ?1 RETURNING account")?
                    .query_row([&hash[..]], |r| r.get::<_, i64>(0))
                    .optional()
                    .map(|a| a.map(|a| a as AccountId))
            })
            .await
    }

    async fn delete_sessions(&self, account: AccountId) -> Result<(), StoreError> {
        let Some(account) = sql_id(account) else {
            return Ok(());
        };
        self.db
            .query(move |c| {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute("DELETE FROM sessions WHERE account = ?1", [account])?;
                note_revocation(&tx, account)?;
                tx.commit()
            })
            .await
    }

    async fn revocations(&self, after: Option<u64>) -> Result<(u64, Vec<AccountId>), StoreError> {
        self.db
            .query(move |c| {
                let last: i64 =
                    c.query_row("SELECT coalesce(max(seq), 0) FROM revocations", [], |r| {
                        r.get(0)
                    })?;
                let Some(after) = after else {
                    return Ok((last as u64, Vec::new()));
                };
                let mut stmt = c.prepare_cached(
                    "SELECT DISTINCT account FROM revocations WHERE seq > ?1 AND seq <= ?2",
                )?;
                let rows = stmt.query_map(params![after as i64, last], |r| r.get::<_, i64>(0))?;
                let accounts = rows
                    .map(|r| r.map(|a| a as AccountId))
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((last as u64, accounts))
            })
            .await
    }
}

/// Revocations kept for running servers to read: they poll every few seconds, so the newest
/// thousand are plenty.
const REVOCATIONS_KEPT: i64 = 1000;

/// Records that the sessions of `account` ended, for every server on this database to close
/// its connections (`Accounts::revocations`).
fn note_revocation(tx: &rusqlite::Transaction<'_>, account: i64) -> rusqlite::Result<()> {
    tx.execute("INSERT INTO revocations (account) VALUES (?1)", [account])?;
    tx.execute(
        "DELETE FROM revocations WHERE seq <= (SELECT max(seq) FROM revocations) - ?1",
        [REVOCATIONS_KEPT],
    )?;
    Ok(())
}
