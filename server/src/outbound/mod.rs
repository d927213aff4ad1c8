//! A connection's outbound side: a bounded queue of encoded frames, written to the socket by
//! whoever has something to send, never by a task per connection.
//! - `frame`: server frames; `conn`: [`Conn`], a connection's queue and state, and [`Bounds`].
//! - `event`: [`Event`](event::Event), what wakes a connection's task.
//! - `flusher`: the [`Flusher`]'s passes, which run [`Job`]s and write scheduled connections.
//! - `socket`: [`SocketIo`], the socket as tungstenite sees it; `pipe`: [`Pipe`], a
//!   long-polling session's socket, in memory; `tests`: reading frames back.

mod conn;
mod event;
mod flusher;
mod frame;
mod pipe;
mod socket;
#[cfg(test)]
pub(crate) mod tests;

pub use conn::{Bounds, Conn, ConnId, Sink};
pub use flusher::{Flusher, Job};
pub use frame::{close_frame, json_frame, ping_frame, text_frame};
pub use pipe::{AckTooFar, Pipe, Taken};
pub use socket::SocketIo;
