//! Small helpers every layer uses: the lock, random ids, the clock. A leaf: imports nothing
//! of the crate.

use shared::Timestamp;
use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering it if a panic poisoned it: no section under the crate's locks can
/// panic halfway through an update that matters more than the whole server.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// 128 bits from the OS RNG, as hex (resume tokens, node ids, store epochs).
pub fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    // The OS RNG failing is a broken machine, not a peer's doing: nothing sensible goes on.
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    hex(&bytes)
}

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `N` bytes that `s` (exactly `2 N` lowercase hex digits) stands for.
pub fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_is_128_bits_and_differs() {
        let a = random_hex();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_hex());
    }
}
