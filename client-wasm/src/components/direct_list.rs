//! The sidebar's direct messages: one entry per conversation with its unread count and a
//! mention marker, and a box to write to someone by name (online or not: an account gets the
//! message when it next signs in).

use super::room_list::{entry_item, Entry};
use crate::state::Target;
use shared::Nickname;
use web_sys::HtmlInputElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct DirectListProps {
    pub directs: Vec<Entry>,
    pub active: Option<Target>,
    pub on_select: Callback<Target>,
}

#[function_component(DirectList)]
pub fn direct_list(props: &DirectListProps) -> Html {
    let input = use_node_ref();
    let onsubmit = {
        let input = input.clone();
        let cb = props.on_select.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some(el) = input.cast::<HtmlInputElement>() else {
                return;
            };
            if let Ok(nick) = Nickname::new(el.value().trim().trim_start_matches('@')) {
                cb.emit(Target::Direct(nick));
                el.set_value("");
            }
        })
    };
    html! {
        <section class="direct-list" aria-label="Direct messages">
            <h2>{ "Direct messages" }</h2>
            if !props.directs.is_empty() {
                <ul id="directs">
                    { for props.directs.iter().map(|e| entry_item(e, props.active.as_ref(), &props.on_select, None)) }
                </ul>
            }
            <form class="join-form" {onsubmit}>
                <label class="visually-hidden" for="dm-input">{ "Write to someone by name" }</label>
                <input id="dm-input" ref={input} type="text" placeholder="message someone…"
                    maxlength="32" autocomplete="off" spellcheck="false" />
                <button type="submit" id="dm-open">{ "Write" }</button>
            </form>
        </section>
    }
}
