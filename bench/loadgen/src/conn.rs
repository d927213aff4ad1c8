//! One benchmark client: connect from a spread-out loopback source address, log in with the demo
//! or the typed protocol, and stamp or read the timing marker carried in every message text.
//!
//! Layout:
//! - `connect`: source addresses, cluster nodes, connecting and logging in.
//! - `handshake`: the WebSocket upgrade, written by hand.
//! - `socket`: the socket as tungstenite sees it; reads take the kernel's arrival timestamps.
//! - `frames`: the receive buffer, in which server frames are parsed in place.
//! - `reader`: the receive side of `Ws`: messages out of that buffer.
//! - `writer`: the send side of `Ws`, through tungstenite.
//! - `marker`: the timing marker inside every message text.
//! - `clock`: the process's nanosecond clock, which the marker and the arrival times use.

mod clock;
mod connect;
mod frames;
mod handshake;
mod marker;
mod reader;
mod socket;
mod writer;

#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

pub use clock::{now_ns, paced};
pub use connect::{
    connect_after, connect_chat, connect_rooms, connect_timeout, set_extra_servers,
    set_read_buffer, source_addr, Proto, Target, ROOM,
};
pub use marker::{find_stamp, outgoing, outgoing_to, Stamp};
pub use socket::stamp_arrivals;

use frames::Rx;
use socket::Io;

/// One WebSocket client on the Tokio runtime's socket: tungstenite (the core of
/// tokio-tungstenite) frames and masks what it sends, and received frames are parsed in place
/// (`Rx`). Not through tokio-tungstenite's stream wrapper: it swaps two wakers on every poll,
/// which at millions of frames per second would make the load generator the bottleneck.
///
/// Methods take `&self`, so a reading task and a sending task can share one client (`Rc`);
/// the socket state is borrowed only inside each call, never across an await.
pub struct Ws {
    tcp: Rc<TcpStream>,
    write_blocked: Rc<Cell<bool>>,
    arrived: Rc<Cell<u64>>,
    /// tungstenite, for sending (masking, framing) and the socket; it never reads.
    ws: RefCell<WebSocket<Io>>,
    /// The receive side: frames are parsed in place in this buffer (see `Rx`).
    rx: RefCell<Rx>,
}

/// What `Ws::try_step` found.
pub enum Step {
    /// A text message, already handed to the caller's function.
    Text,
    /// Anything else, as `Ws::try_next` would give it (a close, the end, an error, a ping...).
    Other(Next),
    /// Nothing to read yet.
    Pending,
}

/// What one read of a client gave: a message, an error, or `None` once the connection ended.
pub type Next = Option<Result<Message, tungstenite::Error>>;

/// How a connection ended, as a short label (`None`: it did not, this was a message).
pub fn end_label(msg: Next) -> Option<String> {
    match msg {
        Some(Ok(Message::Close(frame))) => Some(close_label(frame.as_ref())),
        Some(Ok(_)) => None,
        Some(Err(tungstenite::Error::Io(e))) => Some(format!("io error: {:?}", e.kind())),
        Some(Err(tungstenite::Error::Protocol(p))) => Some(format!("protocol: {p}")),
        Some(Err(e)) => Some(format!("error: {e}")),
        None => Some("eof".to_owned()),
    }
}

fn close_label(frame: Option<&tungstenite::protocol::CloseFrame>) -> String {
    match frame {
        Some(f) => format!("close {}", u16::from(f.code)),
        None => "close (no code)".to_owned(),
    }
}
