//! Tests of [`JwtVerifier`]: tokens made with `jsonwebtoken::encode` under the key pairs in
//! `test_keys/`, and hand-built ones for what no honest encoder makes.

use super::*;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

const RSA_PRIVATE: &str = include_str!("test_keys/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("test_keys/rsa_public.pem");
const RSA_OTHER_PUBLIC: &str = include_str!("test_keys/rsa_other_public.pem");
const P256_PRIVATE: &str = include_str!("test_keys/p256_private.pem");
const P256_PUBLIC: &str = include_str!("test_keys/p256_public.pem");
const P384_PUBLIC: &str = include_str!("test_keys/p384_public.pem");
const ED25519_PUBLIC: &str = include_str!("test_keys/ed25519_public.pem");

const SECRET: &str = "a secret shared with the site, long enough";
/// 2026-01-01T00:00:00Z, in milliseconds.
const NOW: Timestamp = 1_767_225_600_000;
const NOW_SECS: i64 = NOW / 1000;

fn claims() -> Value {
    json!({ "sub": "user-42", "name": "ann", "exp": NOW_SECS + 3600 })
}

fn hs256(claims: &Value, secret: &str) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes()).expect("a secret key");
    encode(&Header::new(Algorithm::HS256), claims, &key).expect("encode")
}

fn rs256(claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("an RSA key");
    encode(&Header::new(Algorithm::RS256), claims, &key).expect("encode")
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(P256_PRIVATE.as_bytes()).expect("an EC key");
    encode(&Header::new(Algorithm::ES256), claims, &key).expect("encode")
}

fn verifier(secret: Option<&str>, pem: Option<&str>) -> JwtVerifier {
    JwtVerifier::new(secret, pem.map(str::as_bytes))
        .expect("a valid configuration")
        .expect("something configured")
}

fn ann() -> JwtUser {
    JwtUser {
        sub: "user-42".into(),
        name: "ann".into(),
    }
}

/// Unpadded base64url, for hand-built tokens.
fn b64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[test]
fn nothing_configured_is_none() {
    assert!(JwtVerifier::new(None, None).expect("valid").is_none());
}

#[test]
fn valid_hs256() {
    let v = verifier(Some(SECRET), None);
    assert_eq!(v.verify(&hs256(&claims(), SECRET), NOW), Ok(ann()));
}

#[test]
fn valid_rs256() {
    let v = verifier(None, Some(RSA_PUBLIC));
    assert_eq!(v.verify(&rs256(&claims()), NOW), Ok(ann()));
}

#[test]
fn valid_es256() {
    let v = verifier(None, Some(P256_PUBLIC));
    assert_eq!(v.verify(&es256(&claims()), NOW), Ok(ann()));
}

