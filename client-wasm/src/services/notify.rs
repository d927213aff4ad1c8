//! Browser notifications for direct messages and mentions while the tab is hidden, shown by one
//! tab only: every tab of the user that gets the message posts a claim on a `BroadcastChannel`
//! (`chat-notify-<nick>`), and after a short wait only the tab that lost no claim notifies. A
//! visible tab wins every claim (the user is looking), then the lowest tab number; a tab skips
//! what another tab of this browser muted for a guest (`chat.kept`, see `storage`; a signed-in
//! user's mutes reach every tab from the server). Permission is asked only on the user's click
//! ([`ask_permission`]), never on load.
//!
//! Browser glue through and through, so it is written in JavaScript: a few hundred bytes there
//! instead of several kilobytes of bindings in the wasm.

use shared::MessageId;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
let channel = null, name = null;
const me = Math.random(), lost = [], waiting = new Map();
const usable = () => typeof Notification === 'function';
export function can_ask() { return usable() && Notification.permission === 'default'; }
export function ask(done) { if (usable()) Notification.requestPermission().then(() => done(), () => done()); }
const muted = (tag) => {
  try { return (JSON.parse(localStorage.getItem('chat.kept')).muted || []).includes(tag); } catch (e) { return false; }
};
export function listen(nick) {
  if (name !== nick) {
    if (channel) channel.close();
    name = nick;
    channel = new BroadcastChannel('chat-notify-' + nick);
    channel.onmessage = (e) => {
      const [k, tab, visible] = Array.isArray(e.data) ? e.data : [];
      if (typeof k !== 'string' || !(visible || tab < me)) return;
      clearTimeout(waiting.get(k));
      waiting.delete(k);
      lost.push(k);
      if (lost.length > 200) lost.shift();
    };
  }
}
export function offer(nick, key, title, body, tag) {
  listen(nick);
  const visible = !document.hidden;
  channel.postMessage([key, me, visible]);
  if (visible || lost.includes(key) || muted(tag)) return;
  waiting.set(key, setTimeout(() => {
    waiting.delete(key);
    if (document.hidden && usable() && Notification.permission === 'granted') {
      new Notification(title, { body, tag });
    }
  }, 250));
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = can_ask)]
    fn js_can_ask() -> bool;
    #[wasm_bindgen(js_name = ask)]
    fn js_ask(done: &JsValue);
    #[wasm_bindgen(js_name = listen)]
    fn js_listen(nick: &str);
    #[wasm_bindgen(js_name = offer)]
    fn js_offer(nick: &str, key: &str, title: &str, body: &str, tag: &str);
}

/// The user has not been asked yet: the page offers a button that asks.
pub fn can_ask() -> bool {
    js_can_ask()
}

/// Asks for permission (on a click); `done` runs once the user has answered.
pub fn ask_permission(done: impl FnOnce() + 'static) {
    js_ask(&Closure::once_into_js(done));
}

/// Hears the claims of `nick`'s other tabs from now on (from `welcome`: a claim posted before a
/// tab listens never reaches it).
pub fn listen(nick: &str) {
    js_listen(nick);
}

/// A message that may notify `nick`: claim it, and show it if no other tab wins the claim.
pub fn offer(nick: &str, title: &str, body: &str, tag: &str, id: MessageId) {
    let key = [tag, "#", &id.to_string()].concat();
    js_offer(nick, &key, title, body, tag);
}
