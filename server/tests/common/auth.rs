//! Test support for identity: registering, signing in, resuming a session, and reading how a
//! refused `hello` was answered.

use super::Client;
use shared::{Auth, ClientMessage, ErrorCode, Nickname, Password, ServerMessage};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A password long enough for registration.
pub const PW: &str = "correct horse battery";

/// The chat endpoint of a server at `addr` (host:port).
pub fn chat_url(addr: &str) -> String {
    format!("ws://{addr}/chat")
}

pub fn password(s: &str) -> Password {
    Password::new(s).expect("password")
}

pub fn pw_auth(s: &str) -> Auth {
    Auth::Password {
        password: password(s),
    }
}

pub fn register_auth(s: &str) -> Auth {
    Auth::Register {
        password: password(s),
    }
}

pub fn session_auth(token: &str) -> Auth {
    Auth::Session {
        token: token.to_string(),
    }
}

impl Client {
    /// Opens `url` with extra request headers (`X-Forwarded-For`, say).
    pub async fn open_with_headers(url: &str, headers: &[(&'static str, &str)]) -> Client {
        let mut req = url.into_client_request().expect("request");
        for (name, value) in headers {
            req.headers_mut()
                .insert(*name, value.parse().expect("header value"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("connect");
        Client { ws, next_cid: 0 }
    }

    /// Sends `hello` with `auth` (and `nick`, if given); returns the first answer.
    pub async fn hello_with(&mut self, nick: Option<&str>, auth: Option<Auth>) -> ServerMessage {
        self.send(&ClientMessage::Hello {
            nick: nick.map(|n| Nickname::new(n).expect("nick")),
            protocol: shared::PROTOCOL_VERSION,
            resume_token: None,
            auth,
        })
        .await;
        self.recv().await
    }
}

/// What a `welcome` said: (nick, guest, session token).
pub fn welcomed(m: ServerMessage) -> (String, bool, Option<String>) {
    match m {
        ServerMessage::Welcome {
            nick,
            guest,
            session,
            ..
        } => (nick.to_string(), guest, session),
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Connects to `url` and says `hello` with `auth`: the connection and the first answer.
pub async fn try_hello(
    url: &str,
    nick: Option<&str>,
    auth: Option<Auth>,
) -> (Client, ServerMessage) {
    let mut c = Client::open(url).await;
    let m = c.hello_with(nick, auth).await;
    (c, m)
}

/// Signs in with `auth`; panics unless welcomed. The connection and the new session token, if
/// one was given.
async fn welcome_with(url: &str, nick: Option<&str>, auth: Auth) -> (Client, Option<String>) {
    let (c, m) = try_hello(url, nick, Some(auth)).await;
    let (got, guest, session) = welcomed(m);
    if let Some(n) = nick {
        assert_eq!(
            Nickname::new(&got).expect("nick").as_str().to_lowercase(),
            n.to_lowercase(),
            "welcomed under another name"
        );
    }
    assert!(!guest, "a signed-in user is no guest");
    (c, session)
}

/// Registers `name` with `pw`: the connection and its session token.
pub async fn register(url: &str, name: &str, pw: &str) -> (Client, String) {
    let (c, s) = welcome_with(url, Some(name), register_auth(pw)).await;
    (c, s.expect("registration gives a session token"))
}

/// Signs in to `name` with `pw`: the connection and its new session token.
pub async fn sign_in(url: &str, name: &str, pw: &str) -> (Client, String) {
    let (c, s) = welcome_with(url, Some(name), pw_auth(pw)).await;
    (c, s.expect("a password sign-in gives a session token"))
}

/// Resumes the session `token`; panics unless welcomed. No new token is given.
pub async fn hello_session(url: &str, token: &str) -> Client {
    let (c, s) = welcome_with(url, None, session_auth(token)).await;
    assert_eq!(s, None, "resuming a session gives no new token");
    c
}

/// The refusal of a `hello` (or a request that closes): the error's code and message, then
/// the close code.
pub async fn expect_refusal(c: &mut Client) -> (ErrorCode, String, u16) {
    let (code, message) = expect_error(c).await;
    (code, message, c.expect_close().await)
}

/// The error answered next (panics on anything else).
pub async fn expect_error(c: &mut Client) -> (ErrorCode, String) {
    match c.recv().await {
        ServerMessage::Error { code, message, .. } => (code, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Connects and says `hello` with `auth`; expects a refusal: (code, message, close code).
pub async fn refused(
    url: &str,
    nick: Option<&str>,
    auth: Option<Auth>,
) -> (ErrorCode, String, u16) {
    let (mut c, m) = try_hello(url, nick, auth).await;
    match m {
        ServerMessage::Error { code, message, .. } => (code, message, c.expect_close().await),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A guest `hello` as `nick`, refused: (code, close code).
pub async fn guest_refused(url: &str, nick: &str) -> (ErrorCode, u16) {
    let (code, _, close) = refused(url, Some(nick), None).await;
    (code, close)
}

/// Whether `s` is a session token: 64 lowercase hex digits.
pub fn is_token(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh, empty data directory for a SQLite server (removed when dropped).
pub struct DataDir(pub std::path::PathBuf);

impl DataDir {
    pub fn new(tag: &str) -> DataDir {
        let d = std::env::temp_dir().join(format!("chat-auth-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir");
        DataDir(d)
    }

    pub fn arg(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
