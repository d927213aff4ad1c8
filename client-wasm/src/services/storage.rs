//! What survives a reload: an account's session token and name in `localStorage`
//! (`chat.session`, shared by the tabs of the site) and a guest's name and resume token in
//! `sessionStorage` (`chat.guest`, this tab only); beside each, what the browser keeps for that
//! user ([`Kept`], `chat.kept`: drafts, cursors, the open conversation, mutes, a guest's rooms).
//! Stored as small JSON objects; anything unreadable is ignored, as if nothing were stored.
//! Signing out removes all of it.

use crate::state::{Kept, Saved, Target};
use serde_json::{json, Value};
use shared::{Nickname, RoomName};
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

/// Reads `key` as `{"nick": .., field: ..}`.
fn read(storage: Option<Storage>, key: &str, field: &str) -> Option<(Nickname, String)> {
    let text = storage?.get_item(key).ok()??;
    let value: Value = serde_json::from_str(&text).ok()?;
    let nick = Nickname::new(value.get("nick")?.as_str()?).ok()?;
    let secret = value.get(field)?.as_str()?;
    (!secret.is_empty()).then(|| (nick, secret.to_string()))
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
    let (storage, key, text) = match saved {
        Saved::Member { nick, token } => {
            if let Some(s) = session() {
                let _ = s.remove_item(GUEST_KEY);
            }
            (
                local(),
                SESSION_KEY,
                json!({ "nick": nick.as_str(), "token": token }),
            )
        }
        Saved::Guest { nick, resume_token } => (
            session(),
            GUEST_KEY,
            json!({ "nick": nick.as_str(), "resume_token": resume_token }),
        ),
    };
    if let Some(s) = storage {
        let _ = s.set_item(key, &text.to_string());
    }
}

/// Drops the saved session and guest, and what was kept for them.
pub fn forget() {
    if let Some(s) = local() {
        let _ = s.remove_item(SESSION_KEY);
        let _ = s.remove_item(KEPT_KEY);
    }
    if let Some(s) = session() {
        let _ = s.remove_item(GUEST_KEY);
        let _ = s.remove_item(KEPT_KEY);
    }
}

fn path(target: &Target) -> String {
    let (kind, name) = target.path();
    [kind, name].concat()
}

/// Writes what the browser keeps for the user: beside a guest's state in this tab, beside an
/// account's session for every tab.
pub fn keep(kept: &Kept, guest: bool) {
    let value = json!({
        "nick": kept.nick.as_ref().map(|n| n.as_str()),
        "open": kept.open.as_ref().map(path),
        "drafts": kept.drafts.iter().map(|(t, d)| json!([path(t), d])).collect::<Vec<_>>(),
        "rooms": kept.rooms.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "cursors": kept.cursors.iter().map(|(r, id)| json!([r.as_str(), id])).collect::<Vec<_>>(),
        "muted": kept.muted.iter().map(path).collect::<Vec<_>>(),
    });
    if let Some(s) = if guest { session() } else { local() } {
        let _ = s.set_item(KEPT_KEY, &value.to_string());
    }
}

/// The items of the array at `key`.
fn items<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// `[a, b]`.
fn pair(value: &Value) -> Option<(&Value, &Value)> {
    match value.as_array()?.as_slice() {
        [a, b] => Some((a, b)),
        _ => None,
    }
}

/// What was kept for a guest (in this tab) or an account.
pub fn kept(guest: bool) -> Option<Kept> {
    let storage = if guest { session() } else { local() }?;
    let value: Value = serde_json::from_str(&storage.get_item(KEPT_KEY).ok()??).ok()?;
    let target = |v: &Value| Target::from_path(v.as_str()?);
    Some(Kept {
        nick: Nickname::new(value.get("nick")?.as_str()?).ok(),
        open: value.get("open").and_then(target),
        drafts: items(&value, "drafts")
            .filter_map(|v| {
                let (t, d) = pair(v)?;
                Some((target(t)?, d.as_str()?.to_string()))
            })
            .collect(),
        rooms: items(&value, "rooms")
            .filter_map(|v| RoomName::new(v.as_str()?).ok())
            .collect(),
        cursors: items(&value, "cursors")
            .filter_map(|v| {
                let (r, id) = pair(v)?;
                Some((RoomName::new(r.as_str()?).ok()?, id.as_u64()?))
            })
            .collect(),
        muted: items(&value, "muted").filter_map(target).collect(),
    })
}
