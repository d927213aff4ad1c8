//! The conversation: messages grouped by sender with the time, our pending messages marked as
//! such, and a button for older history. Text goes into text nodes, never parsed as HTML.
//! Edited messages say so, deleted ones leave a tombstone, mentions of us stand out, and the
//! messages we may change carry edit and delete buttons; moderation shows as system lines.

use crate::state::{Group, Line, LineStatus};
use shared::{ClientMsgId, MessageId};
use std::cell::Cell;
use std::rc::Rc;
use web_sys::Element;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct MessageListProps {
    pub groups: Vec<Group>,
    #[prop_or_default]
    pub has_older: bool,
    #[prop_or_default]
    pub loading_older: bool,
    /// Catching up was cut short: messages between the ones shown and older ones are missing.
    #[prop_or_default]
    pub gap: bool,
    /// Shown when there is nothing yet.
    #[prop_or_default]
    pub empty_hint: String,
    pub on_older: Callback<()>,
    pub on_retry: Callback<ClientMsgId>,
    pub on_discard: Callback<ClientMsgId>,
    /// Edit message `id`: the new text.
    pub on_edit: Callback<(MessageId, String)>,
    pub on_delete: Callback<MessageId>,
}

/// Edit and delete buttons for a line that allows them. The new text is asked in a prompt.
fn actions(
    l: &Line,
    on_edit: &Callback<(MessageId, String)>,
    on_delete: &Callback<MessageId>,
) -> Html {
    let Some(id) = l.flags.id else {
        return html! {};
    };
    let edit = l.flags.can_edit.then(|| {
        let cb = on_edit.clone();
        let old = l.text.clone();
        let onclick = move |_| {
            let answer = web_sys::window()
                .and_then(|w| w.prompt_with_message_and_default("Edit message", &old).ok())
                .flatten();
            if let Some(text) = answer.filter(|t| !t.trim().is_empty() && *t != old) {
                cb.emit((id, text));
            }
        };
        html! { <button type="button" class="link edit" aria-label="Edit message" {onclick}>{ "edit" }</button> }
    });
    let delete = l.flags.can_delete.then(|| {
        let cb = on_delete.clone();
        html! { <button type="button" class="link delete" aria-label="Delete message"
        onclick={move |_| cb.emit(id)}>{ "delete" }</button> }
    });
    html! { <span class="actions">{ for edit }{ for delete }</span> }
}

/// `HH:MM` in the browser's time zone.
pub fn clock(ts: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
    format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
}

/// Full date and time, for the tooltip and `datetime`.
fn iso(ts: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
    date.to_iso_string().as_string().unwrap_or_default()
}

#[function_component(MessageList)]
pub fn message_list(props: &MessageListProps) -> Html {
    let scroller = use_node_ref();
    // Follow new messages only while the reader is at the bottom.
    let stick = use_memo((), |_| Rc::new(Cell::new(true)));
    let last_key = props
        .groups
        .last()
        .and_then(|g| g.lines.last())
        .map(|l| l.key.clone())
        .unwrap_or_default();
    {
        let scroller = scroller.clone();
        let stick = stick.clone();
        use_effect_with(last_key, move |_| {
            if stick.get() {
                if let Some(el) = scroller.cast::<Element>() {
                    el.set_scroll_top(el.scroll_height());
                }
            }
        });
    }
    let onscroll = {
        let scroller = scroller.clone();
        let stick = stick.clone();
        Callback::from(move |_: Event| {
            if let Some(el) = scroller.cast::<Element>() {
                let gap = el.scroll_height() - el.scroll_top() - el.client_height();
                stick.set(gap < 80);
            }
        })
    };
    let gap = props.gap.then(|| {
        html! {
            <p class="gap" id="gap" role="note">
                { "You missed more messages than are shown here. Load older ones to read them." }
            </p>
        }
    });
    let older = (props.has_older || props.loading_older).then(|| {
        let cb = props.on_older.clone();
        html! {
            <button type="button" class="older" id="older" disabled={props.loading_older}
                onclick={move |_| cb.emit(())}>
                { if props.loading_older { "Loading…" } else { "Load older messages" } }
            </button>
        }
    });
    let group = |g: &Group| {
        if g.system {
            return g
                .lines
                .iter()
                .map(|l| html! {
                    <li key={l.key.clone()} class="system-line" role="status">{ l.text.clone() }</li>
                })
                .collect::<Html>();
        }
        html! {
            <li class={classes!("group", g.mine.then_some("mine"))} data-sender={g.sender.clone()}>
                <div class="meta">
                    <span class="sender">{ g.sender.clone() }</span>
                    if g.guest {
                        <span class="guest">{ "(guest)" }</span>
                    }
                    <time datetime={iso(g.ts)} title={iso(g.ts)}>{ clock(g.ts) }</time>
                </div>
                <ul class="lines">
                    { for g.lines.iter().map(|l| {
                        let (class, extra) = match &l.status {
                            LineStatus::Delivered | LineStatus::System => ("delivered", html! {}),
                            LineStatus::Pending { .. } => (
                                "pending",
                                html! { <span class="state">{ "sending…" }</span> },
                            ),
                            LineStatus::Failed { client_id, reason } => {
                                let retry = props.on_retry.clone();
                                let discard = props.on_discard.clone();
                                let (a, b) = (client_id.clone(), client_id.clone());
                                ("failed", html! {
                                    <span class="state">
                                        { format!("not sent: {reason} ") }
                                        <button type="button" class="link"
                                            onclick={move |_| retry.emit(a.clone())}>{ "retry" }</button>
                                        <button type="button" class="link"
                                            onclick={move |_| discard.emit(b.clone())}>{ "discard" }</button>
                                    </span>
                                })
                            }
                        };
                        html! {
                            <li key={l.key.clone()} data-id={l.key.clone()} class={classes!("msg", class,
                                l.flags.deleted.then_some("deleted"), l.flags.mention.then_some("mention"))}>
                                <span class="text">{ super::rich_text::rich_text(&l.text) }</span>
                                if l.flags.edited {
                                    <span class="edited">{ " (edited)" }</span>
                                }
                                { extra }
                                { actions(l, &props.on_edit, &props.on_delete) }
                            </li>
                        }
                    }) }
                </ul>
            </li>
        }
    };
    html! {
        <div class="messages" ref={scroller} {onscroll} tabindex="0" aria-label="Messages">
            { for older }
            { for gap }
            if props.groups.is_empty() {
                <p class="empty">{ props.empty_hint.clone() }</p>
            }
            <ol id="message-list" class="groups" aria-live="polite">
                { for props.groups.iter().map(group) }
            </ol>
        </div>
    }
}
