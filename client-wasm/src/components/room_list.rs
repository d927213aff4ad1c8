//! The sidebar's conversations: joined rooms and direct threads with unread counts, a box to join
//! or create a room, and the other rooms on the server. Its children (the member list) go right
//! under the joined rooms: the direct threads and the server's listing, which change without
//! the user doing anything, come after them, the listing in a scroll box of its own.

use crate::state::Target;
use shared::{Nickname, RoomInfo, RoomName};
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// A conversation in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub target: Target,
    pub unread: u32,
}

#[derive(Properties, PartialEq)]
pub struct RoomListProps {
    pub rooms: Vec<Entry>,
    pub directs: Vec<Entry>,
    /// Rooms on the server that we are not in.
    pub others: Vec<RoomInfo>,
    pub active: Option<Target>,
    pub on_select: Callback<Target>,
    pub on_join: Callback<String>,
    pub on_leave: Callback<RoomName>,
    pub on_refresh: Callback<()>,
    /// Shown under the joined rooms and the join box.
    #[prop_or_default]
    pub children: Html,
}

fn unread_badge(unread: u32) -> Html {
    if unread == 0 {
        return html! {};
    }
    let label = format!("{unread} unread");
    html! { <span class="badge" aria-label={label}>{ unread.min(999) }</span> }
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
    let entry = |e: &Entry| {
        let active = props.active.as_ref() == Some(&e.target);
        let (label, leave, kind) = match &e.target {
            Target::Room(name) => (format!("#{name}"), Some(name.clone()), "room"),
            Target::Direct(peer) => (format!("@{peer}"), None, "direct"),
        };
        let on_select = {
            let cb = props.on_select.clone();
            let target = e.target.clone();
            move |_| cb.emit(target.clone())
        };
        let leave = leave.map(|name| {
            let cb = props.on_leave.clone();
            let label = format!("Leave #{name}");
            let n = name.clone();
            html! {
                <button type="button" class="icon leave" title={label.clone()}
                    aria-label={label} onclick={move |_| cb.emit(n.clone())}>{ "×" }</button>
            }
        });
        html! {
            <li key={label.clone()} class={classes!("conv", kind, active.then_some("active"), (e.unread > 0).then_some("has-unread"))}
                data-name={label.clone()}>
                <button type="button" class="conv-name"
                    aria-current={active.then_some("true")} onclick={on_select}>
                    <span class="name">{ label }</span>
                    { unread_badge(e.unread) }
                </button>
                { for leave }
            </li>
        }
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
            </form>
            { props.children.clone() }
            if !props.directs.is_empty() {
                <h2>{ "Direct" }</h2>
                <ul id="directs">{ for props.directs.iter().map(entry) }</ul>
            }
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
pub fn direct_entry(peer: &Nickname, unread: u32) -> Entry {
    Entry {
        target: Target::Direct(peer.clone()),
        unread,
    }
}
