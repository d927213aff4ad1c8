//! The conversation: messages grouped by sender with the time, our pending messages marked as
//! such, and a button for older history. Text goes into text nodes, never parsed as HTML.

use crate::state::{Group, LineStatus};
use shared::ClientMsgId;
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
                            LineStatus::Delivered => ("delivered", html! {}),
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
                            <li key={l.key.clone()} class={classes!("msg", class)} data-id={l.key.clone()}>
                                <span class="text">{ l.text.clone() }</span>
                                { extra }
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
