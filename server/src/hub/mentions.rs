//! `@name` in a room message: each name the text mentions, found by its [`NickKey`] (so
//! `@ALICE` and `@аlice` find Alice), as the user goes by it: connected here, an account, or a
//! guest connected to another node. Names nobody holds are left out.

use super::Hub;
use crate::nick_key::NickKey;
use shared::{MessageText, Nickname};

/// Most users one message mentions.
/// (Each name not held here is one lookup of the accounts: this bounds what one message
/// costs.)
pub const MAX_MENTIONS: usize = 10;

/// The `@name`s of `text`, in order, at most [`MAX_MENTIONS`] distinct keys. A name starts
/// after an `@` that does not follow a name character (so `bob@example.org` mentions nobody)
/// and runs over name characters; a trailing `.` or `-` is punctuation, not the name's.
pub fn parse(text: &str) -> Vec<Nickname> {
    let mut found: Vec<Nickname> = Vec::new();
    let mut keys: Vec<NickKey> = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let starts = c == '@' && !prev.is_some_and(name_char);
        prev = Some(c);
        if !starts {
            continue;
        }
        let begin = i + 1;
        let mut end = begin;
        while let Some(&(j, d)) = chars.peek() {
            if !name_char(d) {
                break;
            }
            end = j + d.len_utf8();
            prev = Some(d);
            chars.next();
        }
        let name = text[begin..end].trim_end_matches(['.', '-']);
        let Ok(nick) = Nickname::new(name) else {
            continue;
        };
        let key = NickKey::of(&nick);
        if !keys.contains(&key) {
            keys.push(key);
            found.push(nick);
            if found.len() == MAX_MENTIONS {
                break;
            }
        }
    }
    found
}

fn name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

impl Hub {
    /// The users `text` mentions, by the names they go by.
    pub(super) async fn mentions(&self, text: &MessageText) -> Vec<Nickname> {
        let mut names = Vec::new();
        for nick in parse(text.as_str()) {
            if let Some(p) = self.user(&nick) {
                names.push(p.nick);
                continue;
            }
            let key = NickKey::of(&nick);
            match self.auth.accounts().by_key(&key).await {
                Ok(Some(account)) => names.push(account.name),
                Ok(None) => {
                    if self.registry.online(&key).await.unwrap_or(false) {
                        names.push(nick);
                    }
                }
                Err(e) => tracing::warn!(cause = %e, "mention lookup failed"),
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn names(text: &str) -> Vec<String> {
        parse(text).into_iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn finds_names_after_at_signs() {
        assert_eq!(names("@bob hi"), ["bob"]);
        assert_eq!(names("hi @bob, and @carol."), ["bob", "carol"]);
        assert_eq!(names("(@bob) @al-ice- ok"), ["bob", "al-ice"]);
        assert_eq!(names("mail bob@example.org"), Vec::<String>::new());
        assert_eq!(names("@ @@ @!"), Vec::<String>::new());
        assert_eq!(names("@Bob @BOB @bob"), ["Bob"], "one per key");
        assert_eq!(names("@émile"), ["émile"]);
        let many: String = (0..30).map(|i| format!("@u{i} ")).collect();
        assert_eq!(parse(&many).len(), super::MAX_MENTIONS);
        let long = format!("@{}", "x".repeat(40));
        assert!(parse(&long).is_empty(), "too long for a name");
    }
}
