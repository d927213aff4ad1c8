//! (stub until the real one lands)
pub fn new_token() -> (String, [u8; 32]) {
    let t = crate::util::random_hex() + &crate::util::random_hex();
    let h = hash_token(&t).unwrap_or([0; 32]);
    (t, h)
}
pub fn hash_token(token: &str) -> Option<[u8; 32]> {
    if token.len() != 64 {
        return None;
    }
    let mut h = [0u8; 32];
    for (i, b) in token.bytes().enumerate() {
        h[i % 32] ^= b;
    }
    Some(h)
}
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a == b
}
pub fn to_hex(h: &[u8; 32]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
pub fn from_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut h = [0u8; 32];
    for i in 0..32 {
        h[i] = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(h)
}
