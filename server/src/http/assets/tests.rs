//! `Assets` as the service calls it: both backends, from a request to a response.

use super::embedded::Form;
use super::*;
use http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use http::HeaderValue;
use http_body_util::BodyExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const WASM: &str = "client-wasm-9f1c2e3d4b5a6978_bg.wasm";

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Got {
    fn header(&self, name: http::header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn ask(assets: &Assets, method: Method, path: &str, headers: &[(&str, &str)]) -> Got {
    let uri: Uri = path.parse().expect("uri");
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            http::header::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            HeaderValue::from_str(v).expect("value"),
        );
    }
    let r = assets.respond(&method, &uri, &map).await;
    let (parts, body) = r.into_parts();
    Got {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

async fn get(assets: &Assets, path: &str, headers: &[(&str, &str)]) -> Got {
    ask(assets, Method::GET, path, headers).await
}

/// A built client: index.html, a hashed wasm with gzip and brotli forms (their bytes are
/// markers, nothing decodes them here), a script with a gzip form only, a stylesheet.
fn dist(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chat-assets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    let write = |p: &str, b: &[u8]| std::fs::write(dir.join(p), b).expect("write");
    write("index.html", b"<!doctype html><title>chat</title>");
    write(WASM, b"\0asm identity");
    write(&format!("{WASM}.gz"), b"gzip form");
    write(&format!("{WASM}.br"), b"brotli form");
    write("app.js", b"console.log(1)");
    write("app.js.gz", b"gzipped js");
    write("sub/style.css", b"body{}");
    dir
}

#[tokio::test]
async fn negotiates_brotli_gzip_and_identity() {
    let assets = Assets::new(Some(&dist("negotiate")));
    let path = format!("/{WASM}");
    let cases = [
        ("gzip, deflate, br", Some("br"), &b"brotli form"[..]),
        ("gzip, br;q=0", Some("gzip"), b"gzip form"),
        ("deflate", None, b"\0asm identity"),
        ("br;q=0, gzip;q=0", None, b"\0asm identity"),
        ("*", Some("br"), b"brotli form"),
    ];
    let mut etags = Vec::new();
    for (accept, encoding, body) in cases {
        let got = get(&assets, &path, &[("accept-encoding", accept)]).await;
        assert_eq!(got.status, StatusCode::OK, "{accept}");
        assert_eq!(got.header(CONTENT_ENCODING), encoding, "{accept}");
        assert_eq!(&got.body[..], body, "{accept}");
        assert_eq!(got.header(CONTENT_LENGTH), Some(&*body.len().to_string()));
        assert_eq!(got.header(CONTENT_TYPE), Some("application/wasm"));
        assert_eq!(got.header(VARY), Some("Accept-Encoding"));
        assert_eq!(got.header(X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
        etags.push(got.header(ETAG).expect("etag").to_string());
    }
    // One validator per form.
    assert_ne!(etags[0], etags[1]);
    assert_ne!(etags[1], etags[2]);
    assert!(etags[0].ends_with("-br\"") && etags[1].ends_with("-gz\""));
    assert_eq!(etags[2], etags[3]);
    // No header at all: identity.
    let got = get(&assets, &path, &[]).await;
    assert_eq!(&got.body[..], b"\0asm identity");
    // A file with no compressed form does not vary.
    let got = get(
        &assets,
        "/sub/style.css",
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(got.header(CONTENT_ENCODING), None);
    assert_eq!(got.header(VARY), None);
    assert_eq!(got.header(CONTENT_TYPE), Some("text/css; charset=utf-8"));
    let got = get(&assets, "/app.js", &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(got.header(CONTENT_ENCODING), Some("gzip"));
    assert_eq!(&got.body[..], b"gzipped js");
}

#[tokio::test]
async fn a_stale_sibling_is_ignored() {
    let dir = dist("stale");
    let br = std::fs::File::options()
        .write(true)
        .open(dir.join(format!("{WASM}.br")))
        .expect("open");
    br.set_modified(SystemTime::now() - Duration::from_secs(3600))
        .expect("set mtime");
    let assets = Assets::new(Some(&dir));
    let got = get(
        &assets,
        &format!("/{WASM}"),
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(got.header(CONTENT_ENCODING), Some("gzip"));
    assert_eq!(&got.body[..], b"gzip form");
}

#[tokio::test]
async fn a_sibling_stamped_to_the_second_is_current() {
    // brotli copies the original's mtime without its fraction of a second.
    let dir = dist("second");
    let second = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let set = |name: &str, t: SystemTime| {
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join(name))
            .expect("open");
        f.set_modified(t).expect("set mtime");
    };
    set(WASM, second + Duration::from_millis(700));
    set(&format!("{WASM}.br"), second);
    let assets = Assets::new(Some(&dir));
    let got = get(&assets, &format!("/{WASM}"), &[("accept-encoding", "br")]).await;
    assert_eq!(got.header(CONTENT_ENCODING), Some("br"));
}

#[tokio::test]
async fn if_none_match_answers_304_per_form() {
    let assets = Assets::new(Some(&dist("etag")));
    let path = format!("/{WASM}");
    let br = [("accept-encoding", "br")];
    let first = get(&assets, &path, &br).await;
    let etag = first.header(ETAG).expect("etag").to_string();
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"x\", {etag}"),
        "*".into(),
    ] {
        let got = get(&assets, &path, &[br[0], ("if-none-match", &inm)]).await;
        assert_eq!(got.status, StatusCode::NOT_MODIFIED, "{inm}");
        assert!(got.body.is_empty());
        assert_eq!(got.header(ETAG), Some(&*etag));
        assert_eq!(got.header(VARY), Some("Accept-Encoding"));
        assert_eq!(
            got.header(CACHE_CONTROL),
            Some("public, max-age=31536000, immutable")
        );
    }
    // The brotli tag does not validate the gzip form.
    let got = get(
        &assets,
        &path,
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(&got.body[..], b"gzip form");
}

#[tokio::test]
async fn a_rewritten_file_gets_a_new_etag_and_its_new_bytes() {
    let dir = dist("rewrite");
    let assets = Assets::new(Some(&dir));
    let before = get(&assets, "/index.html", &[]).await;
    std::fs::write(dir.join("index.html"), "<!doctype html><title>v2</title>").expect("write");
    let etag = before.header(ETAG).expect("etag");
    let after = get(&assets, "/", &[("if-none-match", etag)]).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_ne!(after.header(ETAG), Some(etag));
    assert!(after.body.ends_with(b"v2</title>"));
}

#[tokio::test]
async fn hashed_names_are_immutable_and_the_rest_revalidates() {
    let assets = Assets::new(Some(&dist("cache")));
    let immutable = Some("public, max-age=31536000, immutable");
    let got = get(&assets, &format!("/{WASM}"), &[]).await;
    assert_eq!(got.header(CACHE_CONTROL), immutable);
    for path in [
        "/",
        "/index.html",
        "/index.html?v=1",
        "/app.js",
        "/sub/style.css",
    ] {
        let got = get(&assets, path, &[]).await;
        assert_eq!(got.status, StatusCode::OK, "{path}");
        assert_eq!(got.header(CACHE_CONTROL), Some("no-cache"), "{path}");
    }
    let got = get(&assets, "/", &[]).await;
    assert_eq!(got.header(CONTENT_TYPE), Some("text/html; charset=utf-8"));
    assert!(got.body.ends_with(b"<title>chat</title>"));
}

#[tokio::test]
async fn head_has_the_headers_and_no_body() {
    let assets = Assets::new(Some(&dist("head")));
    let got = ask(
        &assets,
        Method::HEAD,
        "/app.js",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header(CONTENT_LENGTH), Some("10"));
    assert_eq!(got.header(CONTENT_ENCODING), Some("gzip"));
    assert!(got.body.is_empty());
}

#[tokio::test]
async fn nothing_outside_the_root_is_served() {
    let dir = dist("traversal");
    let secret = dir.with_extension("secret");
    std::fs::write(&secret, "secret").expect("write");
    let assets = Assets::new(Some(&dir));
    let name = secret.file_name().and_then(|n| n.to_str()).expect("name");
    for path in [
        format!("/../{name}"),
        format!("/%2e%2e/{name}"),
        format!("/sub/..%2f..%2f{name}"),
        format!("/..%5c{name}"),
        "/%00".to_string(),
    ] {
        let got = get(&assets, &path, &[]).await;
        assert_eq!(got.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(&got.body[..], b"bad path\n");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&secret, dir.join("escape.txt")).expect("symlink");
        std::os::unix::fs::symlink(&secret, dir.join("app.js.br")).expect("symlink");
        let got = get(&assets, "/escape.txt", &[]).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND);
        assert_eq!(&got.body[..], b"not found\n");
        // A sibling leading out is no form of the file.
        let got = get(&assets, "/app.js", &[("accept-encoding", "br")]).await;
        assert_eq!(got.header(CONTENT_ENCODING), None);
        assert_eq!(&got.body[..], b"console.log(1)");
    }
}

#[tokio::test]
async fn a_directory_without_a_client_says_so() {
    let empty = dist("empty");
    std::fs::remove_file(empty.join("index.html")).expect("rm");
    let missing = empty.join("nowhere");
    for dir in [&empty, &missing] {
        let assets = Assets::new(Some(dir));
        assert!(assets.describe().contains("no index.html"));
        let got = get(&assets, "/", &[]).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND);
        let text = String::from_utf8_lossy(&got.body);
        assert!(
            text.contains("not built") && text.contains("build-client.sh"),
            "{text}"
        );
        let got = get(&assets, "/missing.js", &[]).await;
        assert_eq!(
            (got.status, &got.body[..]),
            (StatusCode::NOT_FOUND, &b"not found\n"[..])
        );
    }
    let assets = Assets::new(Some(&dist("described")));
    assert!(assets.describe().starts_with("web client: served from "));
    assert!(!assets.describe().contains("no index.html"));
}

#[tokio::test]
async fn concurrent_downloads_share_one_copy() {
    let assets = std::sync::Arc::new(Assets::new(Some(&dist("share"))));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let assets = assets.clone();
            tokio::spawn(async move {
                let uri: Uri = format!("/{WASM}").parse().expect("uri");
                let r = assets.respond(&Method::GET, &uri, &HeaderMap::new()).await;
                let frame = r.into_body().frame().await.expect("frame").expect("ok");
                frame.into_data().expect("data")
            })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in tasks {
        bodies.push(t.await.expect("task"));
    }
    assert!(bodies.iter().all(|b| b.as_ptr() == bodies[0].as_ptr()));
}

static TABLE: &[EmbeddedFile] = &[
    EmbeddedFile {
        path: "/client-wasm-9f1c2e3d4b5a6978_bg.wasm",
        identity: Form {
            bytes: b"\0asm",
            etag: "\"0000000000000001\"",
        },
        gzip: None,
        brotli: Some(Form {
            bytes: b"br",
            etag: "\"0000000000000002-br\"",
        }),
    },
    EmbeddedFile {
        path: "/index.html",
        identity: Form {
            bytes: &[b'x'; 2048],
            etag: "\"0000000000000003\"",
        },
        gzip: None,
        brotli: None,
    },
];

#[tokio::test]
async fn the_embedded_client_is_served_from_its_table() {
    let assets = Assets {
        source: Source::Embedded(TABLE),
    };
    assert_eq!(assets.describe(), "web client: embedded (2 files, 3 KB)");
    let got = get(&assets, "/", &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.header(CACHE_CONTROL), Some("no-cache"));
    assert_eq!(got.body.len(), 2048);
    let path = "/client-wasm-9f1c2e3d4b5a6978_bg.wasm";
    let got = get(&assets, path, &[("accept-encoding", "br")]).await;
    assert_eq!(got.header(CONTENT_ENCODING), Some("br"));
    assert_eq!(got.header(ETAG), Some("\"0000000000000002-br\""));
    let got = get(&assets, path, &[("if-none-match", "\"0000000000000001\"")]).await;
    assert_eq!(got.status, StatusCode::NOT_MODIFIED);
    let got = get(&assets, "/nope.js", &[]).await;
    assert_eq!(&got.body[..], b"not found\n");
    let got = get(&assets, "/../x", &[]).await;
    assert_eq!(got.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn without_any_client_the_root_says_how_to_build_one() {
    let assets = Assets {
        source: Source::Embedded(&[]),
    };
    assert!(assets.describe().starts_with("web client: none: "));
    let got = get(&assets, "/", &[]).await;
    assert_eq!(got.status, StatusCode::NOT_FOUND);
    let text = String::from_utf8_lossy(&got.body);
    assert!(text.contains("not built") && text.contains("scripts/build-client.sh"));
    assert!(text.contains("--static-dir"));
    let got = get(&assets, "/app.js", &[]).await;
    assert_eq!(&got.body[..], b"not found\n");
}
