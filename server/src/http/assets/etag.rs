//! Entity tags: `If-None-Match` against the tag of the form being sent.

use http::header::IF_NONE_MATCH;
use http::HeaderMap;

/// Whether the request's `If-None-Match` names `etag` (or is `*`): the client's copy is
/// current and a `304` answers it. Comparison is weak, as RFC 9110 asks for this header: a
/// `W/` on either side is ignored.
pub fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    let ours = opaque(etag);
    headers
        .get_all(IF_NONE_MATCH)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .any(|list| Tags(list).any(|tag| tag == "*" || tag == ours))
}

/// `"abc"` of `W/"abc"` or `"abc"`.
fn opaque(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// The tags of one `If-None-Match` value: `*`, or quoted tags (`W/` dropped) separated by
/// commas. A tag may itself hold a comma, so the list is scanned, not split.
struct Tags<'a>(&'a str);

impl<'a> Iterator for Tags<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let rest = self.0.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                self.0 = rest;
                return None;
            }
            if let Some(after) = rest.strip_prefix('*') {
                self.0 = after;
                return Some("*");
            }
            let quoted = opaque(rest);
            if let Some(body) = quoted.strip_prefix('"') {
                if let Some(end) = body.find('"') {
                    self.0 = &body[end + 1..];
                    return Some(&quoted[..end + 2]);
                }
            }
            // Not a tag: skip to the next comma.
            self.0 = rest.find(',').map_or("", |i| &rest[i + 1..]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn matches(header: &str, etag: &str) -> bool {
        let mut h = HeaderMap::new();
        h.insert(
            IF_NONE_MATCH,
            HeaderValue::from_str(header).expect("header"),
        );
        none_match(&h, etag)
    }

    #[test]
    fn lists_wildcards_and_weak_tags() {
        assert!(matches("\"a1\"", "\"a1\""));
        assert!(matches("\"x\", \"a1\"", "\"a1\""));
        assert!(matches("W/\"a1\"", "\"a1\""));
        assert!(matches("\"a1\"", "W/\"a1\""));
        assert!(matches("*", "\"a1\""));
        assert!(matches("\"x,y\" ,\"a1\"", "\"a1\""));
        assert!(!matches("\"a1-br\"", "\"a1\""));
        assert!(!matches("\"a1\"", "\"a1-gz\""));
        assert!(!matches("a1", "\"a1\""));
        assert!(!matches("\"a1", "\"a1\""));
        assert!(!matches("", "\"a1\""));
        assert!(matches("garbage, \"a1\"", "\"a1\""));
    }

    #[test]
    fn without_the_header_nothing_matches() {
        assert!(!none_match(&HeaderMap::new(), "\"a1\""));
    }
}
