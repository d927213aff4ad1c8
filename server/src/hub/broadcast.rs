//! A broadcast encoded once: the same bytes go to every receiver of a protocol.

use crate::outbound::json_frame;
use bytes::Bytes;
use shared::{DemoMessage, ServerMessage};
use std::sync::{Arc, OnceLock};

/// What follows a guest's name in the demo protocol's `sender` ("bob (guest)"): names cannot
/// hold spaces or parentheses, so no member's name looks like it.
pub const GUEST_MARK: &str = " (guest)";

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
        let (sender, text, guest) = match &self.msg {
            ServerMessage::Message(m) => (&m.sender, &m.text, m.guest),
            ServerMessage::Direct(d) => (&d.from, &d.text, d.guest),
            _ => return None,
        };
        Some(self.demo.get_or_init(|| {
            // A guest is marked where the demo shows a name: its `sender` string.
            let marked;
            let sender = if guest {
                marked = format!("{sender}{GUEST_MARK}");
                marked.as_str()
            } else {
                sender.as_str()
            };
            json_frame(&DemoMessage {
                sender,
                msg: text.as_str(),
            })
        }))
    }
}
