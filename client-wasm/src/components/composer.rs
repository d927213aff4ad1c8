//! The message box and send button. Enter sends; Shift+Enter starts a new line. ↑ in the empty
//! box edits our last message here (Enter saves, Esc cancels). `@` and the start of a name
//! offers the names of the conversation: ↓ and ↑ choose, Tab or Enter take one, Esc closes.
//! What is typed is reported as the conversation's draft, and a draft comes back in the box
//! (the composer is keyed by conversation: each has its own).
//!
//! The box says the list is open by naming it in `aria-controls` and the chosen option in
//! `aria-activedescendant`; `aria-expanded` is not allowed on a textbox (axe rates it
//! critical), and `role="combobox"` would take the box's multi-line nature from screen readers.
//!
//! Every handler calls one method of `Ctx` (the box, the state and the props they need),
//! so each rule is compiled once: the wasm is near its size budget.

use super::mention::{byte_at, complete, insert, mention_query, utf16_len, OPTION_IDS};
use shared::MessageId;
use std::cell::RefCell;
use std::rc::Rc;
use web_sys::{Element, HtmlTextAreaElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    /// Where the message goes, for the placeholder ("Message #general").
    pub placeholder: String,
    #[prop_or_default]
    pub disabled: bool,
    /// The names `@` offers: the room's members or the direct peer, not us.
    #[prop_or_default]
    pub names: Vec<String>,
    /// Our newest message here that we may edit: what ↑ in the empty box edits.
    #[prop_or_default]
    pub last_own: Option<(MessageId, String)>,
    pub on_send: Callback<String>,
    /// Edit message `id`: the new text.
    #[prop_or_default]
    pub on_edit: Callback<(MessageId, String)>,
    pub on_typing: Callback<()>,
    /// The draft kept for this conversation, put in the box when it opens.
    #[prop_or_default]
    pub draft: String,
    /// What the box holds now (not while editing a message).
    #[prop_or_default]
    pub on_draft: Callback<String>,
}

/// What the composer remembers between renders.
#[derive(Default)]
struct Ui {
    /// The mention being typed: its `@` and the caret (byte offsets), the name so far, and
    /// the option chosen.
    query: Option<(usize, usize, String, usize)>,
    /// The message being edited. The edit is off once it is no longer `last_own` (another
    /// conversation, or a newer message of ours).
    editing: Option<MessageId>,
}

/// What the handlers share.
struct Ctx {
    area: NodeRef,
    ui: Rc<RefCell<Ui>>,
    redraw: UseForceUpdateHandle,
    names: Vec<String>,
    last_own: Option<(MessageId, String)>,
    on_send: Callback<String>,
    on_edit: Callback<(MessageId, String)>,
    on_draft: Callback<String>,
}

impl Ctx {
    /// The message being edited, with the text it had.
    fn editing(&self) -> Option<&(MessageId, String)> {
        let id = self.ui.borrow().editing?;
        self.last_own.as_ref().filter(|own| own.0 == id)
    }

    /// The options on offer and the one chosen.
    fn options(&self) -> (Vec<&str>, usize) {
        match &self.ui.borrow().query {
            Some((_, _, prefix, sel)) => {
                let options = complete(&self.names, prefix);
                let sel = (*sel).min(options.len().saturating_sub(1));
                (options, sel)
            }
            None => (Vec::new(), 0),
        }
    }

    fn set(&self, change: impl FnOnce(&mut Ui)) {
        change(&mut self.ui.borrow_mut());
        self.redraw.force_update();
    }

    /// Looks the mention at the caret up again, after the text or the caret moved.
    fn refresh(&self) {
        if let Some(el) = self.area.cast::<HtmlTextAreaElement>() {
            let text = el.value();
            let caret = match el.selection_start() {
                Ok(Some(pos)) => byte_at(&text, pos),
                _ => text.len(),
            };
            let query = mention_query(&text, caret).map(|(at, p)| (at, caret, p.to_string(), 0));
            self.set(|ui| ui.query = query);
        }
    }

    /// Puts `@name ` in place of the mention being typed.
    fn take(&self, name: &str) {
        let Some(el) = self.area.cast::<HtmlTextAreaElement>() else {
            return;
        };
        let query = self.ui.borrow_mut().query.take();
        if let Some((at, caret, ..)) = query {
            if let Some((text, caret)) = insert(&el.value(), at, caret, name) {
                el.set_value(&text);
                let pos = utf16_len(&text[..caret]);
                let _ = el.set_selection_range(pos, pos);
            }
        }
        self.redraw.force_update();
        let _ = el.focus();
    }

    /// Sends the box's text, or saves the edit; either way the box empties.
    fn submit(&self) {
        let Some(el) = self.area.cast::<HtmlTextAreaElement>() else {
            return;
        };
        let text = el.value();
        let blank = text.trim().is_empty();
        if let Some((id, old)) = self.editing() {
            if !blank && text != *old {
                self.on_edit.emit((*id, text));
            }
        } else if !blank {
            self.on_send.emit(text);
        } else {
            return;
        }
        el.set_value("");
        self.set(|ui| *ui = Ui::default());
        self.on_draft.emit(String::new());
        let _ = el.focus();
    }

