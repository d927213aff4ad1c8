//! Message text with its web links made clickable. The text is split into plain runs and links
//! by a small scanner (no crate: the wasm is near its size budget); every run stays a text node
//! and every link an `<a>` Yew builds, so no part of a message is ever parsed as HTML.
//!
//! A link starts with `http://` or `https://` (any case), or `www.` (made `https://`), at the
//! start of a word. It runs to whitespace or a character a URL never holds raw (`"`, `<`, `>`,
//! a backtick, a control); trailing punctuation and an unbalanced closing bracket are the
//! sentence's, not the link's. No other scheme is ever a link: `javascript:` stays text.

use yew::prelude::*;

/// A run of message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    /// A link as written; [`href`] gives its target.
    Link(&'a str),
}

/// `text` as plain runs and links, in order; joined, they give `text` back.
pub fn split_links(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let (mut plain, mut i) = (0, 0);
    // Links start with an ASCII letter, so every byte where one can start is a character
    // boundary.
    while i < text.len() {
        let len = link_at(text, i);
        if len > 0 {
            if plain < i {
                out.push(Segment::Text(&text[plain..i]));
            }
            out.push(Segment::Link(&text[i..i + len]));
            plain = i + len;
        }
        i += len.max(1);
    }
    if plain < text.len() {
        out.push(Segment::Text(&text[plain..]));
    }
    out
}

/// Where a link the scanner found points: `www.` links get `https://`.
pub fn href(link: &str) -> String {
    if starts_ci(link, "www.") {
        ["https://", link].concat()
    } else {
        link.to_string()
    }
}

/// `text` with its links as `<a>`s that open in a new tab, without telling it where from.
pub fn rich_text(text: &str) -> Html {
    split_links(text)
        .into_iter()
        .map(|s| match s {
            Segment::Text(t) => Html::from(t),
            Segment::Link(l) => html! {
                <a href={href(l)} target="_blank" rel="noopener noreferrer">{ l }</a>
            },
        })
        .collect()
}

fn starts_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The length of the link starting at byte `i` of `text`, or 0.
fn link_at(text: &str, i: usize) -> usize {
    let rest = text.get(i..).unwrap_or_default();
    let scheme = ["https://", "http://", "www."]
        .into_iter()
        .find(|p| starts_ci(rest, p))
        .map_or(0, str::len);
    // Only at the start of a word: `xhttp://` and `awww.` are no links. (ASCII letters
    // only: the Unicode tables would cost more than this rule is worth.)
    if scheme == 0 || text[..i].ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return 0;
    }
    let link = rest
        .find(|c: char| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '`'))
        .map_or(rest, |end| &rest[..end])
        .as_bytes();
    let mut end = link.len();
    // Brackets counted once, then kept as the end moves back: a message of closing brackets
    // costs one pass, not one per bracket (every render splits every message on screen).
    let count = |b: u8| link.iter().filter(|&&c| c == b).count();
    let (opens, mut closes) = ([count(b'('), count(b'[')], [count(b')'), count(b']')]);
    while end > scheme {
        let c = link[end - 1];
        let kind = match c {
            b')' => Some(0),
            b']' => Some(1),
            _ => None,
        };
        let unbalanced = kind.is_some_and(|k| opens[k] < closes[k]);
        if !(unbalanced || b".,;:!?'".contains(&c)) {
            break;
        }
        if let Some(k) = kind {
            closes[k] -= 1;
        }
        end -= 1;
    }
    // A scheme alone (`http://`, `www.`) links nowhere.
    if end > scheme {
        end
    } else {
        0
    }
}
