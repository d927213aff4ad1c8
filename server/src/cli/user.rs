//! `server user …`: accounts from the command line, in the SQLite database under
//! `--data-dir` or, with `--redis`, in the cluster's Redis. There, a command that ends an
//! account's sessions also publishes [`crate::broker::Event::Revoke`] on the bus, so running
//! nodes close the account's connections at once. Passwords come from stdin, never from
//! arguments (which other users of the machine can see).

use crate::auth::accounts::sqlite::SqliteAccounts;
use crate::auth::accounts::{Account, AccountId, Accounts, CreateError, NewAccount};
use crate::auth::password::Hasher;
use crate::cluster::RedisAccounts;
use crate::config::{Config, StoreKind, UserCommand};
use crate::error::StoreError;
use crate::nick_key::{check_scripts, NickKey};
use crate::util::now_ms;
use shared::types::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
use shared::{Nickname, Timestamp};
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;

/// Accounts read per page by `list`.
const PAGE: usize = 100;

/// Why a command failed: the message goes to stderr and the process exits with 1.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("`{0}` cannot be an account name: {1}")]
    BadName(String, String),
    #[error("no account is named `{0}`")]
    Unknown(String),
    #[error("an account named `{0}`, or one that looks the same, exists")]
    Taken(String),
    #[error("no more accounts can be created here")]
    Full,
    #[error("no password on stdin (give it as the first line)")]
    NoPassword,
    #[error("the password is too short: at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long: at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error(
        "accounts are kept in SQLite (--store sqlite) or in Redis (--redis URL), not in memory"
    )]
    MemoryStore,
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading stdin or writing stdout failed: {0}")]
    Io(#[from] std::io::Error),
}

/// The accounts a command works on.
pub struct Backend {
    pub accounts: Arc<dyn Accounts>,
    /// With `--redis`: where revocations are announced.
    redis: Option<RedisAccounts>,
}

/// The accounts `config` names: Redis with `--redis`, else SQLite under `--data-dir`.
pub async fn open(config: &Config) -> Result<Backend, UserError> {
    if let Some(url) = &config.redis {
        let redis = RedisAccounts::connect(url).await?;
        return Ok(Backend {
            accounts: Arc::new(redis.clone()),
            redis: Some(redis),
        });
    }
    if config.store == StoreKind::Memory {
        return Err(UserError::MemoryStore);
    }
    open_sqlite(&config.data_dir)
}

/// The accounts in `chat.db` under `data_dir`: `SqliteAccounts::open(data_dir)` in an
/// `Arc`, with no bus. Refused until `crate::auth::accounts::sqlite` provides it.
fn open_sqlite(data_dir: &Path) -> Result<Backend, UserError> {
    Ok(Backend {
        accounts: Arc::new(SqliteAccounts::open(data_dir)?),
        redis: None,
    })
}

