//! Reading in a real browser: date dividers between days, the "new messages" divider above the
//! first unread line, and times written by the browser's own `Intl` (so these hold in any
//! locale and time zone the browser runs in).
#![cfg(target_arch = "wasm32")]

use client_wasm::components::time::{day_label, local_day};
use client_wasm::components::MessageList;
use client_wasm::state::{group_lines, Line, LineFlags, LineStatus};
use gloo_timers::future::TimeoutFuture;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;
use web_sys::Element;
use yew::{Callback, Renderer};

wasm_bindgen_test_configure!(run_in_browser);

const HOUR: i64 = 60 * 60 * 1000;

fn line(id: u64, ts: i64) -> (String, Line) {
    let line = Line {
        key: id.to_string(),
        text: format!("message {id}"),
        ts,
        status: LineStatus::Delivered,
        flags: LineFlags {
            id: Some(id),
            ..LineFlags::default()
        },
    };
    ("bob".to_string(), line)
}

/// What `new Intl.DateTimeFormat(undefined, options).format(ts)` says.
fn intl(options: &[(&str, &str)], ts: i64) -> String {
    let opts = Object::new();
    for (k, v) in options {
        Reflect::set(&opts, &(*k).into(), &(*v).into()).expect("set");
    }
    js_sys::Intl::DateTimeFormat::new(&Array::new(), &opts)
        .format()
        .call1(&JsValue::UNDEFINED, &(ts as f64).into())
        .expect("format")
        .as_string()
        .expect("a string")
}

#[wasm_bindgen_test]
async fn days_and_the_first_unread_get_dividers_and_times_are_local() {
    let now = js_sys::Date::now() as i64;
    let yesterday = now - 24 * HOUR;
    let lines = vec![
        line(1, yesterday),
        line(2, yesterday + 1),
        line(3, now),
        line(4, now + 1),
    ];
    let groups = group_lines(lines, "alice", local_day, Some(4));
    let props = yew::props!(client_wasm::components::message_list::MessageListProps {
        groups,
        on_older: Callback::noop(),
        on_retry: Callback::noop(),
        on_discard: Callback::noop(),
        on_edit: Callback::noop(),
        on_delete: Callback::noop(),
    });
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let el: Element = doc.create_element("div").expect("div");
    doc.body().expect("body").append_child(&el).expect("append");
    let _app = Renderer::<MessageList>::with_root_and_props(el.clone(), props).render();
    TimeoutFuture::new(50).await;

    let html = el.inner_html();
    let seps = el.query_selector_all("li.divider").expect("query");
    let texts: Vec<String> = (0..seps.length())
        .filter_map(|i| seps.item(i))
        .map(|n| n.text_content().unwrap_or_default())
        .collect();
    assert_eq!(texts, ["Yesterday", "Today", "New messages"], "{html}");

    // The new-messages divider comes right before the group holding message 4.
    let divider = el
        .query_selector("#new-divider")
        .expect("query")
        .expect("the new-messages divider");
    let next = divider.next_element_sibling().expect("a group after it");
    assert!(
        next.query_selector("[data-id='4']").expect("q").is_some(),
        "{html}"
    );

    let times = el.query_selector_all("time").expect("query");
    let first = times.item(0).expect("a time");
    let first: Element = wasm_bindgen::JsCast::unchecked_into(first);
    assert_eq!(
        first.text_content().unwrap_or_default(),
        intl(&[("hour", "numeric"), ("minute", "2-digit")], yesterday)
    );
    assert_eq!(
        first.get_attribute("title").unwrap_or_default(),
        intl(&[("dateStyle", "full"), ("timeStyle", "short")], yesterday)
    );
    let iso = js_sys::Date::new(&(yesterday as f64).into())
        .to_iso_string()
        .as_string()
        .unwrap_or_default();
    assert_eq!(first.get_attribute("datetime"), Some(iso));
}

#[wasm_bindgen_test]
fn an_older_day_is_named_by_intl() {
    let now = js_sys::Date::now() as i64;
    let long_ago = now - 400 * 24 * HOUR;
    let label = day_label(long_ago, now);
    let want = intl(
        &[
            ("weekday", "long"),
            ("month", "long"),
            ("day", "numeric"),
            ("year", "numeric"),
        ],
        long_ago,
    );
    assert_eq!(label, want);
}
