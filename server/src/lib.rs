//! The chat hub: a Tokio + tokio-tungstenite server for the protocol in the `shared` crate.
//!
//! Layout:
//! - [`config`]: command-line flags with environment twins.
//! - `server`: the accept loop and routing of the one port (WebSocket, `/healthz`, `/metrics`,
//!   the web client's files); [`run`] and [`serve`] are the entry points.
//! - `http`: request heads, the upgrade answer, static files, the Origin allowlist.
//! - `connection`: one WebSocket's task: reading, heartbeat, limits, the close handshake.
//! - `outbound`: a connection's bounded queue of encoded frames and the flusher that writes
//!   them (one `writev` per connection per pass, no task per delivery).
//! - `session`: the typed protocol on `/chat`; `legacy`: the demo protocol on `/ws/<nick>`.
//! - [`hub`]: users, rooms, ordered fan-out, idempotent sends.
//! - [`store`]: the storage trait and its implementations.
//! - [`metrics`]: counters for `/metrics`; `shutdown`: the signal future.

pub mod broker;
pub mod cluster;
pub mod config;
mod connection;
pub mod error;
mod http;
pub mod hub;
mod legacy;
pub mod metrics;
mod outbound;
mod server;
mod session;
pub mod shutdown;
pub mod store;
mod util;

pub use config::Config;
pub use hub::Hub;
pub use server::{run, serve};
