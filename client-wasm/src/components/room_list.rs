//! The sidebar's rooms: joined rooms with unread and mention counts, a box to join a room or
//! create one (public or invite-only), and the other rooms on the server. Its children (the
//! member list, the direct messages) go right under the joined rooms: the server's listing,
//! which changes without the user doing anything, comes after them, in a scroll box of its own.

use crate::state::Target;
use shared::{Nickname, RoomInfo, RoomName};
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// A conversation in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub target: Target,
    pub unread: u32,
    /// Of the unread, those mentioning us.
    pub mentions: u32,
    /// Muted in this browser: no notifications, not counted in the title.
    pub muted: bool,
}

#[derive(Properties, PartialEq)]
pub struct RoomListProps {
    pub rooms: Vec<Entry>,
    /// Rooms on the server that we are not in.
    pub others: Vec<RoomInfo>,
    pub active: Option<Target>,
    pub on_select: Callback<Target>,
    pub on_join: Callback<String>,
    /// Create a room: its name, invite-only.
    pub on_create: Callback<(String, bool)>,
    pub on_leave: Callback<RoomName>,
    pub on_refresh: Callback<()>,
    /// Shown under the joined rooms and the join box.
    #[prop_or_default]
    pub children: Html,
}

fn unread_badge(unread: u32, mentions: u32) -> Html {
    if unread == 0 && mentions == 0 {
        return html! {};
    }
    let label = format!("{unread} unread");
    let mention = (mentions > 0).then(|| {
        let label = format!("{mentions} mentioning you");
        html! { <span class="badge mention-badge" aria-label={label}>{ "@" }</span> }
    });
    html! {
        <>
            { for mention }
            if unread > 0 {
                <span class="badge" aria-label={label}>{ unread.min(999) }</span>
            }
        </>
    }
}

/// One conversation in a list: its name (opens it), badges, and a leave button for rooms.
pub fn entry_item(
    e: &Entry,
    active: Option<&Target>,
    on_select: &Callback<Target>,
    on_leave: Option<&Callback<RoomName>>,
) -> Html {
    let active = active == Some(&e.target);
    let (label, leave, kind) = match &e.target {
        Target::Room(name) => (format!("#{name}"), Some(name.clone()), "room"),
        Target::Direct(peer) => (format!("@{peer}"), None, "direct"),
    };
    let on_select = {
        let cb = on_select.clone();
        let target = e.target.clone();
        move |_| cb.emit(target.clone())
    };
    let leave = leave.zip(on_leave).map(|(name, cb)| {
        let cb = cb.clone();
        let label = format!("Leave #{name}");
        html! {
            <button type="button" class="icon leave" title={label.clone()}
                aria-label={label} onclick={move |_| cb.emit(name.clone())}>{ "×" }</button>
        }
    });
    html! {
        <li key={label.clone()} class={classes!("conv", kind, active.then_some("active"), (e.unread > 0).then_some("has-unread"), e.muted.then_some("muted"))}
            data-name={label.clone()}>
            <button type="button" class="conv-name"
                aria-current={active.then_some("true")} onclick={on_select}>
                <span class="name">{ label }</span>
                if e.muted {
                    <span class="muted-mark" title="Muted">{ "🔕" }<span class="visually-hidden">{ "muted" }</span></span>
                }
                { unread_badge(e.unread, e.mentions) }
            </button>
            { for leave }
        </li>
    }
}

#[function_component(RoomList)]
pub fn room_list(props: &RoomListProps) -> Html {
    let input = use_node_ref();
    let onsubmit = {
        let input = input.clone();
        let on_join = props.on_join.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(el) = input.cast::<HtmlInputElement>() {
                let name = el.value();
                if !name.trim().is_empty() {
                    on_join.emit(name);
                    el.set_value("");
                }
            }
        })
    };
    let invite_only = use_node_ref();
    let on_create = {
        let input = input.clone();
        let invite_only = invite_only.clone();
        let cb = props.on_create.clone();
        move |_| {
            let Some(el) = input.cast::<HtmlInputElement>() else {
                return;
            };
            let private = invite_only
                .cast::<HtmlInputElement>()
                .is_some_and(|c| c.checked());
            if !el.value().trim().is_empty() {
                cb.emit((el.value(), private));
                el.set_value("");
            }
        }
    };
    let entry = |e: &Entry| {
        entry_item(
            e,
            props.active.as_ref(),
            &props.on_select,
            Some(&props.on_leave),
        )
    };
    let on_refresh = {
        let cb = props.on_refresh.clone();
        move |_| cb.emit(())
    };
    html! {
        <nav class="room-list" aria-label="Conversations">
            <h2>{ "Rooms" }</h2>
            <ul id="rooms">{ for props.rooms.iter().map(entry) }</ul>
            <form class="join-form" {onsubmit}>
                <label class="visually-hidden" for="room-input">{ "Join or create a room" }</label>
                <input id="room-input" ref={input} type="text" placeholder="join or create…"
                    maxlength="48" autocomplete="off" spellcheck="false" />
                <button type="submit" id="join">{ "Join" }</button>
                <button type="button" id="create-room" onclick={on_create}>{ "Create" }</button>
                <label class="check">
                    <input type="checkbox" id="invite-only" ref={invite_only} />
                    { "invite-only" }
                </label>
            </form>
            { props.children.clone() }
            <div class="others">
                <h3>
                    { "Other rooms" }
                    <button type="button" class="link" id="refresh-rooms" onclick={on_refresh}>
                        { "refresh" }
                    </button>
                </h3>
                if props.others.is_empty() {
                    <p class="none">{ "None yet: create one above." }</p>
                }
                <ul id="other-rooms">
                    { for props.others.iter().map(|r| {
                        let cb = props.on_join.clone();
                        let name = r.name.to_string();
                        let label = format!("#{}", r.name);
                        html! {
                            <li key={label.clone()} class="conv other">
                                <button type="button" class="conv-name" title={format!("Join {label}")}
                                    onclick={move |_| cb.emit(name.clone())}>
                                    <span class="name">{ label.clone() }</span>
                                    <span class="count" aria-label={format!("{} members", r.members)}>
                                        { r.members }
                                    </span>
                                </button>
                            </li>
                        }
                    }) }
                </ul>
            </div>
        </nav>
    }
}

/// Entries for direct threads, by peer name.
pub fn direct_entry(peer: &Nickname, unread: u32, mentions: u32, muted: bool) -> Entry {
    Entry {
        target: Target::Direct(peer.clone()),
        unread,
        mentions,
        muted,
    }
}
