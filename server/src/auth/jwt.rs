//! [`JwtVerifier`]: who a site says its user is, as a JWT signed with a shared secret
//! (HS256) or with the site's key pair (RS256 or ES256 on P-256, given its public key in
//! PEM). Only the configured algorithms are accepted, so `alg: none` and an HS256 token
//! signed with the public key as its secret are refused before any signature is checked.
//!
//! A token must carry `exp` (checked against the caller's clock with [`LEEWAY_SECS`] of
//! leeway), a non-empty `sub` of at most [`MAX_SUB_LEN`] bytes and a string `name`. `nbf`,
//! when present, is checked with the same leeway. No audience is configured here, so a
//! token that names one (`aud`) is refused; `iss` is not checked.

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use shared::Timestamp;

/// Longer tokens are refused before they are parsed.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Clock skew allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// The longest `sub` accepted, in bytes.
pub const MAX_SUB_LEN: usize = 256;

/// The identity a valid token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtUser {
    /// The site's id for the user: stable, unlike the name.
    pub sub: String,
    /// The name the site gives the user, unchecked: the caller validates it as a nickname.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's signature does not match the configured key")]
    BadSignature,
    #[error("the token is signed with an algorithm this server does not accept")]
    AlgorithmNotAllowed,
    /// The claim is absent or not of the required type (or, for `sub`, empty or too long).
    #[error("the token has no usable `{0}` claim")]
    MissingClaim(&'static str),
    #[error("the token is meant for an audience (`aud`), and this server accepts none")]
    Audience,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("the JWT secret is empty")]
    EmptySecret,
    #[error("the JWT public key is a private key: give the public one (`BEGIN PUBLIC KEY`)")]
    PrivateKey,
    #[error(
        "the JWT public key is neither an RSA key nor a P-256 EC key in PEM \
         (`BEGIN PUBLIC KEY`, or `BEGIN RSA PUBLIC KEY`)"
    )]
    UnknownKey,
}

/// Checks tokens against the configured secret and public key.
pub struct JwtVerifier {
    /// One per configured key: the algorithm it verifies, the key, what is checked.
    keys: Vec<(Algorithm, DecodingKey, Validation)>,
}

impl JwtVerifier {
    /// A verifier for HS256 tokens signed with `secret` and for tokens signed with the key
    /// pair of `public_key_pem`: RS256 for an RSA key, ES256 for a P-256 one. With both, a
    /// token may use either. `None` when neither is given (no external identities).
    pub fn new(
        secret: Option<&str>,
        public_key_pem: Option<&[u8]>,
    ) -> Result<Option<JwtVerifier>, JwtConfigError> {
        let mut keys = Vec::new();
        if let Some(secret) = secret {
            if secret.is_empty() {
                return Err(JwtConfigError::EmptySecret);
            }
            let key = DecodingKey::from_secret(secret.as_bytes())
                .map_err(|_| JwtConfigError::EmptySecret)?;
            keys.push((Algorithm::HS256, key, validation(Algorithm::HS256)));
        }
        if let Some(pem) = public_key_pem {
            let (alg, key) = public_key(pem)?;
            keys.push((alg, key, validation(alg)));
        }
        if keys.is_empty() {
            return Ok(None);
        }
        // The crate picks its crypto provider from its features; should both ever be on, it
        // would panic at the first token rather than choose. Choose here, once.
        if CryptoProvider::try_get_default().is_none() {
            let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        }
        Ok(Some(JwtVerifier { keys }))
    }

    /// The user `token` vouches for, if it is valid at `now` (milliseconds since the epoch).
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<JwtUser, JwtError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwtError::Malformed);
        }
        let alg = header_alg(token).ok_or(JwtError::Malformed)?;
        // `none`, and any name the crate does not know, fail to parse.
        let alg: Algorithm = alg.parse().map_err(|_| JwtError::AlgorithmNotAllowed)?;
        let (_, key, validation) = self
            .keys
            .iter()
            .find(|(a, _, _)| *a == alg)
            .ok_or(JwtError::AlgorithmNotAllowed)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature
                | ErrorKind::InvalidEcdsaKey
                | ErrorKind::InvalidRsaKey(_) => JwtError::BadSignature,
                ErrorKind::InvalidAlgorithm => JwtError::AlgorithmNotAllowed,
                ErrorKind::InvalidAudience => JwtError::Audience,
                _ => JwtError::Malformed,
            })?
            .claims;
        claims.check(now)
    }
}

/// What is read of a token's payload; other claims are ignored.
#[derive(Deserialize)]
struct Claims {
    exp: Option<Value>,
    nbf: Option<Value>,
    sub: Option<Value>,
    name: Option<Value>,
}

impl Claims {
    fn check(self, now: Timestamp) -> Result<JwtUser, JwtError> {
        let now = now as f64 / 1000.0;
        let leeway = LEEWAY_SECS as f64;
        let exp = self
            .exp
            .as_ref()
            .and_then(Value::as_f64)
            .ok_or(JwtError::MissingClaim("exp"))?;
        if now >= exp + leeway {
            return Err(JwtError::Expired);
        }
        match self.nbf {
            None | Some(Value::Null) => {}
            Some(nbf) => {
                let nbf = nbf.as_f64().ok_or(JwtError::Malformed)?;
                if now + leeway < nbf {
                    return Err(JwtError::NotYetValid);
                }
            }
        }
        let sub = match self.sub {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB_LEN => s,
            _ => return Err(JwtError::MissingClaim("sub")),
        };
        let Some(Value::String(name)) = self.name else {
            return Err(JwtError::MissingClaim("name"));
        };
        Ok(JwtUser { sub, name })
    }
}

/// Signature and `aud` are checked by the crate; the times and the claims by [`Claims`],
/// against the caller's clock.
fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.leeway = 0;
    v
}

/// The key and its algorithm: RSA first, then EC on P-256.
fn public_key(pem: &[u8]) -> Result<(Algorithm, DecodingKey), JwtConfigError> {
    if pem
        .windows(b"PRIVATE KEY".len())
        .any(|w| w == b"PRIVATE KEY")
    {
        return Err(JwtConfigError::PrivateKey);
    }
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((Algorithm::RS256, key));
    }
    let key = DecodingKey::from_ec_pem(pem).map_err(|_| JwtConfigError::UnknownKey)?;
    // The key is the curve point: 65 bytes uncompressed on P-256, 33 compressed (P-384's
    // are 97 and 49).
    let point = key
        .try_get_as_bytes()
        .map_err(|_| JwtConfigError::UnknownKey)?;
    match (point.len(), point.first()) {
        (65, Some(4)) | (33, Some(2 | 3)) => Ok((Algorithm::ES256, key)),
        _ => Err(JwtConfigError::UnknownKey),
    }
}

/// The `alg` of the token's header, read before anything is verified (so `none` and
/// unknown algorithms are told apart from garbage).
fn header_alg(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
    }
    let (header, _) = token.split_once('.')?;
    let json = base64url_decode(header)?;
    serde_json::from_slice::<Header>(&json).ok().map(|h| h.alg)
}

/// Unpadded base64url, as JWTs use it.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    fn sextet(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        }))
    }
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= sextet(c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
