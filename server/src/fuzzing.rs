//! Fuzz targets: one `fn(&[u8])` per parser a peer reaches. The fuzzer (`fuzz/`) and the corpus
//! replay test (`tests/fuzz_corpus.rs`) call the same functions. Each target panics only when a
//! parser panics or breaks one of the properties written beside it.

use crate::http::assets::{encoding, etag};
use crate::http::{http1_builder, HostPolicy};
use crate::limits::client_ip;
use crate::protocol::percent_decode;
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, HOST, IF_NONE_MATCH};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use ipnet::IpNet;
use shared::{DemoMessage, MessageText, Nickname};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A target: its name (the corpus directory `fuzz/corpus/<name>`) and its function.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, in the order the fuzz script runs them.
pub const TARGETS: &[Target] = &[
    ("decode_client", decode_client),
    ("demo_nick", demo_nick),
    ("demo_message", demo_message),
    ("http_head", http_head),
    ("host", host),
    ("forwarded_for", forwarded_for),
    ("accept_encoding", accept_encoding),
    ("if_none_match", if_none_match),
    ("mentions", mentions),
];

/// The target named `name`.
pub fn target(name: &str) -> Option<fn(&[u8])> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

/// A typed client frame (`/chat`): whatever decodes encodes back to the same message.
pub fn decode_client(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(msg) = shared::decode_client(text) {
        let again = shared::decode_client(&msg_json(&msg));
        assert_eq!(
            again.ok(),
            Some(msg),
            "a decoded frame must survive a round trip"
        );
    }
}

fn msg_json(msg: &shared::ClientMessage) -> String {
    serde_json::to_string(msg).unwrap_or_default()
}

/// The nickname segment of `/ws/<nick>`: percent-decoding, then the nickname rules. Decoding
/// what was percent-encoded gives the original back.
pub fn demo_nick(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    if let Some(decoded) = percent_decode(&raw) {
        let _ = Nickname::new(decoded);
    }
    assert_eq!(
        percent_decode(&percent_encode(&raw)).as_deref(),
        Some(&*raw),
        "percent-decoding must undo percent-encoding"
    );
}

fn percent_encode(s: &str) -> String {
    s.bytes().fold(String::new(), |mut out, b| {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
        out
    })
}

/// A demo-protocol text frame: the message rules, then the `{"sender","msg"}` frame every
/// receiver gets, which must read back as what was sent.
pub fn demo_message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(text) = MessageText::new(text) else {
        return;
    };
    let frame = DemoMessage {
        sender: "nick",
        msg: text.as_str(),
    };
    let json = serde_json::to_string(&frame).unwrap_or_default();
    let back: Option<DemoMessage> = serde_json::from_str(&json).ok();
    assert_eq!(back.as_ref().map(|m| m.msg.as_str()), Some(text.as_str()));
}

/// Bytes a client sends on a fresh connection, read by hyper with the server's settings
/// (`http1_builder`); a small service checks the headers the server reads itself. The
/// connection must end once the client has sent everything and closed its side.
pub fn http_head(data: &[u8]) {
    let run = async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let conn = http1_builder(Duration::from_secs(5))
            .serve_connection(TokioIo::new(server), hyper::service::service_fn(answer))
            .with_upgrades();
        let (mut rx, mut tx) = tokio::io::split(client);
        let send = async {
            let _ = tx.write_all(data).await;
            let _ = tx.shutdown().await;
        };
        let mut answer = Vec::new();
        let _ = tokio::join!(conn, send, rx.read_to_end(&mut answer));
    };
    let ended =
        runtime().block_on(async { tokio::time::timeout(Duration::from_secs(10), run).await });
    assert!(
        ended.is_ok(),
        "the connection must end after the client closes"
    );
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let headers = req.headers().clone();
    host_checks(headers.get(HOST).and_then(|v| v.to_str().ok()));
    let _ = encoding::negotiate(&headers, true, true);
    let _ = etag::none_match(&headers, "\"abc\"");
    let xff = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let _ = client_ip(IpAddr::V4(Ipv4Addr::LOCALHOST), xff, &trusted());
    let _ = Limited::new(req.into_body(), 64 * 1024).collect().await;
    Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
    })
}

