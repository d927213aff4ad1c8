//! The browser chat client: Yew function components over the browser `WebSocket` (or long
//! polling where WebSocket does not work).
//!
//! Layout:
//! - [`state`]: the whole client state and its reducer (actions in, effects out). No browser
//!   calls, so `cargo test` covers it on the host.
//! - [`services`]: I/O. [`services::socket`] is the link to the server: WebSocket first, long
//!   polling as the fallback;
//!   [`services::driver`] feeds the reducer and carries out its effects (socket, timers).
//! - [`components`]: one function component per file; they get data and callbacks as props.
//! - [`app`]: the root component: starts the driver and lays the components out.

pub mod app;
pub mod components;
pub mod services;
pub mod state;

pub use app::App;
