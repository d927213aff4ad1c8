//! The web client compiled into the binary by `build.rs`: a static table, served without a
//! copy (every body is `Bytes::from_static` over the binary's own read-only data).

use super::encoding::{self, Encoding};
use super::respond::Reply;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response};
use http_body_util::Full;

/// One file of the client, as `build.rs` found it.
pub struct EmbeddedFile {
    /// The URL path, `/index.html`; the table is sorted by it.
    pub path: &'static str,
    pub identity: Form,
    pub gzip: Option<Form>,
    pub brotli: Option<Form>,
}

/// One form of a file: its bytes and its strong ETag, hashed from them at build time.
pub struct Form {
    pub bytes: &'static [u8],
    pub etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/embedded_assets.rs"));

/// The files embedded at build time (none when the build found no client).
pub fn files() -> &'static [EmbeddedFile] {
    FILES
}

/// The file at URL path `path` (`/index.html`).
pub fn lookup(table: &'static [EmbeddedFile], path: &str) -> Option<&'static EmbeddedFile> {
    let i = table.binary_search_by(|f| f.path.cmp(path)).ok()?;
    table.get(i)
}

/// Answers with `file`, in the form the request accepts.
pub fn respond(
    file: &'static EmbeddedFile,
    method: &Method,
    headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let encoding = encoding::negotiate(headers, file.gzip.is_some(), file.brotli.is_some());
    let form = match encoding {
        Encoding::Identity => &file.identity,
        Encoding::Gzip => file.gzip.as_ref().unwrap_or(&file.identity),
        Encoding::Brotli => file.brotli.as_ref().unwrap_or(&file.identity),
    };
    let name = file.path.rsplit('/').next().unwrap_or(file.path);
    let compressed = file.gzip.is_some() || file.brotli.is_some();
    let reply = Reply::new(
        name,
        compressed,
        encoding,
        HeaderValue::from_static(form.etag),
        form.bytes.len() as u64,
        headers,
    );
    let body = reply
        .wants_body(method)
        .then(|| Bytes::from_static(form.bytes));
    reply.finish(body)
}

/// Files in the table and their uncompressed bytes, for the startup log.
pub fn totals(table: &[EmbeddedFile]) -> (usize, usize) {
    let bytes = table.iter().map(|f| f.identity.bytes.len()).sum();
    (table.len(), bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, VARY};
    use http::StatusCode;
    use http_body_util::BodyExt;

    static TABLE: &[EmbeddedFile] = &[
        EmbeddedFile {
            path: "/client-0123456789abcdef_bg.wasm",
            identity: Form {
                bytes: b"\0asm-identity",
                etag: "\"00000000000000aa\"",
            },
            gzip: Some(Form {
                bytes: b"gz",
                etag: "\"00000000000000bb-gz\"",
            }),
            brotli: Some(Form {
                bytes: b"br",
                etag: "\"00000000000000cc-br\"",
            }),
        },
        EmbeddedFile {
            path: "/index.html",
            identity: Form {
                bytes: b"<!doctype html>",
                etag: "\"00000000000000dd\"",
            },
            gzip: None,
            brotli: None,
        },
    ];

    #[test]
    fn looks_files_up_by_url_path() {
        assert!(lookup(TABLE, "/index.html").is_some());
        assert!(lookup(TABLE, "/client-0123456789abcdef_bg.wasm").is_some());
        assert!(lookup(TABLE, "/nope").is_none());
        assert!(lookup(&[], "/index.html").is_none());
        assert_eq!(totals(TABLE), (2, 13 + 15));
    }

    #[tokio::test]
    async fn serves_the_static_bytes_without_copying_them() {
        let file = lookup(TABLE, "/client-0123456789abcdef_bg.wasm").expect("file");
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip, br"));
        let r = respond(file, &Method::GET, &headers);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_ENCODING], "br");
        assert_eq!(r.headers()[ETAG], "\"00000000000000cc-br\"");
        assert_eq!(r.headers()[VARY], "Accept-Encoding");
        let frame = r
            .into_body()
            .frame()
            .await
            .expect("a frame")
            .expect("no error");
        let body = frame.into_data().expect("data");
        // The very bytes of the table, not a copy of them.
        let table_bytes = file.brotli.as_ref().expect("brotli").bytes;
        assert_eq!(body.as_ptr(), table_bytes.as_ptr());
        assert_eq!(&body[..], b"br");
    }

    #[test]
    fn the_generated_table_is_sorted() {
        assert!(files().windows(2).all(|w| w[0].path < w[1].path));
        assert!(files().is_empty() || lookup(files(), "/index.html").is_some());
    }
}
