//! Drives the reducer in the browser: user actions, socket events and timers go in as
//! [`Action`]s, one at a time; the [`Effect`]s that come out are carried out here (open or close
//! the socket, send frames, arm the reconnect timer, save or forget the session, notify); each
//! change is published to the UI as a new snapshot. What the browser keeps for the next load is
//! written when the page goes or is hidden (and at once for a mute).

use crate::services::socket::{Socket, SocketEvent};
use crate::services::{notify, route, storage};
use crate::state::{Action, ChatState, Effect, Saved};
use gloo_timers::callback::{Interval, Timeout};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

/// Milliseconds since the epoch, the reducer's clock.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A handle on the running driver; clones share it.
#[derive(Clone)]
pub struct Driver {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    state: ChatState,
    /// The chat's WebSocket path on this page's server.
    path: String,
    socket: Option<Socket>,
    reconnect: Option<Timeout>,
    tick: Option<Interval>,
    /// The `visibilitychange`, `hashchange` and `pagehide` listeners, kept alive with the
    /// driver.
    listeners: Vec<Closure<dyn FnMut()>>,
    publish: Rc<dyn Fn(Rc<ChatState>)>,
    published: u64,
    /// Actions that arrived while one was being handled: handled in order, never nested.
    queue: VecDeque<Action>,
    busy: bool,
}

impl Driver {
    /// A driver talking to the WebSocket at `path` on this page's server (or long polling, see
    /// `socket`); `publish` gets a snapshot after every visible change.
    pub fn new(path: String, publish: impl Fn(Rc<ChatState>) + 'static) -> Driver {
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        let state = ChatState::new(seed ^ now_ms() as u64, now_ms());
        let driver = Driver {
            inner: Rc::new(RefCell::new(Inner {
                published: state.version,
                state,
                path,
                socket: None,
                reconnect: None,
                tick: None,
                listeners: Vec::new(),
                publish: Rc::new(publish),
                queue: VecDeque::new(),
                busy: false,
            })),
        };
        let weak = Rc::downgrade(&driver.inner);
        let tick = Interval::new(1_000, move || {
            if let Some(inner) = weak.upgrade() {
                Driver { inner }.dispatch(Action::Tick);
            }
        });
        driver.inner.borrow_mut().tick = Some(tick);
        driver.watch();
        if let Some(doc) = web_sys::window().and_then(|w| w.document()) {
            driver.dispatch(Action::Visible(!doc.hidden()));
        }
        driver
    }

