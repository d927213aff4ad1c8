//! Page replies (`joined`, `history`, `rooms`) fit a byte budget under the outbound bound: a
//! page that would pass it is cut, and says `has_more`, so no reply closes its own client as
//! a slow consumer. A page always holds at least one item, so paging always moves on.

use crate::store::{Page, StoredMessage};
use serde::Serialize;
use shared::ChatMessage;

/// Largest page reply, in bytes of JSON: half the outbound bound, and at most this.
const MAX_PAGE_BYTES: usize = 256 * 1024;

/// Room left in a page for what surrounds its list: the type, the room's name, `has_more`.
const ENVELOPE: usize = 256;

/// The byte budget of a page's list for connections whose outbound queue holds
/// `queue_bytes`: the whole reply stays within half of it.
pub fn budget(queue_bytes: usize) -> usize {
    (queue_bytes / 2)
        .min(MAX_PAGE_BYTES)
        .saturating_sub(ENVELOPE)
}

/// Which end of a page is kept when it must be cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The newest messages (a page of the latest, or of those before an id): what is cut is
    /// older, so `has_more` keeps its meaning.
    Newest,
    /// The oldest messages (a page of those after an id).
    Oldest,
}

impl Keep {
    /// For a page of history: the oldest of those after an id, else the newest.
    pub fn for_history(after: Option<shared::MessageId>) -> Keep {
        if after.is_some() {
            Keep::Oldest
        } else {
            Keep::Newest
        }
    }
}

/// Bytes `item` takes in a JSON list, the comma included.
pub fn json_len(item: &impl Serialize) -> usize {
    let mut n = Counter(0);
    // Writing to a counter cannot fail, and these types serialize without errors.
    let _ = serde_json::to_writer(&mut n, item);
    n.0 + 1
}

struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The chat messages of a store page, cut to `budget` bytes from the end `keep` does not
/// keep; `has_more` is the store's, or true when something was cut.
pub fn fit(page: Page, budget: usize, keep: Keep) -> (Vec<ChatMessage>, bool) {
    fit_with(page, budget, keep, StoredMessage::to_chat)
}

/// `fit`, for the messages `to` makes of the stored ones (direct messages, say).
pub fn fit_with<T: Serialize>(
    page: Page,
    budget: usize,
    keep: Keep,
    to: impl FnMut(&StoredMessage) -> Option<T>,
) -> (Vec<T>, bool) {
    let mut msgs: Vec<T> = page.messages.iter().filter_map(to).collect();
    let cut = cut(&mut msgs, budget, keep);
    (msgs, page.has_more || cut)
}

/// Cuts `items` to `budget` bytes of JSON (but never below one item) from the end `keep`
/// does not keep; whether anything was cut.
pub fn cut<T: Serialize>(items: &mut Vec<T>, budget: usize, keep: Keep) -> bool {
    let mut used = 0;
    let mut fits = |item: &&T| {
        used += json_len(*item);
        used <= budget
    };
    let n = match keep {
        Keep::Oldest => items.iter().take_while(&mut fits).count(),
        Keep::Newest => items.iter().rev().take_while(&mut fits).count(),
    }
    .max(1);
    if n >= items.len() {
        return false;
    }
    match keep {
        Keep::Oldest => items.truncate(n),
        Keep::Newest => {
            items.drain(..items.len() - n);
        }
    }
    true
}

#[cfg(test)]
mod tests;
