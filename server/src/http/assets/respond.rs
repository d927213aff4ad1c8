//! Turning the chosen form of a file and the request's headers into a response.

use super::cache_control::cache_control;
use super::content_type::content_type;
use super::encoding::Encoding;
use super::etag;
use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY,
    X_CONTENT_TYPE_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;

/// The answer about one file, decided before its bytes are needed: a backend reads them only
/// when [`Reply::wants_body`] says so (not for HEAD, not for a 304).
pub struct Reply {
    headers: HeaderMap,
    /// The client's copy is current: answer 304.
    fresh: bool,
    len: u64,
}

impl Reply {
    /// `name` is the file's last path segment (its type and cache policy); `compressed`
    /// says whether it exists in a compressed form at all (then caches must key on
    /// `Accept-Encoding`); `encoding`, `etag` and `len` describe the form chosen.
    pub fn new(
        name: &str,
        compressed: bool,
        encoding: Encoding,
        etag: HeaderValue,
        len: u64,
        request: &HeaderMap,
    ) -> Reply {
        let fresh = etag
            .to_str()
            .is_ok_and(|tag| etag::none_match(request, tag));
        let mut headers = HeaderMap::new();
        headers.insert(ETAG, etag);
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache_control(name)));
        if compressed {
            headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        }
        if !fresh {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
            headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            if let Some(token) = encoding.token() {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static(token));
            }
        }
        Reply {
            headers,
            fresh,
            len,
        }
    }

    /// Whether the response carries the file's bytes.
    pub fn wants_body(&self, method: &Method) -> bool {
        !self.fresh && method != Method::HEAD
    }

    /// The response: 304 with the validators when the client's copy is current, else 200
    /// with `body` (`None` for HEAD, which still announces the length it would get).
    pub fn finish(self, body: Option<Bytes>) -> Response<Full<Bytes>> {
        let status = if self.fresh {
            StatusCode::NOT_MODIFIED
        } else {
            StatusCode::OK
        };
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        *response.headers_mut() = self.headers;
        if !self.fresh {
            // The bytes read win over the length probed: a file rewritten in between is
            // still framed correctly.
            let len = body.as_ref().map_or(self.len, |b| b.len() as u64);
            response.headers_mut().insert(CONTENT_LENGTH, len.into());
            if let Some(body) = body {
                *response.body_mut() = Full::new(body);
            }
        }
        response
    }
}

/// A plain-text answer (errors, the "not built" notice): the edge's own, with the length
/// kept for HEAD and no caching: a 404 for `/` must not outlive the build that fixes it.
pub fn text(
    status: StatusCode,
    message: impl Into<String>,
    method: &Method,
) -> Response<Full<Bytes>> {
    let message = Bytes::from(message.into());
    let len = message.len() as u64;
    let body = if method == Method::HEAD {
        Bytes::new()
    } else {
        message
    };
    let mut response = crate::http::text(status, body);
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_LENGTH, len.into());
    response
}

pub fn not_found(method: &Method) -> Response<Full<Bytes>> {
    text(StatusCode::NOT_FOUND, "not found\n", method)
}

pub fn bad_path(method: &Method) -> Response<Full<Bytes>> {
    text(StatusCode::BAD_REQUEST, "bad path\n", method)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::IF_NONE_MATCH;
    use http_body_util::BodyExt;

    async fn body(r: Response<Full<Bytes>>) -> Bytes {
        r.into_body().collect().await.expect("full body").to_bytes()
    }

    fn reply(request: &HeaderMap) -> Reply {
        Reply::new(
            "client-0123456789abcdef_bg.wasm",
            true,
            Encoding::Brotli,
            HeaderValue::from_static("\"0123-br\""),
            4,
            request,
        )
    }

    #[tokio::test]
    async fn a_200_carries_type_encoding_validators_and_length() {
        let r = reply(&HeaderMap::new());
        assert!(r.wants_body(&Method::GET));
        let r = r.finish(Some(Bytes::from_static(b"abcd")));
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h[CONTENT_TYPE], "application/wasm");
        assert_eq!(h[CONTENT_ENCODING], "br");
        assert_eq!(h[ETAG], "\"0123-br\"");
        assert_eq!(h[VARY], "Accept-Encoding");
        assert_eq!(h[CACHE_CONTROL], "public, max-age=31536000, immutable");
        assert_eq!(h[X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[CONTENT_LENGTH], "4");
        assert_eq!(body(r).await, "abcd");
    }

    #[tokio::test]
    async fn head_announces_the_length_without_the_bytes() {
        let r = reply(&HeaderMap::new());
        assert!(!r.wants_body(&Method::HEAD));
        let r = r.finish(None);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_LENGTH], "4");
        assert!(body(r).await.is_empty());
    }

    #[tokio::test]
    async fn a_current_copy_gets_304_with_validators_only() {
        let mut request = HeaderMap::new();
        request.insert(IF_NONE_MATCH, HeaderValue::from_static("W/\"0123-br\""));
        let r = reply(&request);
        assert!(!r.wants_body(&Method::GET));
        let r = r.finish(None);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        let h = r.headers();
        assert_eq!(h[ETAG], "\"0123-br\"");
        assert_eq!(h[VARY], "Accept-Encoding");
        assert!(h.contains_key(CACHE_CONTROL));
        assert!(!h.contains_key(CONTENT_LENGTH) && !h.contains_key(CONTENT_ENCODING));
        assert!(body(r).await.is_empty());
    }

    #[tokio::test]
    async fn text_answers() {
        let r = not_found(&Method::GET);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()[CONTENT_LENGTH], "10");
        assert_eq!(body(r).await, "not found\n");
        let r = bad_path(&Method::HEAD);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(r.headers()[CONTENT_LENGTH], "9");
        assert!(body(r).await.is_empty());
    }
}
