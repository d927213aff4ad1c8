//! Writing in a real browser (headless Chromium through wasm-bindgen-test): links in messages
//! become safe anchors while markup stays text, ↑ in the empty composer edits our last
//! message, and `@` offers names to complete from the keyboard or the mouse.
#![cfg(target_arch = "wasm32")]

use client_wasm::components::composer::ComposerProps;
use client_wasm::components::message_list::MessageListProps;
use client_wasm::components::time::local_day;
use client_wasm::components::{Composer, MessageList};
use client_wasm::state::{group_lines, Line, LineFlags, LineStatus};
use gloo_timers::future::TimeoutFuture;
use shared::MessageId;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlTextAreaElement, KeyboardEvent, KeyboardEventInit};
use yew::{AppHandle, BaseComponent, Callback, Renderer};

wasm_bindgen_test_configure!(run_in_browser);

fn mount<C: BaseComponent>(props: C::Properties) -> (Element, AppHandle<C>) {
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    let el = doc.create_element("div").expect("div");
    doc.body().expect("body").append_child(&el).expect("append");
    let handle = Renderer::<C>::with_root_and_props(el.clone(), props).render();
    (el, handle)
}

/// Lets the scheduler render and events fire.
async fn settle() {
    TimeoutFuture::new(20).await;
}

fn find(el: &Element, selector: &str) -> Option<Element> {
    el.query_selector(selector).expect("query")
}

fn attr(el: &Element, selector: &str, name: &str) -> Option<String> {
    find(el, selector).and_then(|e| e.get_attribute(name))
}

/// Presses `key` in `area` (with Shift if asked); true if the composer took it.
fn press(area: &HtmlTextAreaElement, key: &str, shift: bool) -> bool {
    let init = KeyboardEventInit::new();
    init.set_key(key);
    init.set_shift_key(shift);
    init.set_bubbles(true);
    init.set_cancelable(true);
    let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).expect("event");
    area.dispatch_event(&event).expect("dispatch");
    event.default_prevented()
}

/// Types `text` as if by hand: the value, the caret at its end, and an `input` event.
fn type_in(area: &HtmlTextAreaElement, text: &str) {
    area.set_value(text);
    let end = text.encode_utf16().count() as u32;
    area.set_selection_range(end, end).expect("caret");
    input(area);
}

fn input(area: &HtmlTextAreaElement) {
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).expect("event");
    area.dispatch_event(&event).expect("dispatch");
}

fn textarea(el: &Element) -> HtmlTextAreaElement {
    find(el, "#message")
        .expect("textarea")
        .dyn_into()
        .expect("textarea")
}

#[wasm_bindgen_test]
async fn links_become_anchors_and_markup_stays_text() {
    let text = "see https://example.org/a?b=1&c=2. <script>alert(1)</script> \
                javascript:alert(1) (www.rust-lang.org) http://x\"onmouseover=alert(1)";
    let line = Line {
        key: "1".into(),
        text: text.into(),
        ts: 1_764_000_000_000,
        status: LineStatus::Delivered,
        flags: LineFlags::default(),
    };
    let props = yew::props!(MessageListProps {
        groups: group_lines(
            vec![("mallory".to_string(), line)],
            "alice",
            local_day,
            None
        ),
        on_older: Callback::noop(),
        on_retry: Callback::noop(),
        on_discard: Callback::noop(),
        on_edit: Callback::noop(),
        on_delete: Callback::noop(),
    });
    let (el, _app) = mount::<MessageList>(props);
    settle().await;
    let span = find(&el, ".msg .text").expect("text");
    assert_eq!(
        span.text_content().as_deref(),
        Some(text),
        "every character shown"
    );
    assert!(
        find(&el, "script, img, [onmouseover]").is_none(),
        "{}",
        el.inner_html()
    );
    let links = span.query_selector_all("a").expect("query");
    let shown: Vec<(String, String, String, String)> = (0..links.length())
        .filter_map(|i| links.item(i)?.dyn_into::<Element>().ok())
        .map(|a| {
            let get = |n: &str| a.get_attribute(n).unwrap_or_default();
            (
                a.text_content().unwrap_or_default(),
                get("href"),
                get("target"),
                get("rel"),
            )
        })
        .collect();
    let blank = || "_blank".to_string();
    let rel = || "noopener noreferrer".to_string();
    assert_eq!(
        shown,
        vec![
            (
                "https://example.org/a?b=1&c=2".into(),
                "https://example.org/a?b=1&c=2".into(),
                blank(),
                rel()
            ),
            (
                "www.rust-lang.org".into(),
                "https://www.rust-lang.org".into(),
                blank(),
                rel()
            ),
            ("http://x".into(), "http://x".into(), blank(), rel()),
        ],
        "{}",
        el.inner_html()
    );
}

