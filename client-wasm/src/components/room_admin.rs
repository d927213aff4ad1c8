//! The room's admin panel, for its owner or a server admin: a name, a duration, and what to do
//! to that user (invite, remove, hand over ownership, kick, ban, unban, mute, unmute). The
//! same actions are composer commands (`/ban bob 1h`).

use crate::state::{DAY_SECS, HOUR_SECS};
use shared::Action;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct RoomAdminProps {
    pub invite_only: bool,
    /// A user, the action, and for how long (none: for good).
    pub on_moderate: Callback<(String, Action, Option<u64>)>,
}

#[function_component(RoomAdmin)]
pub fn room_admin(props: &RoomAdminProps) -> Html {
    let nick = use_node_ref();
    let duration = use_node_ref();
    let button = |action: Action| {
        let (nick, duration, cb) = (nick.clone(), duration.clone(), props.on_moderate.clone());
        let onclick = move |_| {
            let Some(el) = nick.cast::<HtmlInputElement>() else {
                return;
            };
            let name = el.value();
            if name.trim().is_empty() {
                return;
            }
            let secs = duration
                .cast::<HtmlSelectElement>()
                .and_then(|s| s.value().parse::<u64>().ok())
                .filter(|_| matches!(action, Action::Ban | Action::Mute));
            cb.emit((name, action, secs));
        };
        let label = action.as_str();
        html! {
            <button type="button" id={format!("mod-{label}")} {onclick}>{ label }</button>
        }
    };
    // Every room action; inviting and removing members only where membership counts.
    let actions = Action::ALL.iter().copied().filter(|a| match a {
        Action::Disable => false,
        Action::Invite | Action::Remove => props.invite_only,
        _ => true,
    });
    html! {
        <section class="room-admin" aria-label="Room admin">
            <h2>{ if props.invite_only { "Members and moderation" } else { "Moderation" } }</h2>
            <label class="visually-hidden" for="mod-nick">{ "User" }</label>
            <input id="mod-nick" ref={nick.clone()} type="text" placeholder="name…" maxlength="32"
                autocomplete="off" spellcheck="false" />
            <label class="visually-hidden" for="mod-duration">{ "For how long (ban, mute)" }</label>
            <select id="mod-duration" ref={duration.clone()}>
                <option value={HOUR_SECS.to_string()}>{ "1 hour" }</option>
                <option value={DAY_SECS.to_string()}>{ "1 day" }</option>
                <option value="" selected=true>{ "for good" }</option>
            </select>
            <div class="mod-actions">{ for actions.map(button) }</div>
        </section>
    }
}
