//! Times as the reader's browser would write them: `Intl.DateTimeFormat` in the browser's locale
//! and time zone (12 or 24 hours as the locale has it). Each style's formatter is made once.
//!
//! Browser calls through and through, so written in JavaScript: a few lines there instead of
//! bindings and option objects in the wasm.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
const styles = [
  { hour: 'numeric', minute: '2-digit' },
  { dateStyle: 'full', timeStyle: 'short' },
  { weekday: 'long', month: 'long', day: 'numeric' },
  { weekday: 'long', month: 'long', day: 'numeric', year: 'numeric' },
];
const formats = [];
export function write(style, ts) {
  formats[style] = formats[style] || new Intl.DateTimeFormat(undefined, styles[style]);
  return formats[style].format(ts);
}
export function iso(ts) { return new Date(ts).toISOString(); }
export function local_day(ts) {
  return Math.floor((ts - new Date(ts).getTimezoneOffset() * 60000) / 86400000);
}
export function day_label(ts, now) {
  const days = local_day(now) - local_day(ts);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return write(new Date(ts).getFullYear() === new Date(now).getFullYear() ? 2 : 3, ts);
}
"#)]
extern "C" {
    fn write(style: u32, ts: f64) -> String;
    #[wasm_bindgen(js_name = iso)]
    fn js_iso(ts: f64) -> String;
    #[wasm_bindgen(js_name = local_day)]
    fn js_local_day(ts: f64) -> f64;
    #[wasm_bindgen(js_name = day_label)]
    fn js_day_label(ts: f64, now: f64) -> String;
}

/// The time of day: "14:05", "2:05 PM".
pub fn clock(ts: i64) -> String {
    write(0, ts as f64)
}

/// Date and time in full, for the tooltip: "Monday, 30 November 2026 at 14:05".
pub fn full(ts: i64) -> String {
    write(1, ts as f64)
}

/// The ISO form, for `datetime`.
pub fn iso(ts: i64) -> String {
    js_iso(ts as f64)
}

/// The browser's local calendar day of `ts`, as a day number (days since 1970-01-01 there).
pub fn local_day(ts: i64) -> i64 {
    js_local_day(ts as f64) as i64
}

/// A date divider's words: "Today", "Yesterday", "Monday, 30 November", with the year when it
/// is not this year's.
pub fn day_label(ts: i64, now: i64) -> String {
    js_day_label(ts as f64, now as f64)
}
