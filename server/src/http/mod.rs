//! The HTTP side of the one port: reading a request head, the WebSocket upgrade answer,
//! `/healthz`, `/metrics` and the web client's files.

pub mod assets;

use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 48;

/// A parsed request head, plus any bytes read past it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub rest: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    pub fn is_websocket_upgrade(&self) -> bool {
        self.header_has_token("connection", "upgrade")
            && self.header_has_token("upgrade", "websocket")
    }
}

#[derive(Debug)]
pub enum HeadError {
    /// The peer closed or sent nothing parseable in time: drop it quietly.
    Gone,
    /// Malformed head: answer 400.
    Bad,
    /// Head larger than the limit: answer 431.
    TooLarge,
}

/// Reads one request head (within `limit` time, else `Gone`).
pub async fn read_head(stream: &mut TcpStream, limit: Duration) -> Result<Request, HeadError> {
    tokio::time::timeout(limit, read_head_inner(stream))
        .await
        .unwrap_or(Err(HeadError::Gone))
}

async fn read_head_inner(stream: &mut TcpStream) -> Result<Request, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Gone)?;
        if n == 0 {
            return Err(HeadError::Gone);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let method = req.method.unwrap_or("").to_string();
                let path = req.path.unwrap_or("/").to_string();
                let headers = req
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_string(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                return Ok(Request {
                    method,
                    path,
                    headers,
                    rest: buf[len..].to_vec(),
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => return Err(HeadError::TooLarge),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Bad),
        }
    }
}

/// Writes a complete response and leaves the connection to be closed.
pub async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n",
        body.len()
    );
    for (k, v) in extra_headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

pub async fn respond_text(stream: &mut TcpStream, status: &str, body: &str) {
    respond(
        stream,
        status,
        "text/plain; charset=utf-8",
        &[],
        body.as_bytes(),
        false,
    )
    .await;
}

/// The `101 Switching Protocols` answer to a valid upgrade request.
pub fn upgrade_response(key: &str) -> String {
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
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

/// Maps a request path to a file under `root`, refusing anything that could leave it.
pub fn static_path(root: &Path, request_path: &str) -> Option<PathBuf> {
    let path = request_path.split(['?', '#']).next().unwrap_or("/");
    let decoded = crate::protocol::percent_decode(path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = root.to_path_buf();
    for comp in Path::new(decoded.trim_start_matches('/')).components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if decoded.ends_with('/') || out == root {
        out.push("index.html");
    }
    Some(out)
}

pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// Serves one file of the built client (GET or HEAD).
pub async fn serve_static(stream: &mut TcpStream, root: &Path, req: &Request) {
    let head_only = req.method == "HEAD";
    let Some(path) = static_path(root, &req.path) else {
        respond_text(stream, "400 Bad Request", "bad path\n").await;
        return;
    };
    // Symlinks inside the directory must not lead outside it either.
    let inside = match (
        tokio::fs::canonicalize(root).await,
        tokio::fs::canonicalize(&path).await,
    ) {
        (Ok(r), Ok(p)) => p.starts_with(r),
        _ => false,
    };
    let body = if inside {
        tokio::fs::read(&path).await.ok()
    } else {
        None
    };
    match body {
        Some(body) => {
            let is_index = path.file_name().is_some_and(|n| n == "index.html");
            let cache = if is_index {
                "no-cache"
            } else {
                "public, max-age=3600"
            };
            respond(
                stream,
                "200 OK",
                content_type(&path),
                &[("Cache-Control", cache)],
                &body,
                head_only,
            )
            .await;
        }
        None if req.path == "/" || req.path.starts_with("/index.html") => {
            let msg = format!(
                "The web client is not built in {}.\nBuild it with scripts/build-client.sh (scripts/run.sh does it for you), or pass --static-dir.\n",
                root.display()
            );
            respond_text(stream, "404 Not Found", &msg).await;
        }
        None => respond_text(stream, "404 Not Found", "not found\n").await,
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
        let extra = vec!["https://app.example".to_string()];
        assert!(origin_allowed(Some("https://app.example"), None, &extra));
        assert!(origin_allowed(
            Some("https://x.example"),
            None,
            &["*".to_string()]
        ));
    }

    #[test]
    fn static_paths() {
        let root = Path::new("/srv/dist");
        assert_eq!(
            static_path(root, "/"),
            Some(PathBuf::from("/srv/dist/index.html"))
        );
        assert_eq!(
            static_path(root, "/app.js?v=1"),
            Some(PathBuf::from("/srv/dist/app.js"))
        );
        assert_eq!(
            static_path(root, "/a/./b.css"),
            Some(PathBuf::from("/srv/dist/a/b.css"))
        );
        assert_eq!(static_path(root, "/../etc/passwd"), None);
        assert_eq!(static_path(root, "/%2e%2e/etc/passwd"), None);
        assert_eq!(static_path(root, "/a/..%2f..%2fetc"), None);
        assert_eq!(static_path(root, "/a\\b"), None);
        assert_eq!(static_path(root, "/%00"), None);
        assert_eq!(static_path(root, "/%zz"), None);
    }
}
