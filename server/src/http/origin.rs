//! The Origin allowlist for WebSocket upgrades and long polling.

use super::{text, Body, Edge};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

/// The 403 for a request whose Origin may not use the chat (counted), or `None` when it may.
pub fn refuse(edge: &Edge, headers: &HeaderMap) -> Option<Response<Body>> {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if origin_allowed(
        header(http::header::ORIGIN),
        header(http::header::HOST),
        &edge.hub.config.allowed_origins,
    ) {
        return None;
    }
    crate::metrics::Metrics::inc(&edge.hub.metrics.connections_rejected_origin);
    Some(text(StatusCode::FORBIDDEN, "origin not allowed\n"))
}

/// Whether a browser page from `origin` may open the WebSocket. Allowed: no Origin header
/// (non-browser clients), the server's own origin (same host as the `Host` header),
/// localhost / 127.0.0.1 / [::1] on any port, and the configured extra origins (`*` = all).
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, extra: &[String]) -> bool {
    let Some(origin) = origin else { return true };
    let origin = origin.trim();
    if extra
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    if host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
        return true;
    }
    let hostname = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']')
            .next()
            .map(|h| format!("[{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or("").to_string()
    };
    matches!(
        hostname.to_ascii_lowercase().as_str(),
        "localhost" | "127.0.0.1" | "[::1]"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let none: &[String] = &[];
        assert!(origin_allowed(None, Some("x:1"), none));
        assert!(origin_allowed(
            Some("http://chat.example:8080"),
            Some("chat.example:8080"),
            none
        ));
        assert!(origin_allowed(
            Some("http://localhost:5173"),
            Some("chat.example"),
            none
        ));
        assert!(origin_allowed(Some("http://127.0.0.1:9"), None, none));
        assert!(origin_allowed(Some("http://[::1]:9"), None, none));
        assert!(!origin_allowed(
            Some("http://evil.example"),
            Some("chat.example"),
            none
        ));
        assert!(!origin_allowed(
            Some("http://localhost.evil.example"),
            None,
            none
        ));
        assert!(!origin_allowed(Some("null"), Some("chat.example"), none));
        let extra = vec!["https://app.example".to_string()];
        assert!(origin_allowed(Some("https://app.example"), None, &extra));
        assert!(origin_allowed(
            Some("https://x.example"),
            None,
            &["*".to_string()]
        ));
    }
}
