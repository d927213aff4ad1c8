//! What survives a reload: an account's session token and name in `localStorage`
//! (`chat.session`, shared by the tabs of the site) and a guest's name and resume token in
//! `sessionStorage` (`chat.guest`, this tab only). Stored as small JSON objects; anything
//! unreadable is ignored, as if nothing were stored.

use crate::state::Saved;
use serde_json::{json, Value};
use shared::Nickname;
use web_sys::Storage;

const SESSION_KEY: &str = "chat.session";
const GUEST_KEY: &str = "chat.guest";

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

/// Drops the saved session and guest.
pub fn forget() {
    if let Some(s) = local() {
        let _ = s.remove_item(SESSION_KEY);
    }
    if let Some(s) = session() {
        let _ = s.remove_item(GUEST_KEY);
    }
}
