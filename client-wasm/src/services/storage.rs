//! What survives a reload: an account's session token and name in `localStorage`
//! (`chat.session`, shared by the tabs of the site) and a guest's name and resume token in
//! `sessionStorage` (`chat.guest`, this tab only); beside each, what the browser keeps for that
//! user ([`Kept`], `chat.kept`: drafts, cursors, the open conversation, a guest's rooms and
//! mutes). Stored as small JSON objects, written and parsed by the browser's own `JSON` (no
//! JSON code in the wasm); anything unreadable is ignored, as if nothing were stored. Signing
//! out removes all of it.

use crate::state::{Kept, Saved, Target};
use js_sys::{Array, Object, Reflect, JSON};
use shared::{Nickname, RoomName};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Storage;

const SESSION_KEY: &str = "chat.session";
const GUEST_KEY: &str = "chat.guest";
const KEPT_KEY: &str = "chat.kept";

fn local() -> Option<Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn session() -> Option<Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn store(guest: bool) -> Option<Storage> {
    if guest {
        session()
    } else {
        local()
    }
}

/// `key` of `storage`, parsed.
fn read_json(storage: Option<Storage>, key: &str) -> Option<JsValue> {
    JSON::parse(&storage?.get_item(key).ok()??).ok()
}

fn write_json(storage: Option<Storage>, key: &str, value: &JsValue) {
    if let (Some(s), Ok(text)) = (storage, JSON::stringify(value)) {
        let _ = s.set_item(key, &String::from(text));
    }
}

/// Field `key` of an object, as a string.
fn text(value: &JsValue, key: &str) -> Option<String> {
    Reflect::get(value, &key.into()).ok()?.as_string()
}

/// The items of the array in field `key`.
fn items(value: &JsValue, key: &str) -> Vec<JsValue> {
    Reflect::get(value, &key.into())
        .ok()
        .and_then(|v| v.dyn_into::<Array>().ok())
        .map_or_else(Vec::new, |a| a.to_vec())
}

/// An object with these fields.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        let _ = Reflect::set(&object, &(*key).into(), value);
    }
    object.into()
}

fn strings<'a>(list: impl Iterator<Item = &'a str>) -> JsValue {
    list.map(JsValue::from_str).collect::<Array>().into()
}

/// Reads `key` as `{"nick": .., field: ..}`.
fn read(storage: Option<Storage>, key: &str, field: &str) -> Option<(Nickname, String)> {
    let value = read_json(storage, key)?;
    let nick = Nickname::new(text(&value, "nick")?).ok()?;
    let secret = text(&value, field)?;
    (!secret.is_empty()).then_some((nick, secret))
}

/// The saved account session, else this tab's saved guest.
pub fn load() -> Option<Saved> {
    if let Some((nick, token)) = read(local(), SESSION_KEY, "token") {
        return Some(Saved::Member { nick, token });
    }
    read(session(), GUEST_KEY, "resume_token")
        .map(|(nick, resume_token)| Saved::Guest { nick, resume_token })
}

/// Keeps `saved` for the next page load (a member's session replaces this tab's guest).
pub fn save(saved: &Saved) {
    let (guest, key, field, nick, secret) = match saved {
        Saved::Member { nick, token } => {
            if let Some(s) = session() {
                let _ = s.remove_item(GUEST_KEY);
            }
            (false, SESSION_KEY, "token", nick, token)
        }
        Saved::Guest { nick, resume_token } => {
            (true, GUEST_KEY, "resume_token", nick, resume_token)
        }
    };
    let value = object(&[
        ("nick", nick.as_str().into()),
        (field, secret.as_str().into()),
    ]);
    write_json(store(guest), key, &value);
}

/// Drops the saved session and guest, and what was kept for them.
pub fn forget() {
    for (storage, key) in [(local(), SESSION_KEY), (session(), GUEST_KEY)] {
        if let Some(s) = storage {
            let _ = s.remove_item(key);
            let _ = s.remove_item(KEPT_KEY);
        }
    }
}

/// `[a, b]`.
fn pair(a: JsValue, b: JsValue) -> JsValue {
    Array::of2(&a, &b).into()
}

/// Writes what the browser keeps for the user: beside a guest's state in this tab, beside an
/// account's session for every tab.
pub fn keep(kept: &Kept, guest: bool) {
    let open = kept.open.as_ref().map(Target::address);
    let value = object(&[
        ("nick", kept.nick.as_ref().map(|n| n.as_str()).into()),
        ("open", open.into()),
        (
            "drafts",
            kept.drafts
                .iter()
                .map(|(t, d)| pair(t.address().into(), d.as_str().into()))
                .collect::<Array>()
                .into(),
        ),
        ("rooms", strings(kept.rooms.iter().map(|r| r.as_str()))),
        (
            "cursors",
            kept.cursors
                .iter()
                .map(|(r, id)| pair(r.as_str().into(), (*id as f64).into()))
                .collect::<Array>()
                .into(),
        ),
        (
            "muted",
            kept.muted
                .iter()
                .map(|t| JsValue::from(t.address()))
                .collect::<Array>()
                .into(),
        ),
    ]);
    write_json(store(guest), KEPT_KEY, &value);
}

/// The two items of a pair.
fn unpair(v: &JsValue) -> Option<(JsValue, JsValue)> {
    let a: &Array = v.dyn_ref()?;
    (a.length() == 2).then(|| (a.get(0), a.get(1)))
}

/// What was kept for a guest (in this tab) or an account.
pub fn kept(guest: bool) -> Option<Kept> {
    let value = read_json(store(guest), KEPT_KEY)?;
    let target = |v: &JsValue| Target::from_path(&v.as_string()?);
    Some(Kept {
        nick: Nickname::new(text(&value, "nick")?).ok(),
        open: text(&value, "open").and_then(|p| Target::from_path(&p)),
        drafts: items(&value, "drafts")
            .iter()
            .filter_map(|v| {
                let (t, d) = unpair(v)?;
                Some((target(&t)?, d.as_string()?))
            })
            .collect(),
        rooms: items(&value, "rooms")
            .iter()
            .filter_map(|v| RoomName::new(v.as_string()?).ok())
            .collect(),
        cursors: items(&value, "cursors")
            .iter()
            .filter_map(|v| {
                let (r, id) = unpair(v)?;
                let id = id.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0)?;
                Some((RoomName::new(r.as_string()?).ok()?, id as u64))
            })
            .collect(),
        muted: items(&value, "muted").iter().filter_map(target).collect(),
    })
}