type Edits = Rc<RefCell<Vec<(MessageId, String)>>>;

fn composer(
    names: &[&str],
    last_own: Option<(MessageId, &str)>,
) -> (Edits, Rc<RefCell<Vec<String>>>, ComposerProps) {
    let edits: Edits = Rc::default();
    let sent = Rc::new(RefCell::new(Vec::new()));
    let (e, s) = (edits.clone(), sent.clone());
    let props = yew::props!(ComposerProps {
        placeholder: "Message #general".to_string(),
        names: names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        last_own: last_own.map(|(id, t)| (id, t.to_string())),
        on_send: Callback::from(move |t: String| s.borrow_mut().push(t)),
        on_edit: Callback::from(move |edit| e.borrow_mut().push(edit)),
        on_typing: Callback::noop(),
    });
    (edits, sent, props)
}

#[wasm_bindgen_test]
async fn up_in_the_empty_box_edits_the_last_message() {
    let (edits, sent, props) = composer(&[], Some((7, "old text")));
    let (el, _app) = mount::<Composer>(props);
    settle().await;
    let area = textarea(&el);

    // Not while something is typed, and not with a modifier.
    area.set_value("draft");
    assert!(!press(&area, "ArrowUp", false));
    area.set_value("");
    assert!(!press(&area, "ArrowUp", true));
    assert_eq!(area.value(), "");

    assert!(press(&area, "ArrowUp", false));
    settle().await;
    assert_eq!(area.value(), "old text");
    let bar = find(&el, "#editing").map(|b| b.text_content().unwrap_or_default());
    assert!(
        bar.as_deref()
            .is_some_and(|b| b.contains("Editing message · Esc to cancel")),
        "{}",
        el.inner_html()
    );
    // Shift+Enter is still a new line while editing.
    assert!(!press(&area, "Enter", true));
    area.set_value("new text");
    assert!(press(&area, "Enter", false));
    settle().await;
    assert_eq!(*edits.borrow(), vec![(7, "new text".to_string())]);
    assert!(sent.borrow().is_empty(), "an edit is no new message");
    assert_eq!(area.value(), "");
    assert!(find(&el, "#editing").is_none(), "the edit is over");

    // Unchanged: nothing to send. Esc cancels and empties the box.
    assert!(press(&area, "ArrowUp", false));
    settle().await;
    assert!(press(&area, "Enter", false));
    settle().await;
    assert_eq!(edits.borrow().len(), 1);
    assert!(press(&area, "ArrowUp", false));
    settle().await;
    assert!(press(&area, "Escape", false));
    settle().await;
    assert_eq!(area.value(), "");
    assert!(find(&el, "#editing").is_none());
    // The cancel button does the same.
    assert!(press(&area, "ArrowUp", false));
    settle().await;
    find(&el, "#editing button")
        .expect("cancel button")
        .dyn_into::<HtmlElement>()
        .expect("button")
        .click();
    settle().await;
    assert_eq!(area.value(), "");
    assert!(find(&el, "#editing").is_none());
    assert_eq!(edits.borrow().len(), 1);
    assert!(sent.borrow().is_empty());
}

#[wasm_bindgen_test]
async fn nothing_to_edit_leaves_up_alone() {
    let (_, _, props) = composer(&[], None);
    let (el, _app) = mount::<Composer>(props);
    settle().await;
    let area = textarea(&el);
    assert!(!press(&area, "ArrowUp", false));
    settle().await;
    assert!(find(&el, "#editing").is_none());
}

