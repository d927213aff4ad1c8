//! The send side of a client: tungstenite frames and masks, the socket takes what it can.

use std::io;

use tokio_tungstenite::tungstenite::{self, Message};

use super::Ws;

impl Ws {
    /// Sends one message, waiting while the socket is full.
    pub async fn send(&self, msg: Message) -> Result<(), tungstenite::Error> {
        self.write(msg)?;
        self.flush().await
    }

    /// Queues one message without sending it (`flush` sends what is queued, in one write).
    pub fn write(&self, msg: Message) -> Result<(), tungstenite::Error> {
        match self.ws.borrow_mut().write(msg) {
            // Queued; the socket took part of the buffer or none of it.
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Sends everything queued, waiting while the socket is full.
    pub async fn flush(&self) -> Result<(), tungstenite::Error> {
        let mut step = self.ws.borrow_mut().flush();
        loop {
            match step {
                Err(tungstenite::Error::Io(e))
                    if e.kind() == io::ErrorKind::WouldBlock && self.write_blocked.get() =>
                {
                    self.tcp.writable().await?;
                    self.rearm();
                    step = self.ws.borrow_mut().flush();
                }
                other => return other,
            }
        }
    }
}
