//! Writing helpers on the host: which parts of a message become links (and which never do),
//! and `@name` completion from the text and the caret.
#![cfg(not(target_arch = "wasm32"))]

use client_wasm::components::mention::{
    byte_at, complete, insert, mention_query, utf16_len, MAX_OPTIONS,
};
use client_wasm::components::rich_text::{href, split_links, Segment};
use Segment::{Link, Text};

#[test]
fn plain_text_is_one_text_run() {
    assert_eq!(split_links("hello there"), vec![Text("hello there")]);
    assert_eq!(split_links(""), vec![]);
}

#[test]
fn http_and_https_urls_become_links_up_to_whitespace() {
    assert_eq!(
        split_links("see https://example.org/a?b=1&c=2#x and http://x.y/z"),
        vec![
            Text("see "),
            Link("https://example.org/a?b=1&c=2#x"),
            Text(" and "),
            Link("http://x.y/z"),
        ]
    );
    assert_eq!(split_links("HTTPS://A.B"), vec![Link("HTTPS://A.B")]);
    assert_eq!(href("https://example.org/"), "https://example.org/");
}

#[test]
fn www_links_go_to_https() {
    assert_eq!(
        split_links("at www.example.org."),
        vec![Text("at "), Link("www.example.org"), Text(".")]
    );
    assert_eq!(href("www.example.org"), "https://www.example.org");
    assert_eq!(split_links("awww.no"), vec![Text("awww.no")]);
}

#[test]
fn trailing_punctuation_belongs_to_the_sentence() {
    for (text, link, rest) in [
        ("http://a.b/c.", "http://a.b/c", "."),
        ("http://a.b/c,", "http://a.b/c", ","),
        ("http://a.b/c?!", "http://a.b/c", "?!"),
        ("http://a.b/c;:", "http://a.b/c", ";:"),
        ("http://a.b/c'", "http://a.b/c", "'"),
        ("http://a.b/c...", "http://a.b/c", "..."),
    ] {
        assert_eq!(split_links(text), vec![Link(link), Text(rest)], "{text}");
    }
}

#[test]
fn brackets_close_the_link_only_when_unbalanced() {
    assert_eq!(
        split_links("(see http://a.b/c)"),
        vec![Text("(see "), Link("http://a.b/c"), Text(")")]
    );
    assert_eq!(
        split_links("https://en.wikipedia.org/wiki/Rust_(language)"),
        vec![Link("https://en.wikipedia.org/wiki/Rust_(language)")]
    );
    assert_eq!(
        split_links("(https://en.wikipedia.org/wiki/Rust_(language))."),
        vec![
            Text("("),
            Link("https://en.wikipedia.org/wiki/Rust_(language)"),
            Text(")."),
        ]
    );
    assert_eq!(
        split_links("[http://a.b/x]"),
        vec![Text("["), Link("http://a.b/x"), Text("]")]
    );
    assert_eq!(
        split_links("<http://a.b/x>"),
        vec![Text("<"), Link("http://a.b/x"), Text(">")]
    );
    // A hostile run of brackets and punctuation (as long as a message may be) trims back to
    // the balanced part, mixed kinds kept apart.
    let tail = ")].".repeat(1300);
    let text = format!("http://a.b/(x)[y]{tail}");
    assert_eq!(
        split_links(&text),
        vec![Link("http://a.b/(x)[y]"), Text(tail.as_str())]
    );
}

#[test]
fn other_schemes_and_markup_stay_text() {
    for text in [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "<script>alert(1)</script>",
        "vbscript:msgbox",
        "file:///etc/passwd",
        "ftp://example.org",
        "http://",
        "https:// spaced",
        "www.",
        "xhttp://a.b",
    ] {
        assert!(
            split_links(text).iter().all(|s| matches!(s, Text(_))),
            "{text}: {:?}",
            split_links(text)
        );
    }
}

