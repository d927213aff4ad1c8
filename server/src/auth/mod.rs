//! Who a connection is: accounts with Argon2id passwords, opaque session tokens, external
//! JWTs, and guests.
//!
//! - `accounts.rs`: the [`Accounts`] table (accounts and their sessions) behind one trait;
//!   `accounts/memory.rs`, `accounts/sqlite.rs`, and `crate::cluster::accounts` on Redis.
//! - `password.rs`: Argon2id hashing on the blocking pool, a cap on hashes at once.
//! - `token.rs`: session tokens (256 bits from the OS), stored only as their SHA-256.
//! - `throttle.rs`: growing delays after failed sign-ins, per (account, address).
//! - `jwt.rs`: verifying a site's JWTs (HS256, RS256, ES256).
//! - `service.rs`: signing in, registering, sessions and password changes, put together.

pub mod accounts;
pub mod jwt;
pub mod password;
pub mod service;
pub mod throttle;
pub mod token;

pub use accounts::{Account, AccountId, Accounts, CreateError, NewAccount};
pub use service::{Auth, AuthError, SignedIn};
