//! The browser `WebSocket`, reduced to what the driver needs: open, send text, close, and one
//! callback for everything that happens to it.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// What happened on the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    Open,
    Text(String),
    /// Closed by either side; 1006 when there was no close frame (network error, refused).
    Closed {
        code: u16,
        reason: String,
    },
}

/// An open (or opening) socket. Dropping it detaches the handlers and closes it, so a replaced
/// socket can never report into the driver again.
pub struct Socket {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// The chat endpoint on the server that served this page (`ws://host/chat`, or `wss://`).
pub fn chat_url() -> String {
    let location = web_sys::window().map(|w| w.location());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_default();
    let secure = location
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    format!(
        "{}://{}{}",
        if secure { "wss" } else { "ws" },
        host,
        shared::CHAT_PATH
    )
}

impl Socket {
    /// Starts connecting to `url`. Every later event goes to `on_event`.
    pub fn connect(url: &str, on_event: impl Fn(SocketEvent) + 'static) -> Result<Socket, String> {
        let ws = WebSocket::new(url).map_err(|e| format!("{e:?}"))?;
        let on_event = std::rc::Rc::new(on_event);

        let cb = on_event.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || cb(SocketEvent::Open));
        let cb = on_event.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            // The protocol is text only; a binary frame is not ours to read.
            if let Some(text) = e.data().as_string() {
                cb(SocketEvent::Text(text));
            }
        });
        let cb = on_event;
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            cb(SocketEvent::Closed {
                code: e.code(),
                reason: e.reason(),
            });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Socket {
            ws,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    /// Sends one text frame; false if the socket is not open (the reducer's outbox keeps what
    /// matters and resends it after the reconnect).
    pub fn send(&self, text: &str) -> bool {
        self.ws.ready_state() == WebSocket::OPEN && self.ws.send_with_str(text).is_ok()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close_with_code(1000);
    }
}