/// A Host header value. The first line, if the input has two, is a `--allowed-hosts` list.
/// `*` allows every well-formed host, so whatever a loopback listener allows, it allows too.
pub fn host(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match text.split_once('\n') {
        Some((allowed, host)) => {
            let allowed: Vec<String> = allowed.split(',').map(str::to_owned).collect();
            if let Ok(policy) = HostPolicy::new(addr("0.0.0.0:8080"), &allowed) {
                let _ = policy.allows(Some(host));
            }
        }
        None => host_checks(Some(&text)),
    }
}

fn host_checks(host: Option<&str>) {
    let star = policy("127.0.0.1:8080", &["*"]);
    for (listen, allowed) in [
        ("127.0.0.1:8080", &[][..]),
        ("[::1]:8080", &["chat.example.com", "*.example.org:443"][..]),
        ("0.0.0.0:8080", &["chat.example.com:8080", "10.0.0.1"][..]),
    ] {
        if policy(listen, allowed).allows(host) {
            assert!(
                star.allows(host),
                "`*` must allow what {listen} allows: {host:?}"
            );
        }
    }
}

fn policy(listen: &str, allowed: &[&str]) -> HostPolicy {
    let allowed: Vec<String> = allowed.iter().map(|s| (*s).to_owned()).collect();
    HostPolicy::new(addr(listen), &allowed).expect("a valid host policy")
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a socket address")
}

fn trusted() -> Vec<IpNet> {
    ["127.0.0.0/8", "10.0.0.0/8", "::1/128", "fd00::/8"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// X-Forwarded-For values, one per line, walked from a trusted proxy and from an untrusted
/// peer (whose own address must win whatever it forwards).
pub fn forwarded_for(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let values: Vec<&str> = text.split('\n').collect();
    let trusted = trusted();
    let proxy = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let _ = client_ip(proxy, values.iter().copied(), &trusted);
    let stranger = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
    assert_eq!(
        client_ip(stranger, values.iter().copied(), &trusted),
        stranger
    );
}

/// `Accept-Encoding` values, one per line: the coding chosen is one the file exists in.
pub fn accept_encoding(data: &[u8]) {
    let headers = header_lines(ACCEPT_ENCODING, data);
    for (gzip, brotli) in [(false, false), (true, false), (false, true), (true, true)] {
        let chosen = encoding::negotiate(&headers, gzip, brotli);
        let available = match chosen {
            encoding::Encoding::Identity => true,
            encoding::Encoding::Gzip => gzip,
            encoding::Encoding::Brotli => brotli,
        };
        assert!(
            available,
            "{chosen:?} chosen with gzip={gzip} brotli={brotli}"
        );
    }
}

/// `If-None-Match` values, one per line: the weak and the strong form of a tag match alike.
pub fn if_none_match(data: &[u8]) {
    let headers = header_lines(IF_NONE_MATCH, data);
    for tag in ["\"abc\"", "\"a,b\"", "\"\""] {
        let strong = etag::none_match(&headers, tag);
        let weak = etag::none_match(&headers, &format!("W/{tag}"));
        assert_eq!(strong, weak, "W/{tag} and {tag} must match alike");
    }
}

fn header_lines(name: http::header::HeaderName, data: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(name.clone(), value);
        }
    }
    headers
}

/// A room message's text, for its `@name` mentions: each is a valid nickname that follows an
/// `@` in the text, no two alike, at most `MAX_MENTIONS`.
pub fn mentions(data: &[u8]) {
    use crate::hub::mentions::{parse, MAX_MENTIONS};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let found = parse(text);
    assert!(found.len() <= MAX_MENTIONS, "{} mentions", found.len());
    let mut keys = std::collections::HashSet::new();
    for n in &found {
        assert!(Nickname::new(n.as_str()).is_ok(), "{n} is no nickname");
        assert!(text.contains(&format!("@{n}")), "@{n} is not in the text");
        assert!(keys.insert(crate::nick_key::NickKey::of(n)), "{n} twice");
    }
}
