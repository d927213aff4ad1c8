//! Components and services in a real browser (headless Chromium through wasm-bindgen-test):
//! text stays text, the login form shows the server's reason, Enter sends, the socket reports a
//! refused connection, and the driver turns that into a message on the login form.
#![cfg(target_arch = "wasm32")]

use client_wasm::components::time::{clock, local_day};
use client_wasm::components::{Composer, Login, MessageList, Status};
use client_wasm::services::driver::Driver;
use client_wasm::services::socket::{Socket, SocketEvent};
use client_wasm::state::{group_lines, Action, ChatState, Connection, Line, LineFlags, LineStatus};
use gloo_timers::future::TimeoutFuture;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlTextAreaElement, KeyboardEvent, KeyboardEventInit};
use yew::{AppHandle, BaseComponent, Callback, Renderer};

wasm_bindgen_test_configure!(run_in_browser);

const XSS: &str = "<img src=x onerror=alert(1)>";

fn document() -> web_sys::Document {
    web_sys::window()
        .and_then(|w| w.document())
        .expect("a document")
}

/// A fresh element to render into.
fn root() -> Element {
    let doc = document();
    let el = doc.create_element("div").expect("div");
    doc.body().expect("body").append_child(&el).expect("append");
    el
}

fn mount<C: BaseComponent>(props: C::Properties) -> (Element, AppHandle<C>) {
    let el = root();
    let handle = Renderer::<C>::with_root_and_props(el.clone(), props).render();
    (el, handle)
}

/// Lets the scheduler render and events fire.
async fn settle() {
    TimeoutFuture::new(20).await;
}

/// Waits up to `ms` for `cond`.
async fn wait_for(ms: u32, mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..ms / 20 {
        if cond() {
            return true;
        }
        TimeoutFuture::new(20).await;
    }
    cond()
}

fn text_of(el: &Element, selector: &str) -> String {
    el.query_selector(selector)
        .ok()
        .flatten()
        .and_then(|e| e.text_content())
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn message_text_renders_as_text_not_html() {
    let texts = [XSS, "<b>bold</b> &amp; <i>x</i>"];
    let lines = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let line = Line {
                key: i.to_string(),
                text: (*text).into(),
                ts: 1_764_000_000_000,
                status: LineStatus::Delivered,
                flags: LineFlags::default(),
            };
            ("mallory".to_string(), line)
        })
        .collect();
    let groups = group_lines(lines, "alice", local_day, None);
    let props = yew::props!(client_wasm::components::message_list::MessageListProps {
        groups,
        on_older: Callback::noop(),
        on_retry: Callback::noop(),
        on_discard: Callback::noop(),
        on_edit: Callback::noop(),
        on_delete: Callback::noop(),
    });
    let (el, _app) = mount::<MessageList>(props);
    settle().await;
    let spans = el.query_selector_all(".msg .text").expect("query");
    let shown: Vec<String> = (0..spans.length())
        .filter_map(|i| spans.item(i))
        .map(|n| n.text_content().unwrap_or_default())
        .collect();
    assert_eq!(shown, texts, "{}", el.inner_html());
    assert_eq!(text_of(&el, ".sender"), "mallory");
    // The markup made no element: each text span holds one text node.
    for i in 0..spans.length() {
        let span = spans.item(i).expect("span");
        assert_eq!(span.child_nodes().length(), 1, "{}", el.inner_html());
        assert_eq!(
            span.first_child().map(|c| c.node_type()),
            Some(web_sys::Node::TEXT_NODE)
        );
    }
    assert!(
        el.query_selector("img, b, i").expect("query").is_none(),
        "{}",
        el.inner_html()
    );
}

#[wasm_bindgen_test]
async fn pending_and_failed_messages_are_marked() {
    let cid = shared::ClientMsgId::new("c-1").expect("id");
    let lines = vec![
        (
            "alice".to_string(),
            Line {
                key: "c-1".into(),
                text: "on its way".into(),
                ts: 0,
                status: LineStatus::Pending {
                    client_id: cid.clone(),
                },
                flags: LineFlags::default(),
            },
        ),
        (
            "alice".to_string(),
            Line {
                key: "c-2".into(),
                text: "refused".into(),
                ts: 0,
                status: LineStatus::Failed {
                    client_id: cid,
                    reason: "bob is not online".into(),
                },
                flags: LineFlags::default(),
            },
        ),
    ];
    let retried = Rc::new(RefCell::new(Vec::new()));
    let r = retried.clone();
    let props = yew::props!(client_wasm::components::message_list::MessageListProps {
        groups: group_lines(lines, "alice", local_day, None),
        on_older: Callback::noop(),
        on_retry: Callback::from(move |id: shared::ClientMsgId| r
            .borrow_mut()
            .push(id.to_string())),
        on_discard: Callback::noop(),
        on_edit: Callback::noop(),
        on_delete: Callback::noop(),
    });
    let (el, _app) = mount::<MessageList>(props);
    settle().await;
    assert!(text_of(&el, ".msg.pending").contains("sending…"));
    assert!(text_of(&el, ".msg.failed").contains("not sent: bob is not online"));
    let retry = el
        .query_selector(".msg.failed button")
        .expect("query")
        .expect("retry button")
        .dyn_into::<web_sys::HtmlElement>()
        .expect("html element");
    retry.click();
    assert_eq!(*retried.borrow(), vec!["c-1".to_string()]);
}

