//! Signing in: what `hello`'s `auth` asks, checked against the accounts, at the cost and
//! within the limits an attacker meets. Every failure of a password is answered alike,
//! whether the account exists or not, after the same Argon2id work.

use super::accounts::{Account, AccountId, Accounts, CreateError, Lifetimes, NewAccount};
use super::jwt::JwtVerifier;
use super::password::Hasher;
use super::throttle::Throttle;
use super::token;
use crate::config::{Config, Registration};
use crate::error::StoreError;
use crate::limits::{Buckets, IpKey};
use crate::nick_key::{check_scripts, NickKey};
use crate::util::now_ms;
use shared::{CloseReason, ErrorCode, Nickname, Password};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (account, address) pairs whose failed sign-ins are remembered at once.
const THROTTLE_ENTRIES: usize = 100_000;
/// Registrations one address may make at once above the sustained rate.
const REGISTRATION_BURST: u32 = 3;
/// Password checks one address may ask for per second, sustained, and at once: each costs an
/// Argon2id hash whatever the name, so an address cycling through names (which the
/// per-account throttle does not slow) gets the hasher's time only at this rate.
const PASSWORD_CHECKS_PER_SEC: f64 = 2.0;
const PASSWORD_CHECKS_BURST: u32 = 10;

/// Why signing in (or an account request) was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong name or password")]
    Failed,
    #[error("too many failed sign-ins for this account from your address; retry in {} s", .0.as_secs().max(1))]
    TooManyAttempts(Duration),
    #[error("the session has expired or was ended; sign in again")]
    SessionExpired,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("{0}")]
    RegistrationClosed(&'static str),
    #[error(
        "a password must be at least {} characters",
        shared::types::MIN_PASSWORD_CHARS
    )]
    WeakPassword,
    #[error("the name `{0}` is taken; pick another")]
    NameTaken(Nickname),
    #[error("{0}")]
    InvalidNick(String),
    #[error("this account signs in through its site and has no password here")]
    NoPassword,
    #[error("accounts are unavailable right now; retry shortly")]
    Unavailable(#[from] StoreError),
}

impl AuthError {
    pub fn code(&self) -> ErrorCode {
        match self {
            AuthError::Failed => ErrorCode::SignInFailed,
            AuthError::TooManyAttempts(_) => ErrorCode::TooManyAttempts,
            AuthError::SessionExpired => ErrorCode::SessionExpired,
            AuthError::InvalidToken(_) => ErrorCode::InvalidToken,
            AuthError::RegistrationClosed(_) => ErrorCode::RegistrationClosed,
            AuthError::WeakPassword => ErrorCode::WeakPassword,
            AuthError::NameTaken(_) => ErrorCode::NickTaken,
            AuthError::InvalidNick(_) => ErrorCode::InvalidNick,
            AuthError::NoPassword => ErrorCode::NotSignedIn,
            AuthError::Unavailable(_) => ErrorCode::StoreUnavailable,
        }
    }

    /// How a `hello` refused for this reason closes.
    pub fn close(&self) -> CloseReason {
        match self {
            AuthError::TooManyAttempts(_) => CloseReason::TooManyAttempts,
            AuthError::NameTaken(_) => CloseReason::NickTaken,
            AuthError::InvalidNick(_) => CloseReason::InvalidNick,
            AuthError::Unavailable(_) => CloseReason::TryAgainLater,
            _ => CloseReason::AuthFailed,
        }
    }
}

/// A signed-in user: the account, and the session it holds (its token, when new, and the
/// token's hash). A JWT user has no session here.
pub struct SignedIn {
    pub account: Account,
    pub token: Option<String>,
    pub session: Option<[u8; 32]>,
}

/// Accounts, sessions, and the costs around them.
pub struct Auth {
    accounts: Arc<dyn Accounts>,
    hasher: Hasher,
    throttle: Throttle,
    jwt: Option<JwtVerifier>,
    registrations: Buckets<IpKey>,
    checks: Buckets<IpKey>,
    registration: Registration,
    max_accounts: u64,
    life: Lifetimes,
}

