//! The conversation's address in the URL's fragment (`#/r/general`, `#/dm/bob`): read on load
//! and on every `hashchange` (back, forward, a typed address), written when the user opens
//! another conversation. A new address is a new history entry; one that named nothing is
//! replaced, so back never returns to it.

use crate::state::Target;
use wasm_bindgen::JsValue;

/// The conversation the address names, if any.
pub fn current() -> Option<Target> {
    let hash = web_sys::window()?.location().hash().ok()?;
    let decoded = js_sys::decode_uri_component(&hash).ok()?;
    Target::from_path(&String::from(decoded))
}

/// `#/r/<room>` or `#/dm/<nick>`, the name encoded for the URL.
pub fn address(target: &Target) -> String {
    let (kind, name) = target.path();
    let name: String = js_sys::encode_uri_component(name).into();
    ["#/", kind, &name].concat()
}

/// Puts `target` in the address bar, unless it is there already.
pub fn show(target: &Target) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if current().as_ref() == Some(target) {
        return;
    }
    let url = address(target);
    if current().is_none() {
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
        }
    } else {
        let _ = window.location().set_hash(&url);
    }
}
