//! A broadcast encoded once: the same bytes go to every receiver of a protocol.

use crate::outbound::json_frame;
use bytes::Bytes;
use shared::ServerMessage;
use std::sync::{Arc, OnceLock};

/// A broadcast event, encoded once as a WebSocket frame on first use: the same bytes go to
/// every receiver. Chat messages also have what a demo-protocol user sees. Each form is
/// encoded only if a receiver of that protocol is there.
pub struct Fanout {
    msg: ServerMessage,
    pub(super) typed: OnceLock<Bytes>,
    pub(super) legacy: OnceLock<Bytes>,
}

/// The demo protocol's message, `{"sender","msg"}`, borrowed for encoding.
#[derive(serde::Serialize)]
struct LegacyRef<'a> {
    sender: &'a str,
    msg: &'a str,
}

impl Fanout {
    pub fn event(msg: ServerMessage) -> Arc<Fanout> {
        Arc::new(Fanout {
            msg,
            typed: OnceLock::new(),
            legacy: OnceLock::new(),
        })
    }

    /// The typed protocol's frame.
    pub fn typed(&self) -> &Bytes {
        self.typed.get_or_init(|| json_frame(&self.msg))
    }

    /// The frame a receiver of this protocol gets, if it gets this event at all.
    pub(crate) fn frame(&self, legacy: bool) -> Option<&Bytes> {
        if legacy {
            self.legacy()
        } else {
            Some(self.typed())
        }
    }

    /// The demo's `{"sender","msg"}` frame: chat messages only (room and direct).
    pub fn legacy(&self) -> Option<&Bytes> {
        let (sender, text) = match &self.msg {
            ServerMessage::Message(m) => (&m.sender, &m.text),
            ServerMessage::Direct(d) => (&d.from, &d.text),
            _ => return None,
        };
        Some(self.legacy.get_or_init(|| {
            json_frame(&LegacyRef {
                sender: sender.as_str(),
                msg: text.as_str(),
            })
        }))
    }
}
