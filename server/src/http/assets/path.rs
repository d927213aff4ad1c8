//! A request path as a path inside the client's root, or a refusal.

use std::path::{Component, Path};

/// The file a URL path names, relative to the root, with `/` separators: `/` and paths
/// ending in `/` name that directory's `index.html`. `None` (answered 400) for a malformed
/// escape, NUL, a backslash, or any component that could climb out of the root (`..`, a
/// drive prefix). The directory backend also checks symlinks, which no string can show.
pub fn relative_path(url_path: &str) -> Option<String> {
    let decoded = crate::protocol::percent_decode(url_path)?;
    if decoded.contains(['\0', '\\']) {
        return None;
    }
    let mut parts = Vec::new();
    for comp in Path::new(decoded.trim_start_matches('/')).components() {
        match comp {
            Component::Normal(c) => parts.push(c.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if decoded.ends_with('/') || parts.is_empty() {
        parts.push("index.html");
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_files_under_the_root() {
        let p = |s| relative_path(s);
        assert_eq!(p("/").as_deref(), Some("index.html"));
        assert_eq!(p("").as_deref(), Some("index.html"));
        assert_eq!(p("/index.html").as_deref(), Some("index.html"));
        assert_eq!(p("/sub/").as_deref(), Some("sub/index.html"));
        assert_eq!(p("/a/./b.css").as_deref(), Some("a/b.css"));
        assert_eq!(p("//a//b.css").as_deref(), Some("a/b.css"));
        assert_eq!(p("/a%20b.js").as_deref(), Some("a b.js"));
    }

    #[test]
    fn refuses_what_could_leave_it() {
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/a/..%2f..%2fetc",
            "/a/..",
            "/a\\b",
            "/%5c..%5cx",
            "/%00",
            "/%zz",
            "/%ff",
        ] {
            assert_eq!(relative_path(bad), None, "{bad}");
        }
    }
}
