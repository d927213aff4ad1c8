//! Browser notifications for direct messages and mentions while the tab is hidden, shown by one
//! tab only: every tab of the user that gets the message posts a claim on a `BroadcastChannel`
//! (`chat-notify-<nick>`), and after a short wait only the tab that lost no claim notifies. A
//! claim heard before a tab's own wins; of claims posted at once, a visible tab's wins (the user
//! is looking), then the lowest tab number. Tabs also say on that channel when they come on
//! screen or leave it (again every 20 s while on screen, so a tab that died unheard stops
//! counting after 45 s): while one is on screen none notifies, however late its own copy of the
//! message arrives. A tab skips what another tab of this browser muted for a guest (`chat.kept`,
//! see `storage`; a signed-in user's mutes reach every tab from the server). Permission is asked
//! only on the user's click ([`ask_permission`]), never on load.
//!
//! Browser glue through and through, so it is written in JavaScript: a few hundred bytes there
//! instead of several kilobytes of bindings in the wasm.

use shared::MessageId;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
let channel = null, name = null, gone = false;
const me = Math.random(), lost = [], waiting = new Map(), shown = new Map();
const usable = () => typeof Notification === 'function';
const say = (m) => { if (channel) channel.postMessage(m); };
const seen = () => say(['seen', me, !gone && !document.hidden]);
const onScreen = () => { const t = Date.now() - 45000; for (const [tab, at] of shown) { if (at > t) return true; shown.delete(tab); } return false; };
document.addEventListener('visibilitychange', seen);
addEventListener('pagehide', () => { gone = true; seen(); });
addEventListener('pageshow', () => { gone = false; seen(); });
setInterval(() => { if (!document.hidden) seen(); }, 20000);
export function can_ask() { return usable() && Notification.permission === 'default'; }
export function ask(done) { if (usable()) Notification.requestPermission().then(() => done(), () => done()); }
const muted = (tag) => {
  try { return (JSON.parse(localStorage.getItem('chat.kept')).muted || []).includes(tag); } catch (e) { return false; }
};
export function listen(nick) {
  if (name !== nick) {
    if (channel) channel.close();
    name = nick;
    shown.clear();
    channel = new BroadcastChannel('chat-notify-' + nick);
    channel.onmessage = (e) => {
      const [k, tab, visible] = Array.isArray(e.data) ? e.data : [];
      if (k === 'seen') { if (visible) shown.set(tab, Date.now()); else shown.delete(tab); return; }
      if (k === 'who') { if (!document.hidden) seen(); return; }
      if (typeof k !== 'string' || (waiting.has(k) && !(visible || tab < me))) return;
      clearTimeout(waiting.get(k));
      waiting.delete(k);
      lost.push(k);
      if (lost.length > 200) lost.shift();
    };
    say(['who']);
    seen();
  }
}
export function offer(nick, key, title, body, tag) {
  listen(nick);
  const visible = !document.hidden;
  if (!visible && (lost.includes(key) || onScreen() || muted(tag))) return;
  say([key, me, visible]);
  if (visible) return;
  waiting.set(key, setTimeout(() => {
    waiting.delete(key);
    if (document.hidden && !onScreen() && usable() && Notification.permission === 'granted') {
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