    /// Reports the page's visibility (a hidden tab marks nothing read) and address changes
    /// (back, forward) to the reducer.
    fn watch(&self) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let Some(document) = window.document() else {
            return;
        };
        let doc = document.clone();
        let weak = Rc::downgrade(&self.inner);
        let on_visibility = self.listener(move || {
            if doc.hidden() {
                if let Some(inner) = weak.upgrade() {
                    Driver { inner }.persist();
                }
            }
            Action::Visible(!doc.hidden())
        });
        let _ = document.add_event_listener_with_callback(
            "visibilitychange",
            on_visibility.as_ref().unchecked_ref(),
        );
        let on_hash = self.listener(|| Action::Route(route::current()));
        let _ =
            window.add_event_listener_with_callback("hashchange", on_hash.as_ref().unchecked_ref());
        let weak = Rc::downgrade(&self.inner);
        let on_leave = Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                Driver { inner }.persist();
            }
        });
        let _ =
            window.add_event_listener_with_callback("pagehide", on_leave.as_ref().unchecked_ref());
        self.inner.borrow_mut().listeners = vec![on_visibility, on_hash, on_leave];
    }

    /// Writes what the browser keeps for the next page load: when the page goes (reload,
    /// close, another address) or is hidden (a phone may never say it goes).
    fn persist(&self) {
        let inner = self.inner.borrow();
        if let Some(kept) = inner.state.kept() {
            storage::keep(&kept, inner.state.guest);
        }
    }

    /// A listener that dispatches the action `make` returns.
    fn listener(&self, make: impl Fn() -> Action + 'static) -> Closure<dyn FnMut()> {
        let weak = Rc::downgrade(&self.inner);
        Closure::<dyn FnMut()>::new(move || {
            if let Some(inner) = weak.upgrade() {
                Driver { inner }.dispatch(make());
            }
        })
    }

    /// The current state (for a first render).
    pub fn snapshot(&self) -> Rc<ChatState> {
        Rc::new(self.inner.borrow().state.clone())
    }

    /// Feeds one action to the reducer and carries out its effects.
    pub fn dispatch(&self, action: Action) {
        {
            let mut inner = self.inner.borrow_mut();
            inner.queue.push_back(action);
            if inner.busy {
                return;
            }
            inner.busy = true;
        }
        loop {
            let effects = {
                let mut inner = self.inner.borrow_mut();
                let Some(action) = inner.queue.pop_front() else {
                    inner.busy = false;
                    break;
                };
                inner.state.apply(action, now_ms())
            };
            for effect in effects {
                self.run(effect);
            }
        }
        let update = {
            let mut inner = self.inner.borrow_mut();
            if inner.state.version == inner.published {
                None
            } else {
                inner.published = inner.state.version;
                Some((inner.publish.clone(), Rc::new(inner.state.clone())))
            }
        };
        if let Some((publish, snapshot)) = update {
            publish(snapshot);
        }
    }

    /// A probe WebSocket opened while on long polling: give it the `hello` that keeps this
    /// user (see `socket`).
    fn probe_hello(&self) {
        let inner = self.inner.borrow();
        let hello = inner.state.probe_hello().map(|m| m.to_json());
        if let Some(socket) = &inner.socket {
            socket.hello(hello);
        }
    }

    fn run(&self, effect: Effect) {
        match effect {
            Effect::Open => {
                let weak: Weak<RefCell<Inner>> = Rc::downgrade(&self.inner);
                let path = self.inner.borrow().path.clone();
                // Drop the old socket first: its handlers go before the new one can report.
                self.inner.borrow_mut().socket = None;
                let socket = Socket::connect(&path, move |event| {
                    let Some(inner) = weak.upgrade() else {
                        return;
                    };
                    let driver = Driver { inner };
                    driver.dispatch(match event {
                        SocketEvent::Open => Action::Opened,
                        SocketEvent::Text(text) => Action::Received(text),
                        SocketEvent::Closed { code, reason } => Action::Closed { code, reason },
                        SocketEvent::Via(polling) => Action::Via { polling },
                        SocketEvent::Hello => return driver.probe_hello(),
                    });
                });
                self.inner.borrow_mut().socket = Some(socket);
            }
            Effect::Send(msg) => {
                if let Some(socket) = &self.inner.borrow().socket {
                    socket.send(&msg.to_json());
                }
            }
            Effect::Close => {
                self.inner.borrow_mut().socket = None;
            }
            Effect::ScheduleReconnect { delay_ms } => {
                let weak = Rc::downgrade(&self.inner);
                let timer = Timeout::new(delay_ms, move || {
                    if let Some(inner) = weak.upgrade() {
                        Driver { inner }.dispatch(Action::ReconnectDue);
                    }
                });
                self.inner.borrow_mut().reconnect = Some(timer);
            }
            Effect::CancelReconnect => {
                self.inner.borrow_mut().reconnect = None;
            }
            Effect::Save(saved) => {
                let (Saved::Member { nick, .. } | Saved::Guest { nick, .. }) = &saved;
                notify::listen(nick.as_str());
                storage::save(&saved);
            }
            Effect::Forget => storage::forget(),
            Effect::Keep => self.persist(),
            Effect::Notify {
                title,
                body,
                tag,
                id,
            } => {
                if let Some(nick) = &self.inner.borrow().state.nick {
                    notify::offer(nick.as_str(), &title, &body, &tag, id);
                }
            }
        }
    }
}
