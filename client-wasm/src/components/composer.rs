//! The message box and send button. Enter sends; Shift+Enter starts a new line.

use web_sys::HtmlTextAreaElement;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ComposerProps {
    /// Where the message goes, for the placeholder ("Message #general").
    pub placeholder: String,
    #[prop_or_default]
    pub disabled: bool,
    pub on_send: Callback<String>,
    pub on_typing: Callback<()>,
}

#[function_component(Composer)]
pub fn composer(props: &ComposerProps) -> Html {
    let area = use_node_ref();
    {
        // Ready to type as soon as the chat opens.
        let area = area.clone();
        use_effect_with((), move |_| {
            if let Some(el) = area.cast::<HtmlTextAreaElement>() {
                let _ = el.focus();
            }
        });
    }
    let send = {
        let area = area.clone();
        let on_send = props.on_send.clone();
        move || {
            if let Some(el) = area.cast::<HtmlTextAreaElement>() {
                let text = el.value();
                if !text.trim().is_empty() {
                    on_send.emit(text);
                    el.set_value("");
                }
                let _ = el.focus();
            }
        }
    };
    let onkeydown = {
        let send = send.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" && !e.shift_key() && !e.is_composing() {
                e.prevent_default();
                send();
            }
        })
    };
    let oninput = {
        let on_typing = props.on_typing.clone();
        Callback::from(move |_: InputEvent| on_typing.emit(()))
    };
    let onsubmit = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        send();
    });
    html! {
        <form class="composer" {onsubmit}>
            <label class="visually-hidden" for="message">{ props.placeholder.clone() }</label>
            <textarea id="message" ref={area} rows="1" placeholder={props.placeholder.clone()}
                {onkeydown} {oninput} autocomplete="off" />
            <button id="send" class="primary" type="submit" disabled={props.disabled}>{ "Send" }</button>
        </form>
    }
}