fn options(el: &Element) -> Vec<(String, String)> {
    let list = el
        .query_selector_all("#mention-list [role=option]")
        .expect("q");
    (0..list.length())
        .filter_map(|i| list.item(i)?.dyn_into::<Element>().ok())
        .map(|o| {
            (
                o.text_content().unwrap_or_default(),
                o.get_attribute("aria-selected").unwrap_or_default(),
            )
        })
        .collect()
}

#[wasm_bindgen_test]
async fn at_offers_names_chosen_with_the_keyboard() {
    let (_, sent, props) = composer(&["bob", "Bobby", "carol"], Some((7, "old")));
    let (el, _app) = mount::<Composer>(props);
    settle().await;
    let area = textarea(&el);
    assert!(find(&el, "#mention-list").is_none());
    assert_eq!(attr(&el, "#message", "aria-controls"), None);
    assert_eq!(attr(&el, "#message", "aria-activedescendant"), None);

    type_in(&area, "hi @BO");
    settle().await;
    assert_eq!(
        options(&el),
        vec![
            ("bob".to_string(), "true".to_string()),
            ("Bobby".to_string(), "false".to_string())
        ]
    );
    assert_eq!(
        attr(&el, "#mention-list", "role").as_deref(),
        Some("listbox")
    );
    assert_eq!(
        attr(&el, "#message", "aria-controls").as_deref(),
        Some("mention-list")
    );
    assert_eq!(
        attr(&el, "#message", "aria-autocomplete").as_deref(),
        Some("list")
    );
    assert_eq!(
        attr(&el, "#message", "aria-activedescendant").as_deref(),
        Some("mention-0")
    );

    assert!(press(&area, "ArrowDown", false));
    settle().await;
    assert_eq!(
        attr(&el, "#message", "aria-activedescendant").as_deref(),
        Some("mention-1")
    );
    assert_eq!(options(&el)[1].1, "true");
    // ↑ moves the choice while the list is open (it does not start an edit); it wraps.
    assert!(press(&area, "ArrowUp", false));
    assert!(press(&area, "ArrowUp", false));
    settle().await;
    assert_eq!(options(&el)[1].1, "true", "{:?}", options(&el));
    assert!(find(&el, "#editing").is_none());

    assert!(press(&area, "Enter", false));
    settle().await;
    assert_eq!(area.value(), "hi @Bobby ");
    assert!(
        sent.borrow().is_empty(),
        "Enter took the name, sent nothing"
    );
    assert!(options(&el).is_empty());
    assert_eq!(attr(&el, "#message", "aria-controls"), None);
    assert_eq!(attr(&el, "#message", "aria-activedescendant"), None);

    // Tab takes a name too; Esc closes the list and keeps the text.
    type_in(&area, "hi @Bobby and @c");
    settle().await;
    assert!(press(&area, "Tab", false));
    settle().await;
    assert_eq!(area.value(), "hi @Bobby and @carol ");
    type_in(&area, "@b");
    settle().await;
    assert!(press(&area, "Escape", false));
    settle().await;
    assert!(options(&el).is_empty());
    assert_eq!(area.value(), "@b");
    // With the list closed, Enter sends.
    assert!(press(&area, "Enter", false));
    assert_eq!(*sent.borrow(), vec!["@b".to_string()]);
}

#[wasm_bindgen_test]
async fn at_needs_a_word_start_and_a_click_takes_a_name() {
    let (_, _, props) = composer(&["bob", "carol"], None);
    let (el, _app) = mount::<Composer>(props);
    settle().await;
    let area = textarea(&el);
    type_in(&area, "mail bob@b");
    settle().await;
    assert!(options(&el).is_empty(), "an address is no mention");
    type_in(&area, "@z");
    settle().await;
    assert!(options(&el).is_empty(), "nobody is called z");

    // The caret in the middle of the text: the mention before it is completed in place.
    area.set_value("hey @c, welcome");
    area.set_selection_range(6, 6).expect("caret");
    input(&area);
    settle().await;
    assert_eq!(
        options(&el),
        vec![("carol".to_string(), "true".to_string())]
    );
    find(&el, "#mention-0")
        .expect("option")
        .dyn_into::<HtmlElement>()
        .expect("li")
        .click();
    settle().await;
    assert_eq!(area.value(), "hey @carol, welcome");
    assert_eq!(area.selection_start().ok().flatten(), Some(10));
    assert!(options(&el).is_empty());
}
