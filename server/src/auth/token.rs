//! Session tokens: 256 bits from the OS RNG, handed to the client as 64 lowercase hex
//! characters and stored only as the SHA-256 of that string, so a copy of the store signs
//! no one in. Stored hashes are compared in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of a token as sent: 32 bytes in hex.
pub const TOKEN_LEN: usize = 64;

/// A new session token and the SHA-256 of its text (what the store keeps).
pub fn new_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    // The OS RNG failing is a broken machine, not a peer's doing: nothing sensible goes on.
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    let token = to_hex(&bytes);
    let hash = sha256(&token);
    (token, hash)
}

/// The SHA-256 of `token`, or `None` unless it is exactly 64 lowercase hex characters (so
/// what a peer sends in its place never reaches the store).
pub fn hash_token(token: &str) -> Option<[u8; 32]> {
    is_lower_hex(token).then(|| sha256(token))
}

/// Whether two hashes are equal, in time that does not depend on where they differ.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

/// `h` as 64 lowercase hex characters.
pub fn to_hex(h: &[u8; 32]) -> String {
    crate::util::hex(h)
}

/// The 32 bytes written by [`to_hex`]; `None` unless `s` is exactly 64 lowercase hex
/// characters.
pub fn from_hex(s: &str) -> Option<[u8; 32]> {
    crate::util::unhex(s)
}

fn sha256(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn is_lower_hex(s: &str) -> bool {
    from_hex(s).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_token_is_256_bits_of_hex_and_its_hash() {
        let (token, hash) = new_token();
        assert_eq!(token.len(), 64);
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(hash_token(&token), Some(hash));
        let (other, other_hash) = new_token();
        assert_ne!(token, other);
        assert!(!same(&hash, &other_hash));
    }

    #[test]
    fn the_hash_is_sha256_of_the_text() {
        // SHA-256 of 64 '0' characters.
        let zeros = "0".repeat(64);
        assert_eq!(
            hash_token(&zeros).map(|h| to_hex(&h)).as_deref(),
            Some("60e05bd1b195af2f94112fa7197a5c88289058840ce7c6df9693756bc6250f55")
        );
    }

    #[test]
    fn anything_but_64_lowercase_hex_is_refused() {
        let (token, _) = new_token();
        assert!(hash_token(&token[..63]).is_none(), "too short");
        assert!(hash_token(&format!("{token}0")).is_none(), "too long");
        assert!(hash_token(&token.to_uppercase()).is_none(), "upper case");
        assert!(
            hash_token(&format!("{}g", &token[..63])).is_none(),
            "not hex"
        );
        assert!(hash_token("").is_none());
        // 64 bytes, but not 64 hex characters.
        assert!(hash_token(&"é".repeat(32)).is_none());
    }

    #[test]
    fn hex_round_trips() {
        let mut h = [0u8; 32];
        for (i, b) in h.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37);
        }
        let s = to_hex(&h);
        assert_eq!(s.len(), 64);
        assert_eq!(from_hex(&s), Some(h));
        assert_eq!(from_hex(&s.to_uppercase()), None);
        assert_eq!(from_hex(&s[1..]), None);
    }

    #[test]
    fn same_compares_every_byte() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(same(&a, &b));
        b[31] ^= 1;
        assert!(!same(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!same(&a, &b));
    }
}