    /// Leaves the edit, emptying the box.
    fn cancel(&self) {
        if let Some(el) = self.area.cast::<HtmlTextAreaElement>() {
            el.set_value("");
            self.set(|ui| ui.editing = None);
            self.on_draft.emit(String::new());
            let _ = el.focus();
        }
    }

    /// Handles a key; true if it was ours (its default is then prevented).
    fn key(&self, e: &KeyboardEvent) -> bool {
        if e.is_composing() {
            return false;
        }
        let key = e.key();
        let shift = e.shift_key();
        let (options, sel) = self.options();
        let count = options.len();
        match key.as_str() {
            "ArrowDown" | "ArrowUp" if count > 0 => {
                let step = if key == "ArrowUp" { count - 1 } else { 1 };
                self.set(|ui| {
                    if let Some(q) = &mut ui.query {
                        q.3 = (sel + step) % count;
                    }
                });
            }
            "Tab" | "Enter" if count > 0 && !shift => self.take(options[sel]),
            "Escape" if count > 0 => self.set(|ui| ui.query = None),
            "ArrowUp" if !(shift || e.ctrl_key() || e.alt_key() || e.meta_key()) => {
                let el = self.area.cast::<HtmlTextAreaElement>();
                match (el, &self.last_own) {
                    (Some(el), Some((id, text))) if el.value().is_empty() => {
                        el.set_value(text);
                        self.set(|ui| ui.editing = Some(*id));
                    }
                    _ => return false,
                }
            }
            "Escape" if self.editing().is_some() => self.cancel(),
            "Enter" if !shift => self.submit(),
            _ => return false,
        }
        true
    }
}

#[function_component(Composer)]
pub fn composer(props: &ComposerProps) -> Html {
    let area = use_node_ref();
    let ctx = Rc::new(Ctx {
        area: area.clone(),
        ui: use_mut_ref(Ui::default),
        redraw: use_force_update(),
        names: props.names.clone(),
        last_own: props.last_own.clone(),
        on_send: props.on_send.clone(),
        on_edit: props.on_edit.clone(),
        on_draft: props.on_draft.clone(),
    });
    {
        // Ready to type as soon as the chat opens, with the conversation's draft.
        let area = area.clone();
        let draft = props.draft.clone();
        use_effect_with((), move |_| {
            if let Some(el) = area.cast::<HtmlTextAreaElement>() {
                el.set_value(&draft);
                let _ = el.focus();
            }
        });
    }
    let c = ctx.clone();
    let onkeydown = move |e: KeyboardEvent| {
        if c.key(&e) {
            e.prevent_default();
        }
    };
    let (c, on_typing) = (ctx.clone(), props.on_typing.clone());
    let oninput = move |_: InputEvent| {
        on_typing.emit(());
        c.refresh();
        if c.editing().is_none() {
            if let Some(el) = c.area.cast::<HtmlTextAreaElement>() {
                c.on_draft.emit(el.value());
            }
        }
    };
    let c = ctx.clone();
    let onsubmit = move |e: SubmitEvent| {
        e.prevent_default();
        c.submit();
    };
    // A click on an option takes its name (its text; the `@` before it is the style's).
    let c = ctx.clone();
    let pick = move |e: MouseEvent| {
        let text = e
            .target_dyn_into::<Element>()
            .and_then(|el| el.text_content());
        if let Some(name) = c
            .options()
            .0
            .into_iter()
            .find(|n| Some(*n) == text.as_deref())
        {
            c.take(name);
        }
    };
    let c = ctx.clone();
    let cancel = move |_: MouseEvent| c.cancel();
    let (options, sel) = ctx.options();
    let open = !options.is_empty();
    let editing = ctx.editing().is_some();
    html! {
        <form class="composer" {onsubmit}>
            if open {
                <ul id="mention-list" class="mentions" role="listbox" aria-label="People"
                    onclick={pick}>
                    { for options.iter().zip(OPTION_IDS).enumerate().map(|(i, (name, id))| html! {
                        <li {id} role="option" aria-selected={if i == sel { "true" } else { "false" }}>
                            { *name }
                        </li>
                    }) }
                </ul>
            }
            if editing {
                <div class="editing" id="editing">
                    { "Editing message · Esc to cancel" }
                    <button type="button" class="link" onclick={cancel}>{ "cancel" }</button>
                </div>
            }
            <label class="visually-hidden" for="message">{ props.placeholder.clone() }</label>
            <textarea id="message" ref={area} rows="1" placeholder={props.placeholder.clone()}
                {onkeydown} {oninput} autocomplete="off"
                aria-autocomplete="list" aria-controls={open.then_some("mention-list")}
                aria-activedescendant={open.then_some(OPTION_IDS[sel])} />
            <button id="send" class="primary" type="submit" disabled={props.disabled}>
                { if editing { "Save" } else { "Send" } }
            </button>
        </form>
    }
}
