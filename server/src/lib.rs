//! The chat hub: a Tokio + tokio-tungstenite server for the protocol in the `shared` crate.
//!
//! Layout, in the order a message travels:
//! - `server`: the accept loop and routing of the one port (WebSocket, `/healthz`, `/readyz`,
//!   `/metrics`, the web client's files); [`open`], [`run`] and [`serve`] are the entry
//!   points. `http`: request heads, the upgrade answer, static files, the Origin allowlist.
//!   [`listen`]: the listening socket and its queue.
//! - [`limits`]: connections and their rate per client address, seen through trusted proxies.
//! - `connection`: one WebSocket's task: reading, heartbeat, limits, the close handshake.
//! - `protocol`: what the connection speaks: `typed` on `/chat`, `demo` on `/ws/<nick>`,
//!   `echo` on `/ws`.
//! - [`hub`]: users, rooms, idempotent sends, per-room order and fan-out.
//! - [`store`]: history ([`store::History`]) and appends ([`store::Journal`]), in SQLite or
//!   memory.
//! - `outbound`: each connection's bounded queue of encoded frames and the flusher that
//!   writes them (one vectored send per connection per pass, no task per delivery).
//! - [`broker`]: the seams to other nodes (events, nickname claims, presence, a shared log)
//!   and their single-node implementations; [`cluster`]: the same on Redis.
//! - [`cli`]: operator commands run instead of the server (`server user …`: accounts;
//!   `server backup`: a copy of the SQLite store).
//! - [`config`]: flags with environment twins; [`metrics`]: counters for `/metrics`;
//!   `shutdown`: the signal future; `util`: the lock, random ids, the clock.

pub mod admission;
pub mod auth;
pub mod backends;
pub mod broker;
pub mod cli;
pub mod cluster;
pub mod config;
mod connection;
pub mod conversations;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
mod http;
pub mod hub;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod nick_key;
mod outbound;
mod protocol;
mod server;
pub mod shutdown;
pub mod store;
mod util;

pub use config::Config;
#[doc(hidden)]
pub use http::assets::embedded_file_count as embedded_client_files;
pub use http::serve_metrics;
pub use hub::Hub;
pub use server::{open, run, serve};
