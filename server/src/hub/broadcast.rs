//! A broadcast encoded once: the same bytes go to every receiver of a protocol.

use crate::outbound::json_frame;
use bytes::Bytes;
use shared::{DemoMessage, ServerMessage};
use std::sync::{Arc, OnceLock};

/// A broadcast event, encoded once as a WebSocket frame on first use: the same bytes go to
/// every receiver. Chat messages also have what a demo-protocol user sees. Each form is
/// encoded only if a receiver of that protocol is there.
pub struct Fanout {
    msg: ServerMessage,
    pub(super) typed: OnceLock<Bytes>,
    pub(super) demo: OnceLock<Bytes>,
}

impl Fanout {
    pub fn event(msg: ServerMessage) -> Arc<Fanout> {
        Arc::new(Fanout {
            msg,
            typed: OnceLock::new(),
            demo: OnceLock::new(),
        })
    }

    /// The typed protocol's frame.
    pub fn typed(&self) -> &Bytes {
        self.typed.get_or_init(|| json_frame(&self.msg))
    }

    /// The frame a receiver of this protocol gets, if it gets this event at all.
    pub(crate) fn frame(&self, demo: bool) -> Option<&Bytes> {
        if demo {
            self.demo()
        } else {
            Some(self.typed())
        }
    }

    /// The demo's `{"sender","msg"}` frame: chat messages only (room and direct).
    pub fn demo(&self) -> Option<&Bytes> {
        let (sender, text) = match &self.msg {
            ServerMessage::Message(m) => (&m.sender, &m.text),
            ServerMessage::Direct(d) => (&d.from, &d.text),
            _ => return None,
        };
        Some(self.demo.get_or_init(|| {
            json_frame(&DemoMessage {
                sender: sender.as_str(),
                msg: text.as_str(),
            })
        }))
    }
}
