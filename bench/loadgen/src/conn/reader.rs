//! The receive side of a client: messages out of its receive buffer, and when they arrived.

use std::io::{self, Read};

use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::clock::now_ns;
use super::frames::MAX_MESSAGE;
use super::{Next, Rx, Step, Ws};

impl Ws {
    /// Forgets that the last read emptied the socket. Skipping the next read is only right
    /// while this task has not waited since: a wait lets the runtime see new data arrive, and
    /// skipping would then clear that readiness and lose the wake-up. Called after every wait
    /// in here, and by callers that wait on something else between two reads.
    pub fn rearm(&self) {
        self.ws.borrow_mut().get_mut().drained = false;
    }

    /// When the message just returned by `next`/`try_next` reached this client's socket, on the
    /// `now_ns` clock: the kernel's receive timestamp of the read that completed it. That is
    /// the server's delivery, whatever this process was busy with; a backlog in the load
    /// generator does not count as the server's latency. A read that brought several messages
    /// gives all of them its last byte's time (an upper bound for the earlier ones). Without a
    /// timestamp (not enabled, or none given), the current time.
    pub fn arrived_ns(&self) -> u64 {
        let now = now_ns();
        match self.arrived.get() {
            0 => now,
            at => at.min(now),
        }
    }

    /// The next message, waiting for the socket as needed.
    pub async fn next(&self) -> Next {
        loop {
            if let Some(next) = self.try_next() {
                return next;
            }
            if let Err(e) = self.tcp.readable().await {
                return Some(Err(e.into()));
            }
        }
    }

    /// The next message if one can be read without waiting (`None`: nothing yet).
    pub fn try_next(&self) -> Option<Next> {
        let mut text = None;
        match self.try_step(|t| text = Some(t.to_vec())) {
            Step::Pending => None,
            Step::Other(next) => Some(next),
            Step::Text => Some(Some(match String::from_utf8(text.unwrap_or_default()) {
                Ok(t) => Ok(Message::text(t)),
                Err(e) => Err(tungstenite::Error::Utf8(e.to_string())),
            })),
        }
    }

    /// Waits until `try_step` may find something: a whole frame is buffered, or the socket
    /// became readable (it may still find nothing: a spurious wake-up).
    pub async fn ready(&self) -> io::Result<()> {
        if matches!(self.rx.borrow().peek(), Ok(Some(_)) | Err(_)) {
            return Ok(());
        }
        // This waits: the next read must really read (see `rearm`).
        self.rearm();
        self.tcp.readable().await
    }

    /// The next message if one can be read without waiting. A text goes to `on_text` straight
    /// from the receive buffer; everything else comes back as `try_next` would return it.
    pub fn try_step(&self, on_text: impl FnOnce(&[u8])) -> Step {
        let mut rx = self.rx.borrow_mut();
        loop {
            let f = match rx.frame() {
                Ok(Some(f)) => f,
                Ok(None) => {
                    let mut ws = self.ws.borrow_mut();
                    let room = rx.room();
                    match ws.get_mut().read(room) {
                        Ok(0) => return Step::Other(None),
                        Ok(n) => {
                            rx.end += n;
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Step::Other(Some(Err(e.into()))),
                    }
                }
                Err(e) => {
                    let e = io::Error::new(io::ErrorKind::InvalidData, e);
                    return Step::Other(Some(Err(e.into())));
                }
            };
            let Rx { buf, partial, .. } = &mut *rx;
            let payload = &buf[f.at..f.at + f.len];
            match (f.opcode, partial.is_some()) {
                (1, false) if f.fin => {
                    on_text(payload);
                    return Step::Text;
                }
                (2, false) if f.fin => {
                    return Step::Other(Some(Ok(Message::Binary(payload.to_vec().into()))))
                }
                (1 | 2, false) => *partial = Some((f.opcode, payload.to_vec())),
                (0, true) => {
                    let (opcode, mut whole) = partial.take().unwrap_or_default();
                    whole.extend_from_slice(payload);
                    if whole.len() > MAX_MESSAGE {
                        let e = io::Error::new(io::ErrorKind::InvalidData, "message too large");
                        return Step::Other(Some(Err(e.into())));
                    }
                    if !f.fin {
                        *partial = Some((opcode, whole));
                    } else if opcode == 1 {
                        on_text(&whole);
                        return Step::Text;
                    } else {
                        return Step::Other(Some(Ok(Message::Binary(whole.into()))));
                    }
                }
                (8, _) => {
                    let frame = (payload.len() >= 2).then(|| CloseFrame {
                        code: u16::from_be_bytes([payload[0], payload[1]]).into(),
                        reason: String::from_utf8_lossy(&payload[2..]).into_owned().into(),
                    });
                    return Step::Other(Some(Ok(Message::Close(frame))));
                }
                (9, _) => {
                    // Answered at once (best effort: a full socket drops the pong).
                    let ping = payload.to_vec();
                    let mut ws = self.ws.borrow_mut();
                    let _ = ws.write(Message::Pong(ping.clone().into()));
                    let _ = ws.flush();
                    return Step::Other(Some(Ok(Message::Ping(ping.into()))));
                }
                (10, _) => return Step::Other(Some(Ok(Message::Pong(payload.to_vec().into())))),
                (op, _) => {
                    let e = io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected frame (opcode {op}) from the server"),
                    );
                    return Step::Other(Some(Err(e.into())));
                }
            }
        }
    }
}
