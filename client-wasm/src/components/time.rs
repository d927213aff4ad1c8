//! Times as the reader's browser would write them: `Intl.DateTimeFormat` in the browser's locale
//! and time zone (12 or 24 hours as the locale has it). Each style's formatter is made once.

use js_sys::{Array, Date, Function, Object, Reflect};
use wasm_bindgen::JsValue;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The styles, by index into `FORMATS` (the last: `DAY` with the year).
const CLOCK: usize = 0;
const FULL: usize = 1;
const DAY: usize = 2;

thread_local! {
    static FORMATS: [Function; 4] = [
        formatter(&[("hour", "numeric"), ("minute", "2-digit")]),
        formatter(&[("dateStyle", "full"), ("timeStyle", "short")]),
        formatter(&[("weekday", "long"), ("month", "long"), ("day", "numeric")]),
        formatter(&[("weekday", "long"), ("month", "long"), ("day", "numeric"), ("year", "numeric")]),
    ];
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

fn write(style: usize, ts: i64) -> String {
    FORMATS
        .with(|f| f[style].call1(&JsValue::UNDEFINED, &JsValue::from_f64(ts as f64)))
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// The time of day: "14:05", "2:05 PM".
pub fn clock(ts: i64) -> String {
    write(CLOCK, ts)
}

/// Date and time in full, for the tooltip: "Monday, 30 November 2026 at 14:05".
pub fn full(ts: i64) -> String {
    write(FULL, ts)
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
            let year = |t: i64| year_of(local_day(t));
            // DAY_YEAR follows DAY.
            write(DAY + usize::from(year(ts) != year(now)), ts)
        }
    }
}

/// The year of a day number (days since 1970-01-01), in the proleptic Gregorian calendar.
fn year_of(day: i64) -> i64 {
    // Howard Hinnant's `civil_from_days`: eras of 400 years from 0000-03-01.
    let z = day + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    // Months from March: January and February (10, 11) belong to the next year.
    era * 400 + yoe + i64::from((5 * doy + 2) / 153 >= 10)
}
