//! Signing in with a site's JSON Web Token against the real binary: HS256 with a shared
//! secret, RS256 with a public key, and the tokens either must refuse.

mod common;

use common::auth::{chat_url, refused, register, sign_in, try_hello, welcomed, PW};
use common::run_binary;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use shared::{Auth, ErrorCode};

const SECRET: &str = "a secret shared with the site, long enough";

fn key_file(name: &str) -> String {
    format!(
        "{}/src/auth/jwt/test_keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn claims(sub: &str, name: &str, exp_in: i64) -> Value {
    json!({ "sub": sub, "name": name, "exp": now_secs() + exp_in })
}

fn provider() {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    }
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    provider();
    let key = EncodingKey::from_secret(secret).expect("a secret key");
    encode(&Header::new(Algorithm::HS256), claims, &key).expect("encode")
}

fn rs256(claims: &Value) -> String {
    provider();
    let pem = std::fs::read(key_file("rsa_private.pem")).expect("the RSA test key");
    let key = EncodingKey::from_rsa_pem(&pem).expect("an RSA key");
    encode(&Header::new(Algorithm::RS256), claims, &key).expect("encode")
}

/// Unpadded base64url, for a hand-built token.
fn b64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn jwt(token: &str) -> Option<Auth> {
    Some(Auth::Jwt {
        token: token.to_string(),
    })
}

/// Signs in with `token`: (nick, guest, session).
async fn welcome(url: &str, token: &str) -> (String, bool, Option<String>) {
    let (_c, m) = try_hello(url, None, jwt(token)).await;
    welcomed(m)
}

async fn invalid(url: &str, token: &str, what: &str) {
    let (code, _, close) = refused(url, None, jwt(token)).await;
    assert_eq!((code, close), (ErrorCode::InvalidToken, 4009), "{what}");
}

#[tokio::test]
async fn hs256_tokens() {
    let (_s, addr) = run_binary(&[
        "--store",
        "memory",
        "--registration-rate",
        "0",
        "--auth-jwt-secret",
        SECRET,
    ]);
    let url = chat_url(&addr);
    let token = hs256(&claims("site|1", "dora", 3600), SECRET.as_bytes());
    let (nick, guest, session) = welcome(&url, &token).await;
    assert_eq!(nick, "dora");
    assert!(!guest, "a site user is a member");
    assert_eq!(session, None, "a JWT user holds no session here");
    // The same user, renamed on the site, is still the same account.
    let later = hs256(&claims("site|1", "dora2", 3600), SECRET.as_bytes());
    assert_eq!(welcome(&url, &later).await.0, "dora");
    // Its name is an account's: a guest cannot take it.
    assert_eq!(
        common::auth::guest_refused(&url, "Dora").await,
        (ErrorCode::NickTaken, 4001)
    );

    invalid(
        &url,
        &hs256(&claims("site|1", "dora", -3600), SECRET.as_bytes()),
        "expired",
    )
    .await;
    invalid(
        &url,
        &hs256(&claims("site|1", "dora", 3600), b"another secret entirely"),
        "wrong secret",
    )
    .await;
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(claims("site|1", "dora", 3600).to_string().as_bytes())
    );
    invalid(&url, &none, "alg none").await;
    for junk in ["", "not a token", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.%%%.xyz"] {
        invalid(&url, junk, junk).await;
    }
    invalid(&url, &"a".repeat(20 * 1024 / 2), "long").await;
}

/// A site user whose name is a local account's (another `sub`) does not get that account.
#[tokio::test]
async fn a_jwt_cannot_take_a_local_accounts_name() {
    let (_s, addr) = run_binary(&[
        "--store",
        "memory",
        "--registration-rate",
        "0",
        "--auth-jwt-secret",
        SECRET,
    ]);
    let url = chat_url(&addr);
    register(&url, "alice", PW).await;
    for name in ["alice", "ALICE"] {
        let token = hs256(&claims("site|7", name, 3600), SECRET.as_bytes());
        let (code, _, close) = refused(&url, None, jwt(&token)).await;
        assert_eq!((code, close), (ErrorCode::NickTaken, 4001), "{name}");
    }
    sign_in(&url, "alice", PW).await;
}

#[tokio::test]
async fn rs256_tokens_with_a_public_key() {
    let public = key_file("rsa_public.pem");
    let (_s, addr) = run_binary(&["--store", "memory", "--auth-jwt-public-key", &public]);
    let url = chat_url(&addr);
    let (nick, guest, _) = welcome(&url, &rs256(&claims("site|2", "erin", 3600))).await;
    assert_eq!((nick.as_str(), guest), ("erin", false));
    // The public key used as an HS256 secret: the classic confusion, refused.
    let pem = std::fs::read(&public).expect("the public key");
    invalid(
        &url,
        &hs256(&claims("site|3", "mallory", 3600), &pem),
        "HS256 with the public key",
    )
    .await;
    invalid(&url, &rs256(&claims("site|2", "erin", -3600)), "expired").await;
}

/// With no JWT configured, a JWT is refused as invalid.
#[tokio::test]
async fn without_a_key_jwts_are_refused() {
    let (_s, addr) = run_binary(&["--store", "memory"]);
    let token = hs256(&claims("site|1", "dora", 3600), SECRET.as_bytes());
    invalid(&chat_url(&addr), &token, "no key configured").await;
}

/// A guest holding the name a site user arrives with keeps it while connected; the site user
/// gets the name once the guest leaves.
#[tokio::test]
async fn a_guest_online_under_the_name_keeps_it_until_it_leaves() {
    let (_s, addr) = run_binary(&["--store", "memory", "--auth-jwt-secret", SECRET]);
    let url = chat_url(&addr);
    let (guest, m) = try_hello(&url, Some("erin"), None).await;
    assert!(welcomed(m).1);
    let token = hs256(&claims("site|9", "erin", 3600), SECRET.as_bytes());
    let (code, _, close) = refused(&url, None, jwt(&token)).await;
    assert_eq!((code, close), (ErrorCode::NickTaken, 4001));
    drop(guest);
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let (_c, m) = try_hello(&url, None, jwt(&token)).await;
        match m {
            shared::ServerMessage::Welcome { nick, guest, .. } => {
                assert_eq!((nick.as_str(), guest), ("erin", false));
                break;
            }
            shared::ServerMessage::Error {
                code: ErrorCode::NickTaken,
                ..
            } if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await
            }
            other => panic!("{other:?}"),
        }
    }
    // The name is the site user's now.
    assert_eq!(
        common::auth::guest_refused(&url, "erin").await,
        (ErrorCode::NickTaken, 4001)
    );
}

/// A site's user has no password here: asking to change it says so (not "wrong password",
/// which would also count against the throttle), and the connection stays.
#[tokio::test]
async fn a_site_user_has_no_password_to_change() {
    use shared::{ClientMessage, Password, ServerMessage};
    let (_s, addr) = run_binary(&["--store", "memory", "--auth-jwt-secret", SECRET]);
    let url = chat_url(&addr);
    let token = hs256(&claims("site-7", "sam", 60), SECRET.as_bytes());
    let (mut c, m) = try_hello(&url, None, jwt(&token)).await;
    assert!(matches!(m, ServerMessage::Welcome { .. }), "{m:?}");
    let pw = |p: &str| Password::new(p).expect("password");
    c.send(&ClientMessage::ChangePassword {
        old: pw("anything at all"),
        new: pw("a new password"),
    })
    .await;
    match c.recv().await {
        ServerMessage::Error { code, message, .. } => {
            assert_eq!(code, ErrorCode::NotSignedIn);
            assert!(message.contains("no password"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    c.join("general", None).await;
}
