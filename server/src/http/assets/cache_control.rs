//! `Cache-Control` of a client file: forever for content-hashed names, revalidate otherwise.

/// Hashed names change whenever their content does, so a browser may keep them for a year
/// without asking; everything else (index.html first, which names the hashed files) is
/// revalidated on each use, cheaply, through its ETag.
pub fn cache_control(name: &str) -> &'static str {
    if name != "index.html" && is_hashed(name) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

/// Whether `name` carries trunk's content hash: `-` and the hash in lowercase hex right
/// before the first `.` or before `_bg` (`client-wasm-9f1c2e3d4b5a6978_bg.wasm`,
/// `client-wasm-9f1c2e3d4b5a6978.js`). The hash is 64 bits written without leading zeros,
/// so one build in sixteen has fewer than 16 digits: 12 or more are taken as a hash, which
/// no hand-picked name is likely to end with.
fn is_hashed(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    let Some((_, hash)) = stem.rsplit_once('-') else {
        return false;
    };
    (12..=16).contains(&hash.len()) && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOREVER: &str = "public, max-age=31536000, immutable";

    #[test]
    fn hashed_names_are_immutable() {
        assert_eq!(
            cache_control("client-wasm-9f1c2e3d4b5a6978_bg.wasm"),
            FOREVER
        );
        assert_eq!(cache_control("client-wasm-9f1c2e3d4b5a6978.js"), FOREVER);
        assert_eq!(cache_control("style-0123456789abcdef.css"), FOREVER);
        assert_eq!(
            cache_control("client-wasm-f1c2e3d4b5a6978_bg.wasm"),
            FOREVER
        );
    }

    #[test]
    fn everything_else_revalidates() {
        assert_eq!(cache_control("index.html"), "no-cache");
        assert_eq!(cache_control("app-1a2b.js"), "no-cache");
        assert_eq!(cache_control("favicon.ico"), "no-cache");
        assert_eq!(cache_control("client-wasm-9F1C2E3D4B5A6978.js"), "no-cache");
        assert_eq!(
            cache_control("client-wasm-9f1c2e3d4b5a69781.js"),
            "no-cache"
        );
        assert_eq!(cache_control("client-wasm-xf1c2e3d4b5a6978.js"), "no-cache");
        assert_eq!(cache_control("-"), "no-cache");
    }
}
