//! Browser notifications for direct messages and mentions while the tab is hidden, shown by one
//! tab only: every tab of the user that gets the message posts a claim on a `BroadcastChannel`
//! (`chat-notify-<nick>`), and after a short wait only the tab that lost no claim notifies. A
//! visible tab wins every claim (the user is looking), then the lowest tab number.
//! Permission is asked only on the user's click ([`ask_permission`]), never on load.

use gloo_timers::callback::Timeout;
use shared::MessageId;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::NotificationPermission as Permission;
use web_sys::{BroadcastChannel, MessageEvent, Notification, NotificationOptions};

/// How long a tab waits for the claims of the others.
const CLAIM_WAIT_MS: u32 = 250;
/// Claims of other tabs remembered, at most (for messages this tab has not seen yet).
const MAX_CLAIMS: usize = 200;

/// The page can show notifications at all.
fn supported() -> bool {
    web_sys::window().is_some_and(|w| {
        js_sys::Reflect::has(&w, &JsValue::from_str("Notification")).unwrap_or(false)
    })
}

/// The user has not been asked yet: the page offers a button that asks.
pub fn can_ask() -> bool {
    supported() && Notification::permission() == Permission::Default
}

/// Asks for permission (on a click); `done` runs once the user has answered.
pub fn ask_permission(done: impl FnOnce() + 'static) {
    if !supported() {
        return;
    }
    if let Ok(promise) = Notification::request_permission() {
        let done = RefCell::new(Some(done));
        let then = Closure::once(move |_: JsValue| {
            if let Some(done) = done.borrow_mut().take() {
                done();
            }
        });
        let _ = promise.then(&then);
        then.forget();
    }
}

fn hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

/// What a tab told the others about one message: (key, tab, visible).
type Claim = (String, f64, bool);

struct Shared {
    tab: f64,
    /// Our claims waiting for the others', with the timer that shows them.
    waiting: BTreeMap<String, Timeout>,
    /// Keys other tabs won.
    lost: VecDeque<String>,
}

/// One user's notifier, for this tab.
pub struct Notifier {
    channel: BroadcastChannel,
    shared: Rc<RefCell<Shared>>,
    _listener: Closure<dyn FnMut(MessageEvent)>,
}

impl Notifier {
    pub fn new(nick: &str) -> Option<Notifier> {
        let channel = BroadcastChannel::new(&["chat-notify-", nick].concat()).ok()?;
        let shared = Rc::new(RefCell::new(Shared {
            tab: js_sys::Math::random(),
            waiting: BTreeMap::new(),
            lost: VecDeque::new(),
        }));
        let state = shared.clone();
        let listener = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Some((key, tab, visible)) = read_claim(&e.data()) else {
                return;
            };
            let mut s = state.borrow_mut();
            if visible || tab < s.tab {
                s.waiting.remove(&key);
                if s.lost.len() >= MAX_CLAIMS {
                    s.lost.pop_front();
                }
                s.lost.push_back(key);
            }
        });
        channel.set_onmessage(Some(listener.as_ref().unchecked_ref()));
        Some(Notifier {
            channel,
            shared,
            _listener: listener,
        })
    }

    /// A message that may notify: claim it, and show it if no other tab wins the claim.
    pub fn offer(&self, title: String, body: String, tag: String, id: MessageId) {
        let key = [tag.as_str(), &id.to_string()].concat();
        let visible = !hidden();
        let tab = self.shared.borrow().tab;
        let claim = js_sys::Array::of3(&key.as_str().into(), &tab.into(), &visible.into());
        let _ = self.channel.post_message(&claim);
        if visible || self.shared.borrow().lost.contains(&key) {
            return;
        }
        let weak = Rc::downgrade(&self.shared);
        let k = key.clone();
        let timer = Timeout::new(CLAIM_WAIT_MS, move || {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            if shared.borrow_mut().waiting.remove(&k).is_some() && hidden() {
                show(&title, &body, &tag);
            }
        });
        self.shared.borrow_mut().waiting.insert(key, timer);
    }
}

fn read_claim(data: &JsValue) -> Option<Claim> {
    let a: &js_sys::Array = data.dyn_ref()?;
    Some((
        a.get(0).as_string()?,
        a.get(1).as_f64()?,
        a.get(2).as_bool()?,
    ))
}

fn show(title: &str, body: &str, tag: &str) {
    if !supported() || Notification::permission() != Permission::Granted {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(body);
    options.set_tag(tag);
    let _ = Notification::new_with_options(title, &options);
}