#[test]
fn with_a_secret_and_a_key_either_is_accepted() {
    let v = verifier(Some(SECRET), Some(RSA_PUBLIC));
    assert_eq!(v.verify(&hs256(&claims(), SECRET), NOW), Ok(ann()));
    assert_eq!(v.verify(&rs256(&claims()), NOW), Ok(ann()));
    assert_eq!(
        v.verify(&es256(&claims()), NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
}

#[test]
fn expiry_is_enforced_with_the_leeway() {
    let v = verifier(Some(SECRET), None);
    let at = |exp: i64| hs256(&json!({ "sub": "u", "name": "n", "exp": exp }), SECRET);
    let leeway = LEEWAY_SECS as i64;
    assert_eq!(v.verify(&at(NOW_SECS - 3600), NOW), Err(JwtError::Expired));
    assert_eq!(
        v.verify(&at(NOW_SECS - leeway), NOW),
        Err(JwtError::Expired)
    );
    assert!(v.verify(&at(NOW_SECS - leeway + 1), NOW).is_ok());
    assert!(v.verify(&at(NOW_SECS + 1), NOW).is_ok());
}

#[test]
fn not_before_is_enforced_with_the_leeway() {
    let v = verifier(Some(SECRET), None);
    let from = |nbf: i64| {
        let c = json!({ "sub": "u", "name": "n", "exp": NOW_SECS + 3600, "nbf": nbf });
        hs256(&c, SECRET)
    };
    let leeway = LEEWAY_SECS as i64;
    assert_eq!(
        v.verify(&from(NOW_SECS + leeway + 1), NOW),
        Err(JwtError::NotYetValid)
    );
    assert!(v.verify(&from(NOW_SECS + leeway), NOW).is_ok());
    assert!(v.verify(&from(NOW_SECS - 10), NOW).is_ok());
}

#[test]
fn a_wrong_secret_or_key_is_a_bad_signature() {
    let v = verifier(Some(SECRET), None);
    assert_eq!(
        v.verify(&hs256(&claims(), "another secret"), NOW),
        Err(JwtError::BadSignature)
    );
    let v = verifier(None, Some(RSA_OTHER_PUBLIC));
    assert_eq!(
        v.verify(&rs256(&claims()), NOW),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn a_changed_payload_is_a_bad_signature() {
    let v = verifier(None, Some(P256_PUBLIC));
    let token = es256(&claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = b64(
        json!({ "sub": "admin", "name": "ann", "exp": NOW_SECS + 3600 })
            .to_string()
            .as_bytes(),
    );
    parts[1] = &forged;
    assert_eq!(v.verify(&parts.join("."), NOW), Err(JwtError::BadSignature));
}

#[test]
fn alg_none_is_refused() {
    let v = verifier(Some(SECRET), Some(RSA_PUBLIC));
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = b64(claims().to_string().as_bytes());
    for token in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        assert_eq!(v.verify(&token, NOW), Err(JwtError::AlgorithmNotAllowed));
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let v = verifier(None, Some(RSA_PUBLIC));
    let token = hs256(&claims(), RSA_PUBLIC);
    assert_eq!(v.verify(&token, NOW), Err(JwtError::AlgorithmNotAllowed));
}

#[test]
fn an_algorithm_not_configured_is_refused() {
    let v = verifier(Some(SECRET), None);
    assert_eq!(
        v.verify(&rs256(&claims()), NOW),
        Err(JwtError::AlgorithmNotAllowed)
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("a secret key");
    let hs512 = encode(&Header::new(Algorithm::HS512), &claims(), &key).expect("encode");
    assert_eq!(v.verify(&hs512, NOW), Err(JwtError::AlgorithmNotAllowed));
}

/// An HS256 token over `header` and `payload` as given, signed with [`SECRET`].
fn signed(header: &[u8], payload: &[u8]) -> String {
    let key = EncodingKey::from_secret(SECRET.as_bytes()).expect("a secret key");
    let message = format!("{}.{}", b64(header), b64(payload));
    let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).expect("sign");
    format!("{message}.{sig}")
}

#[test]
fn malformed_strings_are_refused() {
    let v = verifier(Some(SECRET), Some(P256_PUBLIC));
    let good = hs256(&claims(), SECRET);
    let (message, _) = good.rsplit_once('.').expect("three parts");
    let header = b64(br#"{"alg":"HS256"}"#);
    let too_long = format!("{good}{}", "A".repeat(MAX_TOKEN_LEN));
    for token in [
        "",
        ".",
        "..",
        "not a jwt",
        "a.b.c",
        &header,
        &format!("{message}.!!!"),
        &format!("{}.e30.", b64(b"{}")),
        &format!("{}.e30.", b64(b"not json")),
        &signed(br#"{"alg":"HS256"}"#, b"not json"),
        &signed(br#"{"alg":"HS256"}"#, br#""a string""#),
        &good.replace('.', ""),
        &too_long,
    ] {
        assert_eq!(v.verify(token, NOW), Err(JwtError::Malformed), "{token:?}");
    }
    // Signed, well formed, and valid: the helper itself is sound.
    let ok = signed(br#"{"alg":"HS256"}"#, claims().to_string().as_bytes());
    assert_eq!(v.verify(&ok, NOW), Ok(ann()));
}

#[test]
fn each_required_claim_must_be_there() {
    let v = verifier(Some(SECRET), None);
    let exp = NOW_SECS + 3600;
    let cases = [
        (json!({ "sub": "u", "exp": exp }), "name"),
        (json!({ "sub": "u", "name": 7, "exp": exp }), "name"),
        (json!({ "sub": "u", "name": "n" }), "exp"),
        (json!({ "sub": "u", "name": "n", "exp": "soon" }), "exp"),
        (json!({ "name": "n", "exp": exp }), "sub"),
        (json!({ "sub": "", "name": "n", "exp": exp }), "sub"),
        (json!({ "sub": 42, "name": "n", "exp": exp }), "sub"),
        (
            json!({ "sub": "x".repeat(MAX_SUB_LEN + 1), "name": "n", "exp": exp }),
            "sub",
        ),
    ];
    for (c, missing) in cases {
        assert_eq!(
            v.verify(&hs256(&c, SECRET), NOW),
            Err(JwtError::MissingClaim(missing)),
            "{c}"
        );
    }
    let longest = json!({ "sub": "x".repeat(MAX_SUB_LEN), "name": "n", "exp": exp });
    assert!(v.verify(&hs256(&longest, SECRET), NOW).is_ok());
}

#[test]
fn a_token_naming_an_audience_is_refused() {
    let v = verifier(Some(SECRET), None);
    let c = json!({ "sub": "u", "name": "n", "exp": NOW_SECS + 3600, "aud": "elsewhere" });
    assert_eq!(v.verify(&hs256(&c, SECRET), NOW), Err(JwtError::Audience));
}

#[test]
fn bad_configurations_are_refused() {
    let err = |secret: Option<&str>, pem: &str| {
        JwtVerifier::new(secret, Some(pem.as_bytes()))
            .err()
            .map(|e| e.to_string())
    };
    assert!(matches!(
        JwtVerifier::new(Some(""), None),
        Err(JwtConfigError::EmptySecret)
    ));
    assert!(err(None, RSA_PRIVATE).is_some_and(|e| e.contains("private key")));
    assert!(err(None, P256_PRIVATE).is_some_and(|e| e.contains("private key")));
    for pem in [P384_PUBLIC, ED25519_PUBLIC, "", "not a key"] {
        let e = err(Some(SECRET), pem);
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("neither an RSA key")),
            "{pem}: {e:?}"
        );
    }
}

#[test]
fn the_header_decoder_reads_base64url() {
    for s in [
        &b""[..],
        b"a",
        b"ab",
        b"abc",
        b"abcd",
        &[0xff, 0xfe, 0xfd, 0x00],
    ] {
        assert_eq!(base64url_decode(&b64(s)).as_deref(), Some(s));
    }
    assert_eq!(base64url_decode("a"), None);
    assert_eq!(
        base64url_decode("ab+/"),
        None,
        "standard base64 is not base64url"
    );
    assert_eq!(base64url_decode("YQ=="), None, "no padding");
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(
        JwtError::MissingClaim("name").to_string(),
        "the token has no usable `name` claim"
    );
    assert_eq!(JwtError::Expired.to_string(), "the token has expired");
    assert!(JwtError::AlgorithmNotAllowed
        .to_string()
        .contains("algorithm"));
}
