//! Times as the reader's browser would write them: `Intl.DateTimeFormat` in the browser's locale
//! and time zone (12 or 24 hours as the locale has it). Each style's formatter is made once.

use js_sys::{Array, Date, Function, Object, Reflect};
use std::thread::LocalKey;
use wasm_bindgen::JsValue;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

thread_local! {
    static CLOCK: Function = formatter(&[("hour", "numeric"), ("minute", "2-digit")]);
    static FULL: Function = formatter(&[("dateStyle", "full"), ("timeStyle", "short")]);
    static DAY: Function = formatter(&[("weekday", "long"), ("month", "long"), ("day", "numeric")]);
    static DAY_YEAR: Function = formatter(&[
        ("weekday", "long"),
        ("month", "long"),
        ("day", "numeric"),
        ("year", "numeric"),
    ]);
}

/// `Intl.DateTimeFormat(undefined, options).format`: the browser's locale.
fn formatter(options: &[(&str, &str)]) -> Function {
    let opts = Object::new();
    for (key, value) in options {
        // Setting a property on a plain new object cannot fail.
        let _ = Reflect::set(&opts, &JsValue::from_str(key), &JsValue::from_str(value));
    }
    js_sys::Intl::DateTimeFormat::new(&Array::new(), &opts).format()
}

fn write(with: &'static LocalKey<Function>, ts: i64) -> String {
    with.with(|f| f.call1(&JsValue::UNDEFINED, &JsValue::from_f64(ts as f64)))
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// The time of day: "14:05", "2:05 PM".
pub fn clock(ts: i64) -> String {
    write(&CLOCK, ts)
}

/// Date and time in full, for the tooltip: "Monday, 30 November 2026 at 14:05".
pub fn full(ts: i64) -> String {
    write(&FULL, ts)
}

/// The ISO form, for `datetime`.
pub fn iso(ts: i64) -> String {
    Date::new(&JsValue::from_f64(ts as f64))
        .to_iso_string()
        .as_string()
        .unwrap_or_default()
}

/// The browser's local calendar day of `ts`, as a day number (days since 1970-01-01 there).
pub fn local_day(ts: i64) -> i64 {
    let offset = Date::new(&JsValue::from_f64(ts as f64)).get_timezone_offset();
    (ts - offset as i64 * 60_000).div_euclid(DAY_MS)
}

/// A date divider's words: "Today", "Yesterday", "Monday, 30 November", with the year when it
/// is not this year's.
pub fn day_label(ts: i64, now: i64) -> String {
    match local_day(now) - local_day(ts) {
        0 => "Today".into(),
        1 => "Yesterday".into(),
        _ => {
            let year = |t: i64| Date::new(&JsValue::from_f64(t as f64)).get_full_year();
            write(
                if year(ts) == year(now) {
                    &DAY
                } else {
                    &DAY_YEAR
                },
                ts,
            )
        }
    }
}
