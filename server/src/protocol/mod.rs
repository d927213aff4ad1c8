//! The protocols a chat connection speaks: `typed.rs`, the JSON protocol of the `shared`
//! crate on `/chat` (its identity messages in `hello.rs`), `demo.rs`, the classic demo's on
//! `/ws/<nickname>`, and `echo.rs`, the seeds' echo on `/ws`. The connection's task
//! (`crate::connection`) drives one of them.

mod conversations;
mod demo;
mod echo;
mod hello;
mod joined;
mod typed;

pub use demo::DemoProtocol;
pub use echo::EchoProtocol;
pub use typed::TypedProtocol;

pub(crate) use demo::percent_decode;

use shared::CloseReason;
use std::future::Future;
use std::pin::Pin;

/// What a protocol decides after one text frame.
pub enum Flow {
    Continue,
    Close(CloseReason),
    /// Go on reading, and drive this to its end meanwhile (a send waiting for the store).
    Pending(Pin<Box<dyn Future<Output = ()> + Send>>),
}

/// A protocol spoken over the connection: the typed chat protocol, the demo's or the echo.
pub trait Protocol: Send {
    /// Handles one text frame.
    fn on_text(&mut self, text: &str) -> impl Future<Output = Flow> + Send;
    /// Whether the protocol has started (hello accepted): before that, the handshake timeout
    /// applies instead of the idle timeout.
    fn started(&self) -> bool;
    /// Answers a frame refused by the rate limit.
    fn on_rate_limited(&mut self);
    /// Cleans up (leave rooms, release the nickname).
    fn end(&mut self);
}