impl Auth {
    /// The verifier of the configured JWT keys (the key file read now), if any: a key that
    /// cannot be used is an error. `server::open` calls it before serving, so a server with a
    /// bad key does not start.
    pub fn jwt_verifier(config: &Config) -> anyhow::Result<Option<JwtVerifier>> {
        let pem =
            match &config.auth_jwt_public_key {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("--auth-jwt-public-key {}: {e}", path.display())
                })?),
                None => None,
            };
        JwtVerifier::new(config.auth_jwt_secret.as_deref(), pem.as_deref())
            .map_err(|e| anyhow::anyhow!("JWT configuration: {e}"))
    }

    pub fn new(config: &Config, accounts: Arc<dyn Accounts>) -> Auth {
        // Checked before serving (`jwt_verifier`); should the key file fail now, no JWT is
        // accepted.
        let jwt = Auth::jwt_verifier(config).unwrap_or_else(|e| {
            tracing::error!(cause = %e, "JWTs are refused");
            None
        });
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Auth {
            accounts,
            hasher: Hasher::new(config.max_concurrent_hashes.max(1)),
            throttle: Throttle::new(THROTTLE_ENTRIES),
            jwt,
            registrations: Buckets::new(config.registration_rate / 3600.0, REGISTRATION_BURST),
            checks: Buckets::new(PASSWORD_CHECKS_PER_SEC, PASSWORD_CHECKS_BURST),
            registration: config.registration,
            max_accounts: config.max_accounts,
            life: Lifetimes {
                idle_ms: ms(config.session_idle),
                absolute_ms: ms(config.session_lifetime),
            },
        }
    }

    pub fn accounts(&self) -> &Arc<dyn Accounts> {
        &self.accounts
    }

    /// Hashes being computed now (for metrics).
    pub fn hashing(&self) -> usize {
        self.hasher.in_use()
    }

    /// Signs in to the account named `nick` with `password`, from `addr`. An unknown name, a
    /// wrong password and a disabled account are one answer, after the same work.
    pub async fn sign_in(
        &self,
        nick: &Nickname,
        password: &Password,
        addr: Option<IpKey>,
    ) -> Result<SignedIn, AuthError> {
        let account = self.check_password(nick, password, addr).await?;
        self.start_session(account).await
    }

    /// The account named `nick`, if `password` is its password; counts failures against
    /// (account, address).
    async fn check_password(
        &self,
        nick: &Nickname,
        password: &Password,
        addr: Option<IpKey>,
    ) -> Result<Account, AuthError> {
        let key = NickKey::of(nick);
        let ip = addr.map(|a| a.addr());
        self.throttle
            .check(key.as_str(), ip, Instant::now())
            .map_err(AuthError::TooManyAttempts)?;
        if let Some(a) = addr {
            if !self.checks.take(&[a]) {
                let wait = Duration::from_secs_f64(1.0 / PASSWORD_CHECKS_PER_SEC);
                return Err(AuthError::TooManyAttempts(wait));
            }
        }
        let account = self.accounts.by_key(&key).await?;
        let phc = account
            .as_ref()
            .filter(|a| !a.disabled)
            .and_then(|a| a.phc.as_deref());
        let ok = self.hasher.verify(phc, password.as_str()).await;
        match account {
            Some(a) if ok && !a.disabled => {
                self.throttle.succeeded(key.as_str(), ip);
                Ok(a)
            }
            _ => {
                self.throttle.failed(key.as_str(), ip, Instant::now());
                Err(AuthError::Failed)
            }
        }
    }

    /// Creates the account `nick` and signs in. `in_use`: a guest holds the name now.
    pub async fn register(
        &self,
        nick: &Nickname,
        password: &Password,
        addr: Option<IpKey>,
        in_use: bool,
    ) -> Result<SignedIn, AuthError> {
        if self.registration == Registration::Closed {
            return Err(AuthError::RegistrationClosed(
                "registration is closed here; ask an operator for an account",
            ));
        }
        if !password.strong_enough() {
            return Err(AuthError::WeakPassword);
        }
        if let Err(e) = check_scripts(nick) {
            return Err(AuthError::InvalidNick(e.to_string()));
        }
        if in_use || self.accounts.by_key(&NickKey::of(nick)).await?.is_some() {
            return Err(AuthError::NameTaken(nick.clone()));
        }
        if let Some(a) = addr {
            if !self.registrations.take(&[a]) {
                return Err(AuthError::RegistrationClosed(
                    "too many accounts registered from your address; retry later",
                ));
            }
        }
        let phc = self
            .hasher
            .hash(password.as_str())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let new = NewAccount {
            name: nick.clone(),
            phc: Some(phc),
            external: None,
            now: now_ms(),
            cap: self.max_accounts,
        };
        let account = self.accounts.create(new).await.map_err(|e| match e {
            CreateError::Exists => AuthError::NameTaken(nick.clone()),
            CreateError::Full => {
                AuthError::RegistrationClosed("this server has all the accounts it can hold")
            }
            CreateError::Store(e) => AuthError::Unavailable(e),
        })?;
        self.start_session(account).await
    }

    /// Resumes the session whose token is `token`.
    pub async fn resume(&self, token: &str) -> Result<SignedIn, AuthError> {
        let hash = token::hash_token(token).ok_or(AuthError::SessionExpired)?;
        let id = self
            .accounts
            .session(&hash, now_ms(), self.life)
            .await?
            .ok_or(AuthError::SessionExpired)?;
        match self.accounts.by_id(id).await? {
            Some(account) if !account.disabled => Ok(SignedIn {
                account,
                token: None,
                session: Some(hash),
            }),
            _ => Err(AuthError::SessionExpired),
        }
    }

    /// Whether a connection of `account` signed in with `session` (none: by JWT) may stay:
    /// the session still holds and the account is not disabled.
    pub async fn still_valid(
        &self,
        account: AccountId,
        session: Option<[u8; 32]>,
    ) -> Result<bool, StoreError> {
        if let Some(h) = session {
            if self.accounts.session(&h, now_ms(), self.life).await? != Some(account) {
                return Ok(false);
            }
        }
        Ok(self
            .accounts
            .by_id(account)
            .await?
            .is_some_and(|a| !a.disabled))
    }

    /// Signs in the site user a JWT names; its account is made on first sight.
    pub async fn jwt(&self, jwt: &str) -> Result<SignedIn, AuthError> {
        let verifier = self.jwt.as_ref().ok_or_else(|| {
            AuthError::InvalidToken("this server does not accept JWTs".to_string())
        })?;
        let user = verifier
            .verify(jwt, now_ms())
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        let account = match self.accounts.by_external(&user.sub).await? {
            Some(a) => a,
            None => {
                let name = Nickname::new(user.name.as_str()).map_err(|e| {
                    AuthError::InvalidToken(format!("the `name` claim is not a valid name: {e}"))
                })?;
                let new = NewAccount {
                    name: name.clone(),
                    phc: None,
                    external: Some(user.sub),
                    now: now_ms(),
                    cap: self.max_accounts,
                };
                self.accounts.create(new).await.map_err(|e| match e {
                    CreateError::Exists => AuthError::NameTaken(name),
                    CreateError::Full => AuthError::RegistrationClosed(
                        "this server has all the accounts it can hold",
                    ),
                    CreateError::Store(e) => AuthError::Unavailable(e),
                })?
            }
        };
        if account.disabled {
            return Err(AuthError::Failed);
        }
        Ok(SignedIn {
            account,
            token: None,
            session: None,
        })
    }

    async fn start_session(&self, account: Account) -> Result<SignedIn, AuthError> {
        let (token, hash) = token::new_token();
        self.accounts
            .create_session(hash, account.id, now_ms())
            .await?;
        Ok(SignedIn {
            account,
            token: Some(token),
            session: Some(hash),
        })
    }

    /// Changes the password of `account` (the old one must match; failures count as failed
    /// sign-ins). Every session of the account ends; the new one returned is the caller's.
    pub async fn change_password(
        &self,
        account: AccountId,
        old: &Password,
        new: &Password,
        addr: Option<IpKey>,
    ) -> Result<SignedIn, AuthError> {
        if !new.strong_enough() {
            return Err(AuthError::WeakPassword);
        }
        let name = match self.accounts.by_id(account).await? {
            Some(a) if a.phc.is_none() => return Err(AuthError::NoPassword),
            Some(a) => a.name,
            None => return Err(AuthError::SessionExpired),
        };
        let a = self.check_password(&name, old, addr).await?;
        let phc = self
            .hasher
            .hash(new.as_str())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        if !self.accounts.set_password(a.id, &phc).await? {
            return Err(AuthError::SessionExpired);
        }
        self.start_session(a).await
    }

    /// Ends one session (`Some`) or all of the account's.
    pub async fn sign_out(
        &self,
        account: AccountId,
        session: Option<[u8; 32]>,
    ) -> Result<(), AuthError> {
        match session {
            Some(h) => {
                self.accounts.delete_session(&h).await?;
            }
            None => self.accounts.delete_sessions(account).await?,
        }
        Ok(())
    }
}
