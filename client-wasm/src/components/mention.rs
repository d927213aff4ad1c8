//! `@name` completion in the composer, as pure functions on the text and the caret (byte
//! offsets; [`byte_at`] and [`utf16_len`] convert from and to the browser's UTF-16 positions).
//! A mention starts with an `@` at the start of the text or after whitespace, so
//! `bob@example.org` never opens the list, and runs over the characters a name may hold.

/// Most names the list offers at once.
pub const MAX_OPTIONS: usize = 8;

/// Element ids of the options, by position (no `format!` in the wasm for them).
pub const OPTION_IDS: [&str; MAX_OPTIONS] = [
    "mention-0",
    "mention-1",
    "mention-2",
    "mention-3",
    "mention-4",
    "mention-5",
    "mention-6",
    "mention-7",
];

/// A byte of a character a nickname may hold, as the server's mention parser reads them,
/// except that every non-ASCII character counts (the Unicode tables would cost more wasm than
/// this file): a typed `«` or `。` only finds no name.
fn name_byte(b: u8) -> bool {
    !b.is_ascii() || b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The mention being typed with the caret at byte `caret` of `text`: the byte offset of its
/// `@` and the part of the name typed so far. None when the caret is inside a word, or the
/// word before it is no mention.
pub fn mention_query(text: &str, caret: usize) -> Option<(usize, &str)> {
    let (before, after) = (text.get(..caret)?, &text[caret..]);
    let bytes = before.as_bytes();
    if after.bytes().next().is_some_and(name_byte) {
        return None;
    }
    // Every byte of a non-ASCII character is a name byte, so `start` is a character boundary.
    let start = bytes
        .iter()
        .rposition(|&b| !name_byte(b))
        .map_or(0, |i| i + 1);
    let at = start.checked_sub(1).filter(|&i| bytes[i] == b'@')?;
    let head = &before[..at];
    head.chars()
        .next_back()
        .is_none_or(char::is_whitespace)
        .then(|| (at, &before[start..]))
}

/// The names that start with `prefix` (in any case), in the given order, at most
/// [`MAX_OPTIONS`].
pub fn complete<'a>(names: &'a [String], prefix: &str) -> Vec<&'a str> {
    names
        .iter()
        .filter(|name| {
            let mut n = name.chars().flat_map(char::to_uppercase);
            prefix
                .chars()
                .flat_map(char::to_uppercase)
                .all(|p| n.next() == Some(p))
        })
        .take(MAX_OPTIONS)
        .map(String::as_str)
        .collect()
}

/// `text` with the mention from byte `at` to byte `caret` replaced by `@name`, and a space
/// unless whitespace or punctuation follows; and the caret's new byte offset, after both.
pub fn insert(text: &str, at: usize, caret: usize, name: &str) -> Option<(String, usize)> {
    let (head, tail) = (text.get(..at)?, text.get(caret..)?);
    let space = if tail.starts_with(|c: char| c.is_whitespace() || c.is_ascii_punctuation()) {
        ""
    } else {
        " "
    };
    let out = [head, "@", name, space, tail].concat();
    Some((out, at + 1 + name.len() + space.len()))
}

/// The byte offset of the UTF-16 position `pos` in `text` (its end if past it).
pub fn byte_at(text: &str, pos: u32) -> usize {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        if units >= pos as usize {
            return i;
        }
        units += c.len_utf16();
    }
    text.len()
}

/// The length of `text` in UTF-16 units, as the browser counts caret positions.
pub fn utf16_len(text: &str) -> u32 {
    text.encode_utf16().count() as u32
}
