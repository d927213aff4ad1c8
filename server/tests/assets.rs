//! The web client's files as the real binary serves them: from --static-dir, and the copy
//! embedded at build time.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;

const WASM: &str = "client-wasm-9f1c2e3d4b5a6978_bg.wasm";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The server binary, killed when the test ends, passed or not.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(static_dir: Option<&Path>) -> Server {
        // `spawn_binary` lifts the per-address limits.
        let mut args = vec!["--store", "memory"];
        let dir = static_dir.map(|d| d.to_str().expect("UTF-8 temp path").to_string());
        if let Some(dir) = &dir {
            args.extend(["--static-dir", dir]);
        }
        let (child, addr) = spawn_binary(&args);
        Server { child, addr }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers)
    }

    /// One request on its own connection (`Connection: close`, so the answer ends with it).
    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut t = TcpStream::connect(&self.addr).expect("connect");
        t.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        t.write_all(req.as_bytes()).expect("write");
        let mut buf = Vec::new();
        t.read_to_end(&mut buf)
            .expect("response before the timeout");
        Reply::parse(&buf, method == "HEAD")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn parse(buf: &[u8], head_only: bool) -> Reply {
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of the head");
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let reply = Reply {
            status,
            headers,
            body: buf[split + 4..].to_vec(),
        };
        if !head_only && reply.status != 304 {
            let len = reply.header("content-length").expect("content-length");
            assert_eq!(len, reply.body.len().to_string(), "framing");
        }
        reply
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A built client: index.html, a hashed wasm with .gz and .br forms (their bytes are
/// markers: the server sends forms, it never decodes them), a stylesheet with no form.
fn dist(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-assets-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    let write = |p: &str, b: &[u8]| std::fs::write(dir.join(p), b).expect("write");
    write(
        "index.html",
        format!("<!doctype html><title>chat</title><link rel=preload href=\"/{WASM}\">").as_bytes(),
    );
    write(WASM, b"\0asm identity form");
    write(&format!("{WASM}.gz"), b"gzip form");
    write(&format!("{WASM}.br"), b"brotli form");
    write("sub/style.css", b"body{}");
    dir
}

#[test]
fn negotiates_brotli_gzip_and_identity() {
    let dir = dist("negotiate");
    let s = Server::start(Some(&dir));
    let path = format!("/{WASM}");
    for (accept, encoding, file) in [
        ("gzip, deflate, br", Some("br"), format!("{WASM}.br")),
        ("gzip, deflate", Some("gzip"), format!("{WASM}.gz")),
        ("br;q=0, gzip", Some("gzip"), format!("{WASM}.gz")),
        ("deflate", None, WASM.to_string()),
        ("br;q=0, gzip;q=0", None, WASM.to_string()),
    ] {
        let r = s.get(&path, &[("Accept-Encoding", accept)]);
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(r.header("content-encoding"), encoding, "{accept}");
        assert_eq!(
            r.body,
            std::fs::read(dir.join(&file)).expect("read"),
            "{accept}"
        );
        assert_eq!(r.header("content-type"), Some("application/wasm"));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{accept}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
    let r = s.get(&path, &[]);
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.body, b"\0asm identity form");
    // Nothing to choose between: no Vary.
    let r = s.get("/sub/style.css", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("vary"), None);
    assert_eq!(r.header("content-encoding"), None);
    // HEAD: the same head, no body.
    let r = s.request("HEAD", &path, &[("Accept-Encoding", "br")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.header("content-length"), Some("11"));
    assert!(r.body.is_empty());
}

#[test]
fn if_none_match_gets_304() {
    let s = Server::start(Some(&dist("etag")));
    let path = format!("/{WASM}");
    let br = ("Accept-Encoding", "br");
    let first = s.get(&path, &[br]);
    let etag = first.header("etag").expect("etag").to_string();
    let r = s.get(&path, &[br, ("If-None-Match", &etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(r.header("cache-control"), Some(IMMUTABLE));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    let weak = format!("\"other\", W/{etag}");
    assert_eq!(s.get(&path, &[br, ("If-None-Match", &weak)]).status, 304);
    // Another form has another tag.
    let r = s.get(
        &path,
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"gzip form");
    let index = s.get("/", &[]);
    let etag = index.header("etag").expect("etag");
    assert_eq!(s.get("/", &[("If-None-Match", etag)]).status, 304);
}

#[test]
fn hashed_names_are_immutable_and_index_is_no_cache() {
    let s = Server::start(Some(&dist("cache")));
    let r = s.get(&format!("/{WASM}"), &[]);
    assert_eq!(r.header("cache-control"), Some(IMMUTABLE));
    for path in ["/", "/index.html", "/sub/style.css"] {
        let r = s.get(path, &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
    }
    let r = s.get("/", &[]);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(r.text().contains("<title>chat</title>"));
}

#[test]
fn traversal_is_refused() {
    let dir = dist("traversal");
    let secret = dir.with_extension("secret");
    std::fs::write(&secret, "secret").expect("write");
    let name = secret.file_name().and_then(|n| n.to_str()).expect("name");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&secret, dir.join("escape.txt")).expect("symlink");
    let s = Server::start(Some(&dir));
    for path in [
        format!("/%2e%2e/{name}"),
        format!("/sub/..%2f..%2f{name}"),
        format!("/..%5c{name}"),
        "/%00".to_string(),
    ] {
        let r = s.get(&path, &[]);
        assert_eq!(r.status, 400, "{path}");
        assert!(!r.text().contains("secret"), "{path}");
    }
    // Normalised or refused before it reaches the files, depending on the HTTP layer.
    let r = s.get(&format!("/../{name}"), &[]);
    assert!(matches!(r.status, 400 | 404), "{}", r.status);
    assert!(!r.text().contains("secret"));
    #[cfg(unix)]
    {
        let r = s.get("/escape.txt", &[]);
        assert_eq!(r.status, 404);
        assert!(!r.text().contains("secret"));
    }
}

#[test]
fn an_empty_directory_says_the_client_is_not_built() {
    let dir = dist("empty");
    std::fs::remove_dir_all(&dir).expect("rm");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let s = Server::start(Some(&dir));
    let r = s.get("/", &[]);
    assert_eq!(r.status, 404);
    assert!(r.text().contains("not built"), "{}", r.text());
    assert!(r.text().contains("build-client.sh"), "{}", r.text());
    let r = s.get("/app.js", &[]);
    assert_eq!((r.status, r.text().as_str()), (404, "not found\n"));
}

/// Without --static-dir the binary serves what its build embedded. `CHAT_EXPECT_EMBEDDED=1`
/// (set where the client was built before the server) makes "nothing embedded" a failure.
#[test]
fn the_embedded_client_matches_the_build() {
    assert!(
        std::env::var_os("CHAT_STATIC_DIR").is_none(),
        "CHAT_STATIC_DIR is set: the binary would serve it instead of its embedded client"
    );
    let expected = std::env::var("CHAT_EXPECT_EMBEDDED").is_ok_and(|v| v == "1");
    let embedded = server::embedded_client_files() > 0;
    assert!(
        embedded || !expected,
        "CHAT_EXPECT_EMBEDDED=1, but this build embedded no client (build dist/ first)"
    );
    let s = Server::start(None);
    let r = s.get("/", &[]);
    if !embedded {
        assert_eq!(r.status, 404);
        assert!(r.text().contains("not built"), "{}", r.text());
        return;
    }
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    let index = r.text();
    let end = index.find("_bg.wasm").expect("index.html names the wasm") + "_bg.wasm".len();
    let start = index[..end]
        .rfind(['/', '"', '\'', ' ', '='])
        .map_or(0, |i| i + 1);
    let wasm = &index[start..end];
    let r = s.get(&format!("/{wasm}"), &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(r.status, 200, "/{wasm}");
    assert_eq!(r.header("content-type"), Some("application/wasm"));
    assert_eq!(r.header("cache-control"), Some(IMMUTABLE), "/{wasm}");
}
