//! The one rule for telling nicknames apart: two nicknames are the same user's when their
//! [`NickKey`]s are equal, and a nickname is refused when it mixes scripts beyond what UTS #39's
//! "highly restrictive" level allows. Everything that compares or indexes nicknames for
//! uniqueness (the hub's users, the registry's claims, direct-message targets) goes through
//! here; what users see is always the nickname as it was typed.
//!
//! This lives in the server, not in `shared`, because the confusables table would weigh on the
//! browser client, which never needs to compare names.

use shared::Nickname;
use unicode_normalization::UnicodeNormalization;
use unicode_security::{skeleton, RestrictionLevel, RestrictionLevelDetection};

/// The uniqueness key of a nickname: the UTS #39 confusable skeleton of its case-folded NFKC
/// form. "Alice", "alice", "ａｌｉｃｅ" and "аlice" (Cyrillic а) share one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NickKey(String);

impl NickKey {
    pub fn of(nick: &Nickname) -> NickKey {
        let s = nick.as_str();
        NickKey(ascii_key(s).unwrap_or_else(|| full_key(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A nickname that mixes scripts, or uses characters UTS #39 does not allow in identifiers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("nickname mixes scripts or uses characters not allowed in names (Latin may go with Han and Hiragana/Katakana, Bopomofo or Hangul)")]
pub struct MixedScripts;

/// Refuses a nickname above the "highly restrictive" level: a single script, or Latin with
/// Han and Hiragana/Katakana, Han and Bopomofo, or Han and Hangul. A whole-script lookalike
/// ("раураӏ" in Cyrillic) passes here and is caught by its key instead.
pub fn check_scripts(nick: &Nickname) -> Result<(), MixedScripts> {
    // Checked on the NFKC form so that compatibility variants (fullwidth letters) are judged
    // by the letters they stand for, as the key does.
    let normal: String = nick.as_str().nfkc().collect();
    if normal
        .as_str()
        .check_restriction_level(RestrictionLevel::HighlyRestrictive)
    {
        Ok(())
    } else {
        Err(MixedScripts)
    }
}

/// The key by the book: the skeleton of the folded form.
fn full_key(s: &str) -> String {
    skeleton(&fold(s)).collect()
}

/// The key of an ASCII nickname from a table of each ASCII character's own key, or `None`
/// when the name is not ASCII or holds a character whose key is not ASCII (a grave accent's
/// prototype is a modifier letter, say). The same key as [`full_key`], without normalizing:
/// NFKC, NFD and case folding leave ASCII as ASCII, character by character, so the key of the
/// whole is the keys of its characters put together. A join looks up the key of every member
/// it lists: this keeps that from costing a normalization per member.
fn ascii_key(s: &str) -> Option<String> {
    static TABLE: std::sync::OnceLock<Vec<Option<Box<str>>>> = std::sync::OnceLock::new();
    if !s.is_ascii() {
        return None;
    }
    let table = TABLE.get_or_init(|| {
        (0u8..128)
            .map(|b| {
                let key = full_key(&char::from(b).to_string());
                key.is_ascii().then(|| key.into_boxed_str())
            })
            .collect()
    });
    let mut key = String::with_capacity(s.len() + 4);
    for b in s.bytes() {
        key.push_str(table.get(usize::from(b))?.as_deref()?);
    }
    Some(key)
}

/// NFKC, then case folding, then NFKC again (folding can leave a string unnormalized).
fn fold(s: &str) -> String {
    let folded: String = s.nfkc().flat_map(fold_char).collect();
    folded.nfkc().collect()
}

/// Default case folding, as far as it differs from per-character lowercasing for letters a
/// nickname may hold: final sigma and sharp s fold to what their other forms fold to.
/// Per-character (not `str::to_lowercase`) so that a final Σ is not turned into ς by context.
fn fold_char(c: char) -> impl Iterator<Item = char> {
    let special: Option<&'static str> = match c {
        'ς' => Some("σ"),
        'ß' | 'ẞ' => Some("ss"),
        _ => None,
    };
    let lower = special.is_none().then(|| c.to_lowercase());
    special
        .into_iter()
        .flat_map(str::chars)
        .chain(lower.into_iter().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_keys_from_the_table_are_the_full_keys() {
        let printable: Vec<char> = (0x20u8..0x7f).map(char::from).collect();
        let mut checked = 0;
        for a in &printable {
            for b in &printable {
                let s = format!("{a}{b}x");
                if let Some(fast) = ascii_key(&s) {
                    assert_eq!(fast, full_key(&s), "{s:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 8000, "most pairs take the table: {checked}");
        for s in ["Alice", "rn", "m", "I1l|", "Mallory_42", "x-y.z"] {
            assert_eq!(ascii_key(s).as_deref(), Some(full_key(s).as_str()), "{s}");
        }
        // Not ASCII, or a character whose key is not: the full computation.
        assert_eq!(ascii_key("аlice"), None);
        let odd: Vec<char> = printable
            .iter()
            .copied()
            .filter(|c| !full_key(&c.to_string()).is_ascii())
            .collect();
        for c in &odd {
            assert_eq!(ascii_key(&format!("a{c}b")), None, "{c:?}");
        }
        assert_eq!(NickKey::of(&nick("Alice")), NickKey::of(&nick("аlice")));
    }

    fn nick(s: &str) -> Nickname {
        Nickname::new(s).expect("a valid nickname")
    }

    fn key(s: &str) -> NickKey {
        NickKey::of(&nick(s))
    }

    #[test]
    fn case_and_lookalike_letters_share_a_key() {
        assert_eq!(key("Alice"), key("alice"));
        assert_eq!(key("аlice"), key("alice"), "Cyrillic а");
        assert_eq!(key("ＡＬＩＣＥ"), key("alice"), "fullwidth, through NFKC");
        assert_eq!(key("раураӏ"), key("paypal"), "all Cyrillic");
        assert_eq!(key("Straße"), key("STRASSE"));
        assert_eq!(key("ΣΑΣ"), key("σας"));
        assert_ne!(key("alice"), key("alicia"));
        assert_ne!(key("bob"), key("rob"));
    }

    #[test]
    fn single_scripts_and_the_highly_restrictive_mixes_pass() {
        for ok in [
            "alice",
            "Zoë_2.0-x",
            "раураӏ",
            "太郎たろう",
            "タロウ太郎x",
            "김철수Kim",
            "Li王",
            "ＡＬＩＣＥ",
        ] {
            assert_eq!(check_scripts(&nick(ok)), Ok(()), "{ok}");
        }
    }

    #[test]
    fn other_mixes_of_scripts_are_refused() {
        for bad in ["pаypal", "aλpha", "Ωmega1"] {
            assert_eq!(check_scripts(&nick(bad)), Err(MixedScripts), "{bad}");
        }
    }
}
