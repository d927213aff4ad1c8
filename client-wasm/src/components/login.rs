//! The demo's first screen: a nickname box and a connect button, with the server's reason for
//! refusing a nickname right next to the box.

use web_sys::{HtmlInputElement, SubmitEvent};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct LoginProps {
    /// Prefills the box (the nickname last used on this page).
    #[prop_or_default]
    pub nick: String,
    /// Why the last attempt failed.
    #[prop_or_default]
    pub error: Option<String>,
    /// A connection attempt is under way.
    #[prop_or_default]
    pub busy: bool,
    /// Shown under the form while busy (the connection state).
    #[prop_or_default]
    pub status: Html,
    pub on_connect: Callback<String>,
}

#[function_component(Login)]
pub fn login(props: &LoginProps) -> Html {
    let input = use_node_ref();
    let onsubmit = {
        let input = input.clone();
        let on_connect = props.on_connect.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            if let Some(el) = input.cast::<HtmlInputElement>() {
                on_connect.emit(el.value());
            }
        })
    };
    let invalid = if props.error.is_some() {
        "true"
    } else {
        "false"
    };
    html! {
        <main class="login">
            <form class="login-card" {onsubmit} novalidate=true>
                <h1>{ "Chat" }</h1>
                <p class="hint">{ "Pick a nickname to join the conversation." }</p>
                <label for="nick">{ "Nickname" }</label>
                <div class="login-row">
                    <input
                        id="nick"
                        ref={input}
                        type="text"
                        name="nick"
                        autocomplete="username"
                        autocapitalize="off"
                        spellcheck="false"
                        maxlength="32"
                        autofocus=true
                        value={props.nick.clone()}
                        aria-invalid={invalid}
                        aria-describedby="login-error"
                        disabled={props.busy}
                    />
                    <button id="connect" class="primary" type="submit" disabled={props.busy}>
                        { if props.busy { "Connecting…" } else { "Connect" } }
                    </button>
                </div>
                <p id="login-error" class="error" role="alert">
                    { props.error.clone().unwrap_or_default() }
                </p>
                { props.status.clone() }
            </form>
        </main>
    }
}
