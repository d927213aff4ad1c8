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
/// (non-browser clients), the server's own origin (same host and port as the `Host` header),
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
    let (authority, default_port) = if let Some(rest) = origin.strip_prefix("http://") {
        (rest, 80)
    } else if let Some(rest) = origin.strip_prefix("https://") {
        (rest, 443)
    } else {
        return false;
    };
    if host.is_some_and(|h| same_authority(authority, h.trim(), default_port)) {
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

/// Whether the Origin's `host[:port]` and the Host header's name the same host and port. Either
/// may leave out the port of the Origin's scheme (browsers always do in Origin; a proxy that
/// writes `Host: name:443` behind TLS does not), so a missing port is `default_port`.
fn same_authority(origin: &str, host: &str, default_port: u16) -> bool {
    let (origin_name, origin_port) = split_port(origin);
    let (host_name, host_port) = split_port(host);
    let port = |p: Option<&str>| match p {
        None => Some(default_port),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
        Some(_) => None,
    };
    origin_name.eq_ignore_ascii_case(host_name)
        && port(origin_port).is_some_and(|p| Some(p) == port(host_port))
}

/// `name:port` as (name, Some(port)); `name`, `[v6]` as (itself, None).
fn split_port(authority: &str) -> (&str, Option<&str>) {
    match authority.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') => (name, Some(port)),
        _ => (authority, None),
    }
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
        assert!(!origin_allowed(
            Some("http://chat.example:8080"),
            Some("chat.example:8081"),
            none
        ));
        let extra = vec!["https://app.example".to_string()];
        assert!(origin_allowed(Some("https://app.example"), None, &extra));
        assert!(origin_allowed(
            Some("https://x.example"),
            None,
            &["*".to_string()]
        ));
    }

    /// Behind TLS the Origin is `https://name` (or `https://name:port`) and the Host is what the
    /// proxy passes on: the browser's own, or with the port spelled out.
    #[test]
    fn https_origin_matches_the_host_a_proxy_passes() {
        let none: &[String] = &[];
        for (origin, host) in [
            ("https://chat.example", "chat.example"),
            ("https://chat.example", "chat.example:443"),
            ("https://Chat.Example", "chat.example:443 "),
            ("https://chat.example:443", "chat.example"),
            ("https://chat.example:8443", "chat.example:8443"),
            ("http://chat.example", "chat.example:80"),
            ("https://[2001:db8::1]", "[2001:db8::1]:443"),
            ("https://[2001:db8::1]:8443", "[2001:db8::1]:8443"),
        ] {
            assert!(
                origin_allowed(Some(origin), Some(host), none),
                "{origin} {host}"
            );
        }
        for (origin, host) in [
            // Another port is another origin, even when a proxy dropped the port from Host.
            ("https://chat.example:8443", "chat.example"),
            ("https://chat.example", "chat.example:80"),
            ("http://chat.example", "chat.example:443"),
            ("https://chat.example", "chat.example:8443"),
            ("https://chat.example", "chat.example:"),
            ("https://chat.example:", "chat.example"),
            ("https://chat.example", "chat.example:+443"),
            ("https://chat.example.evil", "chat.example:443"),
            ("https://[2001:db8::1]", "[2001:db8::2]:443"),
        ] {
            assert!(
                !origin_allowed(Some(origin), Some(host), none),
                "{origin} {host}"
            );
        }
    }
}
