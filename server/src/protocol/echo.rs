//! The seeds' first server, on `/ws`: each text frame comes straight back to its sender as it
//! came. Nothing is stored and nobody else sees it; the connection's limits (size, rate, idle,
//! binary frames) are the ones every endpoint has (`crate::connection`).

use super::{Flow, Protocol};
use crate::hub::Conn;
use crate::outbound::text_frame;
use std::sync::Arc;

/// An echo session: only the connection, to queue the echo on.
pub struct EchoProtocol {
    conn: Arc<Conn>,
}

impl EchoProtocol {
    pub fn new(conn: Arc<Conn>) -> Self {
        EchoProtocol { conn }
    }
}

impl Protocol for EchoProtocol {
    async fn on_text(&mut self, text: &str) -> Flow {
        // A full queue closes the connection as a slow consumer (`Conn::push`): the reader
        // then stops at the close, so nothing else is needed here.
        self.conn.push(text_frame(text));
        Flow::Continue
    }

    /// No hello: the idle timeout applies from the start.
    fn started(&self) -> bool {
        true
    }

    /// The echo has no error frame (the seeds' page shows every frame as an echo): a frame
    /// over the rate is dropped, and a flood is closed with 1008 by the connection.
    fn on_rate_limited(&mut self) {}

    fn end(&mut self) {}
}