#[test]
fn a_quote_or_angle_bracket_ends_the_link() {
    assert_eq!(
        split_links(r#"http://x"onmouseover=alert(1)"#),
        vec![Link("http://x"), Text(r#""onmouseover=alert(1)"#)]
    );
    assert_eq!(
        split_links("http://x<script>alert(1)</script>"),
        vec![Link("http://x"), Text("<script>alert(1)</script>")]
    );
    // A javascript: URL inside an http one is only part of an http address.
    for s in split_links("http://a.b/?u=javascript:alert(1) javascript:http://a") {
        if let Link(l) = s {
            assert!(href(l).starts_with("http://"), "{l}");
        }
    }
}

#[test]
fn unicode_around_and_inside_links_is_kept_whole() {
    let text = "Grüße → https://de.wikipedia.org/wiki/Straße。 ok 🎉https://a.b";
    let segments = split_links(text);
    assert_eq!(
        segments,
        vec![
            Text("Grüße → "),
            Link("https://de.wikipedia.org/wiki/Straße。"),
            Text(" ok 🎉"),
            Link("https://a.b"),
        ]
    );
    let joined: String = segments
        .iter()
        .map(|s| match s {
            Text(t) | Link(t) => *t,
        })
        .collect();
    assert_eq!(joined, text);
    // Unicode whitespace ends a link too.
    assert_eq!(
        split_links("http://a.b\u{3000}x"),
        vec![Link("http://a.b"), Text("\u{3000}x")]
    );
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_mention_starts_at_the_start_or_after_whitespace() {
    assert_eq!(mention_query("@", 1), Some((0, "")));
    assert_eq!(mention_query("@bo", 3), Some((0, "bo")));
    assert_eq!(mention_query("hi @bo", 6), Some((3, "bo")));
    assert_eq!(mention_query("hi\n@b.o-b_", 10), Some((3, "b.o-b_")));
    assert_eq!(mention_query("email@host", 10), None);
    assert_eq!(mention_query("x@", 2), None);
    assert_eq!(mention_query("hi bo", 5), None);
    assert_eq!(
        mention_query("@bo b", 5),
        None,
        "the word at the caret is `b`"
    );
    assert_eq!(mention_query("@@bo", 4), None);
}

#[test]
fn the_caret_decides_which_word_is_completed() {
    // Caret right after `@bo`, more text after it.
    assert_eq!(mention_query("hi @bo there", 6), Some((3, "bo")));
    // Caret inside a word: nothing to complete.
    assert_eq!(mention_query("hi @bob there", 6), None);
    // Caret before the `@`.
    assert_eq!(mention_query("hi @bo", 3), None);
    // Past the end or inside a character: no panic, nothing.
    assert_eq!(mention_query("@bo", 9), None);
    assert_eq!(mention_query("@é", 2), None);
}

#[test]
fn unicode_names_complete_in_any_case() {
    let all = names(&["Émile", "émilie", "Zoë", "bob", "Bobby", "ßtraße"]);
    assert_eq!(complete(&all, "é"), vec!["Émile", "émilie"]);
    assert_eq!(complete(&all, "ÉMILI"), vec!["émilie"]);
    assert_eq!(complete(&all, "bo"), vec!["bob", "Bobby"]);
    assert_eq!(complete(&all, "zoë"), vec!["Zoë"]);
    assert_eq!(complete(&all, "x"), Vec::<&str>::new());
    assert_eq!(complete(&all, "").len(), all.len());
    let many: Vec<String> = (0..20).map(|i| format!("user{i}")).collect();
    assert_eq!(complete(&many, "u").len(), MAX_OPTIONS);
    assert_eq!(mention_query("hi @émi", "hi @émi".len()), Some((3, "émi")));
}

#[test]
fn inserting_replaces_the_typed_prefix_and_adds_one_space() {
    assert_eq!(insert("@bo", 0, 3, "bob"), Some(("@bob ".to_string(), 5)));
    assert_eq!(
        insert("hi @bo there", 3, 6, "bob"),
        Some(("hi @bob there".to_string(), 7))
    );
    assert_eq!(
        insert("hey @c, welcome", 4, 6, "carol"),
        Some(("hey @carol, welcome".to_string(), 10))
    );
    assert_eq!(
        insert("@é", 0, 3, "Émile"),
        Some(("@Émile ".to_string(), 8))
    );
    assert_eq!(insert("@bo", 0, 9, "bob"), None);
}

#[test]
fn browser_caret_positions_convert_to_bytes_and_back() {
    let text = "a🎉é@b";
    // UTF-16: a=1, 🎉=2, é=1, @=1, b=1.
    assert_eq!(byte_at(text, 0), 0);
    assert_eq!(byte_at(text, 1), 1);
    assert_eq!(byte_at(text, 3), 5);
    assert_eq!(byte_at(text, 4), 7);
    assert_eq!(byte_at(text, 6), text.len());
    assert_eq!(byte_at(text, 99), text.len());
    assert_eq!(utf16_len(text), 6);
    let caret = byte_at(text, 6);
    assert_eq!(mention_query(text, caret), None, "é@ is no mention start");
    assert_eq!(mention_query("🎉 @b", byte_at("🎉 @b", 5)), Some((5, "b")));
}
