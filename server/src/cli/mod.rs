//! Operator commands, run instead of the server when the command line names one.
//!
//! - `user.rs`: `server user add | reset-password | disable | enable | list`, on the accounts
//!   in SQLite or Redis.
//! - `backup.rs`: `server backup PATH`, a consistent copy of the SQLite store.

pub mod backup;
pub mod user;
