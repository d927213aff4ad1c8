//! The first screen: a name and a password, and three ways in: sign in, register, or continue
//! as a guest (the name alone). The reason the server refused the last attempt is shown right
//! under the form, in words.

use web_sys::{HtmlInputElement, InputEvent, KeyboardEvent, SubmitEvent};
use yew::prelude::*;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginRequest {
    Guest { nick: String },
    SignIn { nick: String, password: String },
    Register { nick: String, password: String },
}

#[derive(Properties, PartialEq)]
pub struct LoginProps {
    /// Prefills the name box (the name last used on this page).
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
    pub on_login: Callback<LoginRequest>,
}

fn value(node: &NodeRef) -> String {
    node.cast::<HtmlInputElement>()
        .map(|el| el.value())
        .unwrap_or_default()
}

#[function_component(Login)]
pub fn login(props: &LoginProps) -> Html {
    let nick = use_node_ref();
    let password = use_node_ref();
    // What is typed in the name box, so a re-render (a refusal shown) never clears it.
    let typed = use_state(|| props.nick.clone());
    let oninput = {
        let typed = typed.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(el) = e.target_dyn_into::<HtmlInputElement>() {
                typed.set(el.value());
            }
        })
    };
    // Builds a request from the boxes; `kind` picks the button.
    let request = {
        let (nick, password) = (nick.clone(), password.clone());
        move |kind: u8| {
            let (n, p) = (value(&nick), value(&password));
            match kind {
                0 => LoginRequest::Guest { nick: n },
                1 => LoginRequest::SignIn {
                    nick: n,
                    password: p,
                },
                _ => LoginRequest::Register {
                    nick: n,
                    password: p,
                },
            }
        }
    };
    let button = |kind: u8| {
        let request = request.clone();
        let on_login = props.on_login.clone();
        Callback::from(move |_: MouseEvent| on_login.emit(request(kind)))
    };
    // Enter signs in when a password is typed, and continues as a guest otherwise.
    let enter = {
        let request = request.clone();
        let password = password.clone();
        let on_login = props.on_login.clone();
        move || on_login.emit(request(if value(&password).is_empty() { 0 } else { 1 }))
    };
    let onkeydown = {
        let enter = enter.clone();
        Callback::from(move |e: KeyboardEvent| {
            if e.key() == "Enter" {
                e.prevent_default();
                enter();
            }
        })
    };
    let onsubmit = Callback::from(move |e: SubmitEvent| {
        e.prevent_default();
        enter();
    });
    let invalid = if props.error.is_some() {
        "true"
    } else {
        "false"
    };
    html! {
        <main class="login">
            <form class="login-card" {onsubmit} novalidate=true>
                <h1>{ "Chat" }</h1>
                <p class="hint">
                    { "Sign in, register a name of your own, or pick a name and continue as a guest." }
                </p>
                <label for="nick">{ "Name" }</label>
                <input
                    id="nick"
                    ref={nick}
                    type="text"
                    name="nick"
                    autocomplete="username"
                    autocapitalize="off"
                    spellcheck="false"
                    maxlength="32"
                    autofocus=true
                    value={(*typed).clone()}
                    {oninput}
                    aria-invalid={invalid}
                    aria-describedby="login-error"
                    disabled={props.busy}
                    onkeydown={onkeydown.clone()}
                />
                <label for="password">{ "Password" }<span class="optional">{ " (not for guests)" }</span></label>
                <input
                    id="password"
                    ref={password}
                    type="password"
                    name="password"
                    autocomplete="current-password"
                    maxlength="1024"
                    aria-describedby="login-error"
                    disabled={props.busy}
                    {onkeydown}
                />
                <div class="login-row">
                    <button id="sign-in" class="primary" type="button" disabled={props.busy}
                        onclick={button(1)}>{ "Sign in" }</button>
                    <button id="register" type="button" disabled={props.busy}
                        onclick={button(2)}>{ "Register" }</button>
                    <button id="connect" type="button" class="ghost" disabled={props.busy}
                        onclick={button(0)}>
                        { if props.busy { "Connecting…" } else { "Continue as guest" } }
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