/// Runs `cmd` on the accounts `config` names, reading a password from `input` and writing
/// what it did to `out`.
pub async fn run(
    config: &Config,
    cmd: &UserCommand,
    mut input: impl BufRead,
    mut out: impl Write,
) -> Result<(), UserError> {
    match cmd {
        UserCommand::Add { name } => {
            let name = Nickname::new(name.as_str())
                .map_err(|e| UserError::BadName(name.clone(), e.to_string()))?;
            check_scripts(&name)
                .map_err(|e| UserError::BadName(name.to_string(), e.to_string()))?;
            let phc = hash(read_password(&mut input)?).await?;
            let backend = open(config).await?;
            let new = NewAccount {
                name: name.clone(),
                phc: Some(phc),
                external: None,
                now: now_ms(),
                cap: 0,
            };
            let made = match backend.accounts.create(new).await {
                Ok(made) => made,
                Err(CreateError::Exists) => return Err(UserError::Taken(name.to_string())),
                Err(CreateError::Full) => return Err(UserError::Full),
                Err(CreateError::Store(e)) => return Err(e.into()),
            };
            writeln!(out, "created account {} `{}`", made.id, made.name.as_str())?;
        }
        UserCommand::ResetPassword { name } => {
            let backend = open(config).await?;
            let account = find(&backend, name).await?;
            let phc = hash(read_password(&mut input)?).await?;
            if !backend.accounts.set_password(account.id, &phc).await? {
                return Err(UserError::Unknown(name.clone()));
            }
            revoked(&backend, account.id).await?;
            writeln!(
                out,
                "new password for `{}`; its sessions ended",
                account.name.as_str()
            )?;
        }
        UserCommand::Disable { name } | UserCommand::Enable { name } => {
            let disable = matches!(cmd, UserCommand::Disable { .. });
            let backend = open(config).await?;
            let account = find(&backend, name).await?;
            if !backend.accounts.set_disabled(account.id, disable).await? {
                return Err(UserError::Unknown(name.clone()));
            }
            if disable {
                revoked(&backend, account.id).await?;
                writeln!(
                    out,
                    "disabled `{}`; its sessions ended",
                    account.name.as_str()
                )?;
            } else {
                writeln!(out, "enabled `{}`", account.name.as_str())?;
            }
        }
        UserCommand::List => {
            let backend = open(config).await?;
            list(&backend, &mut out).await?;
        }
    }
    Ok(())
}

/// The account named `name` (or a name that looks the same).
async fn find(backend: &Backend, name: &str) -> Result<Account, UserError> {
    let unknown = || UserError::Unknown(name.to_owned());
    let nick = Nickname::new(name).map_err(|_| unknown())?;
    backend
        .accounts
        .by_key(&NickKey::of(&nick))
        .await?
        .ok_or_else(unknown)
}

/// With Redis, tells the running nodes that the sessions of `account` ended.
async fn revoked(backend: &Backend, account: AccountId) -> Result<(), UserError> {
    if let Some(redis) = &backend.redis {
        redis.publish_revoke(account).await?;
    }
    Ok(())
}

/// Every account, one a line: id, name, `enabled` or `disabled`, creation time.
async fn list(backend: &Backend, out: &mut impl Write) -> Result<(), UserError> {
    let mut after = 0;
    loop {
        let page = backend.accounts.list(after, PAGE).await?;
        for a in &page {
            let state = if a.disabled { "disabled" } else { "enabled" };
            let created = rfc3339(a.created);
            writeln!(out, "{}\t{}\t{state}\t{created}", a.id, a.name.as_str())?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = last.id,
            _ => return Ok(()),
        }
    }
}

/// The first line of `input`, without its line ending, checked for length.
fn read_password(input: &mut impl BufRead) -> Result<String, UserError> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        return Err(UserError::NoPassword);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(UserError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(UserError::TooShort);
    }
    Ok(password.to_owned())
}

/// The Argon2id hash of `password`, as the server makes it.
async fn hash(password: String) -> Result<String, UserError> {
    Hasher::new(1)
        .hash(&password)
        .await
        .map_err(|e| UserError::Hash(e.to_string()))
}

/// `ms` since the Unix epoch as an RFC 3339 time in UTC, to the second.
fn rfc3339(ms: Timestamp) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a proleptic Gregorian date, in 400-year eras of 146,097 days starting on
    // 1 March (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let (era, doe) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_999), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599_000), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn the_password_is_the_first_line() {
        let read = |s: &str| read_password(&mut s.as_bytes());
        assert_eq!(read("long enough\nrest").expect("ok"), "long enough");
        assert_eq!(read("long enough\r\n").expect("ok"), "long enough");
        assert_eq!(read("no newline at all").expect("ok"), "no newline at all");
        assert!(matches!(read("short\n"), Err(UserError::TooShort)));
        assert!(matches!(read(""), Err(UserError::NoPassword)));
        assert!(matches!(read("\n"), Err(UserError::NoPassword)));
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(read(&long), Err(UserError::TooLong)));
    }
}