#[wasm_bindgen_test]
async fn login_shows_the_reason_next_to_the_box() {
    let props = yew::props!(client_wasm::components::login::LoginProps {
        error: Some("nickname alice is already in use".to_string()),
        on_login: Callback::noop(),
    });
    let (el, _app) = mount::<Login>(props);
    settle().await;
    assert!(el.query_selector("#nick").expect("query").is_some());
    assert!(el.query_selector("#connect").expect("query").is_some());
    assert_eq!(
        text_of(&el, "#login-error"),
        "nickname alice is already in use"
    );
    let nick = el.query_selector("#nick").expect("q").expect("nick");
    assert_eq!(nick.get_attribute("aria-invalid").as_deref(), Some("true"));
    assert_eq!(
        nick.get_attribute("aria-describedby").as_deref(),
        Some("login-error")
    );
}

#[wasm_bindgen_test]
async fn status_counts_down_the_reconnect() {
    let props = yew::props!(client_wasm::components::status::StatusProps {
        connection: Connection::Reconnecting {
            attempt: 2,
            retry_at: 0
        },
        retry_in: Some(3),
        on_retry: Callback::noop(),
    });
    let (el, _app) = mount::<Status>(props);
    settle().await;
    assert!(text_of(&el, "#status").contains("reconnecting in 3 s"));
    assert!(text_of(&el, "#status button").contains("Retry now"));
}

#[wasm_bindgen_test]
async fn status_names_the_transport_in_use() {
    for (polling, label) in [
        (false, "online · WebSocket"),
        (true, "online · long polling"),
    ] {
        let props = yew::props!(client_wasm::components::status::StatusProps {
            connection: Connection::Online,
            polling,
            on_retry: Callback::noop(),
        });
        let (el, _app) = mount::<Status>(props);
        settle().await;
        assert_eq!(text_of(&el, "#status"), label);
    }
}

#[wasm_bindgen_test]
async fn enter_sends_and_shift_enter_does_not() {
    let sent = Rc::new(RefCell::new(Vec::<String>::new()));
    let s = sent.clone();
    let props = yew::props!(client_wasm::components::composer::ComposerProps {
        placeholder: "Message #general".to_string(),
        on_send: Callback::from(move |t: String| s.borrow_mut().push(t)),
        on_typing: Callback::noop(),
    });
    let (el, _app) = mount::<Composer>(props);
    settle().await;
    let area: HtmlTextAreaElement = el
        .query_selector("#message")
        .expect("q")
        .expect("textarea")
        .dyn_into()
        .expect("textarea");
    let key = |shift: bool| {
        let init = KeyboardEventInit::new();
        init.set_key("Enter");
        init.set_shift_key(shift);
        init.set_bubbles(true);
        init.set_cancelable(true);
        KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).expect("event")
    };
    area.set_value("hello\nthere");
    area.dispatch_event(&key(true)).expect("dispatch");
    assert!(sent.borrow().is_empty());
    area.dispatch_event(&key(false)).expect("dispatch");
    assert_eq!(*sent.borrow(), vec!["hello\nthere".to_string()]);
    assert_eq!(area.value(), "", "the box is cleared after sending");
    area.dispatch_event(&key(false)).expect("dispatch");
    assert_eq!(sent.borrow().len(), 1, "an empty box sends nothing");
}

#[wasm_bindgen_test]
fn clock_is_hours_and_minutes() {
    let s = clock(1_764_000_000_123);
    assert!(s.contains(':') || s.contains('.'), "{s}");
    assert!(s.chars().filter(|c| c.is_ascii_digit()).count() >= 3, "{s}");
}

#[wasm_bindgen_test]
async fn a_link_with_no_chat_behind_it_tries_both_transports_then_reports_1006() {
    let events = Rc::new(RefCell::new(Vec::new()));
    let e = events.clone();
    // The test runner's server has neither a chat WebSocket nor `/poll`: the WebSocket fails,
    // the link falls back to polling, that fails too, and only then does the driver hear of it.
    let _socket = Socket::connect("/chat", move |ev| e.borrow_mut().push(ev));
    assert!(wait_for(10_000, || !events.borrow().is_empty()).await);
    assert_eq!(
        *events.borrow(),
        vec![SocketEvent::Closed {
            code: 1006,
            reason: String::new()
        }]
    );
}

#[wasm_bindgen_test]
async fn driver_turns_an_unreachable_server_into_a_login_error() {
    let latest: Rc<RefCell<Option<Rc<ChatState>>>> = Rc::new(RefCell::new(None));
    let l = latest.clone();
    let driver = Driver::new("/chat".into(), move |s| *l.borrow_mut() = Some(s));
    driver.dispatch(Action::Connect {
        nick: "alice".into(),
    });
    let connecting = latest.borrow().as_ref().map(|s| s.connection.clone());
    assert_eq!(connecting, Some(Connection::Connecting { attempt: 0 }));
    let done = wait_for(10_000, || {
        latest
            .borrow()
            .as_ref()
            .is_some_and(|s| s.connection == Connection::Offline)
    })
    .await;
    assert!(done);
    let error = latest.borrow().as_ref().and_then(|s| s.login_error.clone());
    assert_eq!(error.as_deref(), Some("Could not reach the server."));
}

#[wasm_bindgen_test]
async fn app_starts_on_the_login_form() {
    let el = root();
    let _app = Renderer::<client_wasm::App>::with_root(el.clone()).render();
    settle().await;
    assert!(el.query_selector("#nick").expect("q").is_some());
    assert_eq!(text_of(&el, "#connect"), "Continue as guest");
    // An invalid nickname is explained without a round trip.
    let nick: web_sys::HtmlInputElement = el
        .query_selector("#nick")
        .expect("q")
        .expect("nick")
        .dyn_into()
        .expect("input");
    nick.set_value("a b");
    let button: web_sys::HtmlElement = el
        .query_selector("#connect")
        .expect("q")
        .expect("button")
        .dyn_into()
        .expect("button");
    button.click();
    settle().await;
    assert!(
        text_of(&el, "#login-error").contains("letters, digits"),
        "{}",
        el.inner_html()
    );
}
