//! The conversation: messages grouped by sender with the time, our pending messages marked as
//! such, and a button for older history. Text goes into text nodes, never parsed as HTML.
//! Edited messages say so, deleted ones leave a tombstone, mentions of us stand out, and the
//! messages we may change carry edit and delete buttons; moderation shows as system lines.
//!
//! Reading: a divider above each day and above the first unread message; the view follows new
//! messages only at the bottom (else "Jump to latest" offers to go there); older history loads
//! when the reader scrolls to the top, and the messages on screen stay where they were.

use super::time::{clock, day_label, full, iso};
use crate::state::{Group, Line, LineStatus};
use shared::{ClientMsgId, MessageId};
use web_sys::Element;
use yew::prelude::*;

/// Closer to the bottom than this (px): at the bottom, following new messages.
const AT_BOTTOM: i32 = 80;
/// Closer to the top than this (px): the next older page loads.
const NEAR_TOP: i32 = 120;

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
        let label = Some("Edit message");
        button(
            "link edit",
            None,
            label,
            "edit".into(),
            Callback::from(onclick),
        )
    });
    let delete = l.flags.can_delete.then(|| {
        let cb = on_delete.clone();
        let onclick = Callback::from(move |_| cb.emit(id));
        button(
            "link delete",
            None,
            Some("Delete message"),
            "delete".into(),
            onclick,
        )
    });
    html! { <span class="actions">{ for edit }{ for delete }</span> }
}

/// Where the reader is, kept across renders.
#[derive(Default)]
struct Place {
    /// Scrolled up: the view stays put as new messages come.
    away: bool,
    /// From the top of the content to the bottom of the view, before this render: kept when
    /// older messages are put above.
    from_bottom: i32,
    /// The first and last line keys of the last render.
    first: String,
    last: String,
}

/// A line across the list with words on it: a new day, or where the unread messages start.
fn divider(class: &'static str, id: Option<&'static str>, text: String) -> Html {
    // A list item (an `ol` holds only those): its words say what it divides.
    html! { <li {class} {id}>{ text }</li> }
}

/// A button with words on it, and the words a screen reader says instead if they differ.
fn button(
    class: &'static str,
    id: Option<&'static str>,
    aria_label: Option<&'static str>,
    label: String,
    onclick: Callback<MouseEvent>,
) -> Html {
    html! { <button type="button" {class} {id} aria-label={aria_label} {onclick}>{ label }</button> }
}

fn scroll_to_end(el: &Element) {
    el.set_scroll_top(el.scroll_height());
}

#[function_component(MessageList)]
pub fn message_list(props: &MessageListProps) -> Html {
    let scroller = use_node_ref();
    let place = use_mut_ref(Place::default);
    let redraw = use_force_update();
    let lines = || props.groups.iter().flat_map(|g| &g.lines);
    let key = |l: Option<&Line>| l.map(|l| l.key.clone()).unwrap_or_default();
    let first = key(props.groups.first().and_then(|g| g.lines.first()));
    let last = key(props.groups.last().and_then(|g| g.lines.last()));
    let el = scroller.cast::<Element>();
    {
        let mut p = place.borrow_mut();
        if let Some(el) = &el {
            p.from_bottom = el.scroll_height() - el.scroll_top();
        }
        let held = |key: &String| lines().any(|l| l.key == *key);
        // The last line of before is gone: another conversation (or our message delivered).
        let fresh = p.last != last && !held(&p.last);
        // Older messages came above the first line of before.
        let prepended = !fresh && p.first != first && held(&p.first);
        p.away &= !fresh;
        p.first = first;
        p.last.clone_from(&last);
        let (away, from_bottom) = (p.away, p.from_bottom);
        let scroller = scroller.clone();
        use_effect(move || {
            let Some(el) = scroller.cast::<Element>() else {
                return;
            };
            if prepended {
                // Older messages came above: what was on screen stays put.
                el.set_scroll_top(el.scroll_height() - from_bottom);
            } else if !away {
                scroll_to_end(&el);
            }
        });
    }
    let onscroll = {
        let (scroller, place) = (scroller.clone(), place.clone());
        let older = (props.has_older && !props.loading_older).then(|| props.on_older.clone());
        Callback::from(move |_: Event| {
            let Some(el) = scroller.cast::<Element>() else {
                return;
            };
            let bottom = el.scroll_height() - el.scroll_top() - el.client_height() < AT_BOTTOM;
            let mut p = place.borrow_mut();
            if bottom == p.away {
                p.away = !bottom;
                redraw.force_update();
            }
            if let Some(older) = older.as_ref().filter(|_| el.scroll_top() < NEAR_TOP) {
                older.emit(());
            }
        })
    };
    let jump = place.borrow().away.then(|| {
        let scroller = scroller.clone();
        let onclick = Callback::from(move |_| {
            if let Some(el) = scroller.cast::<Element>() {
                scroll_to_end(&el);
            }
        });
        button(
            "jump-latest",
            Some("jump-latest"),
            None,
            "Jump to latest".into(),
            onclick,
        )
    });
    let gap = props.gap.then(|| {
        html! {
            <p class="gap" id="gap" role="note">
                { "You missed more messages than are shown here. Load older ones to read them." }
            </p>
        }
    });
    let older = (props.has_older || props.loading_older).then(|| {
        let label = if props.loading_older {
            "Loading…"
        } else {
            "Load older messages"
        };
        let cb = props.on_older.clone();
        let onclick = Callback::from(move |_| cb.emit(()));
        html! {
            <button type="button" class="older" id="older" disabled={props.loading_older} {onclick}>
                { label }
            </button>
        }
    });
    let now = js_sys::Date::now() as i64;
    let group = |g: &Group| {
        let mut out = Vec::new();
        if g.day_break {
            out.push(divider("divider", None, day_label(g.ts, now)));
        }
        if g.new_break {
            out.push(divider(
                "divider new",
                Some("new-divider"),
                "New messages".into(),
            ));
        }
        if g.system {
            out.extend(g.lines.iter().map(|l| html! {
                <li key={l.key.clone()} class="system-line" role="status">{ l.text.clone() }</li>
            }));
            return Html::from(yew::virtual_dom::VList::with_children(out, None));
        }
        out.push(html! {
            <li class={classes!("group", g.mine.then_some("mine"))} data-sender={g.sender.clone()}>
                <div class="meta">
                    <span class="sender">{ g.sender.clone() }</span>
                    if g.guest {
                        <span class="guest">{ "(guest)" }</span>
                    }
                    <time datetime={iso(g.ts)} title={full(g.ts)}>{ clock(g.ts) }</time>
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
                                let retry = Callback::from(move |_| retry.emit(a.clone()));
                                let discard = Callback::from(move |_| discard.emit(b.clone()));
                                ("failed", html! {
                                    <span class="state">
                                        { "not sent: " }{ reason.clone() }{ " " }
                                        { button("link", None, None, "retry".into(), retry) }
                                        { button("link", None, None, "discard".into(), discard) }
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
        });
        Html::from(yew::virtual_dom::VList::with_children(out, None))
    };
    html! {
        <div class="messages" ref={scroller} {onscroll} tabindex="0" aria-label="Messages">
            { for older }
            { for gap }
            if props.groups.is_empty() {
                <p class="empty">{ props.empty_hint.clone() }</p>
            }
            <ol id="message-list" class="groups">
                { for props.groups.iter().map(group) }
            </ol>
            { for jump }
        </div>
    }
}
