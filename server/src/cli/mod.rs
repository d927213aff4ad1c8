//! Operator commands, run instead of the server when the command line names one.
//!
//! - `user.rs`: `server user add | reset-password | disable | enable | list`, on the accounts
//!   in SQLite or Redis.

pub mod user;
