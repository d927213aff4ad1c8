//! Content negotiation on `Accept-Encoding`: which form of a file a request gets.

use http::header::ACCEPT_ENCODING;
use http::HeaderMap;

/// The forms a file of the client is stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    /// The `Content-Encoding` value, `None` for identity.
    pub fn token(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }

    /// What the form's ETag carries after the hash, so each form has its own validator.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Encoding::Identity => "",
            Encoding::Gzip => "-gz",
            Encoding::Brotli => "-br",
        }
    }
}

/// Picks the form to send of a file that also exists gzipped (`gzip`) and/or as brotli
/// (`brotli`). The highest q wins, ties going to brotli, then gzip, then identity; `q=0`
/// refuses a coding and `*` stands for every coding not named. Without the header, or when
/// nothing compressed is acceptable, identity: every client can read it.
pub fn negotiate(headers: &HeaderMap, gzip: bool, brotli: bool) -> Encoding {
    if !gzip && !brotli {
        return Encoding::Identity;
    }
    let accept = Accepted::parse(headers);
    let br = if brotli { accept.q(accept.br) } else { 0 };
    let gz = if gzip { accept.q(accept.gzip) } else { 0 };
    let (best, q) = if br > 0 && br >= gz {
        (Encoding::Brotli, br)
    } else if gz > 0 {
        (Encoding::Gzip, gz)
    } else {
        return Encoding::Identity;
    };
    // Identity is chosen over compression only when the client says it prefers it.
    match accept.identity {
        Some(identity) if identity > q => Encoding::Identity,
        _ => best,
    }
}

/// The q-values (in thousandths) a request gave the codings this server has.
#[derive(Default)]
struct Accepted {
    br: Option<u16>,
    gzip: Option<u16>,
    identity: Option<u16>,
    any: Option<u16>,
}

impl Accepted {
    fn parse(headers: &HeaderMap) -> Accepted {
        let mut out = Accepted::default();
        let values = headers.get_all(ACCEPT_ENCODING).into_iter();
        for item in values
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
        {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("q").then(|| qvalue(v.trim()))
                })
                .unwrap_or(Some(1000))
                // A q-value that does not parse refuses the coding: guessing could send a
                // form the client cannot read.
                .unwrap_or(0);
            let slot = match coding.as_str() {
                "br" => &mut out.br,
                "gzip" | "x-gzip" => &mut out.gzip,
                "identity" => &mut out.identity,
                "*" => &mut out.any,
                _ => continue,
            };
            // The first mention of a coding counts.
            slot.get_or_insert(q);
        }
        out
    }

    /// A coding's q: its own, else the wildcard's, else 0 (not named is not acceptable).
    fn q(&self, named: Option<u16>) -> u16 {
        named.or(self.any).unwrap_or(0)
    }
}

/// `0`, `0.5`, `1.000` … as thousandths; `None` when it is not a q-value.
fn qvalue(s: &str) -> Option<u16> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let frac_value = frac
        .bytes()
        .zip([100u16, 10, 1])
        .map(|(b, scale)| u16::from(b - b'0') * scale)
        .sum::<u16>();
    let q = whole + frac_value;
    (q <= 1000).then_some(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn pick(accept: Option<&str>, gzip: bool, brotli: bool) -> Encoding {
        let mut h = HeaderMap::new();
        if let Some(a) = accept {
            h.insert(ACCEPT_ENCODING, HeaderValue::from_str(a).expect("header"));
        }
        negotiate(&h, gzip, brotli)
    }

    #[test]
    fn prefers_brotli_then_gzip_then_identity() {
        use Encoding::*;
        assert_eq!(pick(Some("gzip, deflate, br, zstd"), true, true), Brotli);
        assert_eq!(pick(Some("gzip, deflate, br"), true, false), Gzip);
        assert_eq!(pick(Some("gzip, br"), false, false), Identity);
        assert_eq!(pick(Some("br"), true, false), Identity);
        assert_eq!(pick(None, true, true), Identity);
        assert_eq!(pick(Some(""), true, true), Identity);
        assert_eq!(pick(Some("deflate"), true, true), Identity);
        assert_eq!(pick(Some("x-gzip"), true, true), Gzip);
    }

    #[test]
    fn honours_q_values_and_the_wildcard() {
        use Encoding::*;
        assert_eq!(pick(Some("br;q=0, gzip"), true, true), Gzip);
        assert_eq!(pick(Some("br;q=0.000, gzip;q=0"), true, true), Identity);
        assert_eq!(pick(Some("gzip;q=1, br;q=0.5"), true, true), Gzip);
        assert_eq!(pick(Some("*"), true, true), Brotli);
        assert_eq!(pick(Some("*;q=0.5, br;q=0"), true, true), Gzip);
        assert_eq!(pick(Some("*;q=0"), true, true), Identity);
        assert_eq!(pick(Some("br;q=0.5, identity;q=1"), true, true), Identity);
        assert_eq!(pick(Some("br;q=0.5, identity;q=0.5"), true, true), Brotli);
        assert_eq!(pick(Some("BR ; Q=0.9"), false, true), Brotli);
        // Malformed q-values refuse the coding rather than guess.
        assert_eq!(pick(Some("br;q=2, gzip;q=abc"), true, true), Identity);
        assert_eq!(pick(Some("br;q=0.0001"), true, true), Identity);
    }

    #[test]
    fn q_values() {
        assert_eq!(qvalue("0"), Some(0));
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.125"), Some(125));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("1.5"), None);
        assert_eq!(qvalue("-1"), None);
        assert_eq!(qvalue(""), None);
    }
}
