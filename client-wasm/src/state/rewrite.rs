//! Edits and deletions, applied to the messages they change: an event with a `target` is never
//! shown as a message of its own. Live events and history pages go through the same rules, so
//! applying one twice changes nothing, and an older edit arriving late never undoes a newer one.

use super::small_map::SmallMap;
use shared::{ChatMessage, DirectMessage, MessageId, MessageText, Nickname, Timestamp};

/// What room and direct messages have in common here.
pub trait Msg {
    fn id(&self) -> MessageId;
    fn target(&self) -> Option<MessageId>;
    fn sender(&self) -> &Nickname;
    fn ts(&self) -> Timestamp;
    fn text(&self) -> &MessageText;
    fn mentions(&self) -> &[Nickname];
    fn edited(&self) -> bool;
    fn deleted(&self) -> bool;
    /// Takes `text` as an edit, or becomes a tombstone (`None`).
    fn rewrite(&mut self, text: Option<MessageText>);
}

macro_rules! impl_msg {
    ($t:ty, $sender:ident) => {
        impl Msg for $t {
            fn id(&self) -> MessageId {
                self.id
            }
            fn target(&self) -> Option<MessageId> {
                self.target
            }
            fn sender(&self) -> &Nickname {
                &self.$sender
            }
            fn ts(&self) -> Timestamp {
                self.ts
            }
            fn text(&self) -> &MessageText {
                &self.text
            }
            fn mentions(&self) -> &[Nickname] {
                &self.mentions
            }
            fn edited(&self) -> bool {
                self.edited
            }
            fn deleted(&self) -> bool {
                self.deleted
            }
            fn rewrite(&mut self, text: Option<MessageText>) {
                match text {
                    Some(text) => {
                        self.text = text;
                        self.edited = true;
                    }
                    None => {
                        self.text = MessageText::tombstone();
                        self.deleted = true;
                    }
                }
            }
        }
    };
}
impl_msg!(ChatMessage, sender);
impl_msg!(DirectMessage, from);

/// `name` is among the message's mentions (names compare without regard to case).
pub fn mentions_me<T: Msg>(m: &T, me: Option<&Nickname>) -> bool {
    me.is_some_and(|me| m.mentions().iter().any(|n| same_name(n, me)))
}

/// Names equal but for case (by the upper-case mapping, which the client carries anyway).
pub fn same_name(a: &Nickname, b: &Nickname) -> bool {
    let upper = |n: &Nickname| {
        n.as_str()
            .chars()
            .flat_map(char::to_uppercase)
            .collect::<Vec<_>>()
    };
    a == b || upper(a) == upper(b)
}

/// Applies the edit or deletion `ev` to the message it targets, if held. A deletion is final;
/// an edit applies only if it is newer than the last one applied (`edits`).
pub fn apply_rewrite<T: Msg>(
    list: &mut [T],
    edits: &mut SmallMap<MessageId, MessageId>,
    ev: &T,
) -> bool {
    let Some(target) = ev.target() else {
        return false;
    };
    let Ok(i) = list.binary_search_by_key(&target, Msg::id) else {
        return false;
    };
    let original = &mut list[i];
    if original.deleted() {
        return false;
    }
    if ev.deleted() {
        original.rewrite(None);
        return true;
    }
    if edits.get(&target).is_some_and(|&last| last >= ev.id()) {
        return false;
    }
    edits.insert(target, ev.id());
    if original.text() == ev.text() && original.edited() {
        return false;
    }
    original.rewrite(Some(ev.text().clone()));
    true
}

/// What a live message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merged {
    /// A new message, now held.
    Added,
    /// An edit or deletion, applied to its message (`true`) or with nothing to change.
    Rewrote(bool),
    /// Held already.
    Duplicate,
}

/// A live message: inserted by id, or, if it rewrites another, applied to that one.
pub fn merge_live<T: Msg>(
    list: &mut Vec<T>,
    edits: &mut SmallMap<MessageId, MessageId>,
    m: T,
) -> Merged {
    if m.target().is_some() {
        return Merged::Rewrote(apply_rewrite(list, edits, &m));
    }
    match list.binary_search_by_key(&m.id(), Msg::id) {
        Ok(_) => Merged::Duplicate,
        Err(pos) => {
            list.insert(pos, m);
            Merged::Added
        }
    }
}

/// A history page: its messages are as they are now, so they replace the copies held; its
/// edit and deletion events apply to messages held from before (the page's own copies have
/// them already).
pub fn merge_page<T: Msg>(
    list: &mut Vec<T>,
    edits: &mut SmallMap<MessageId, MessageId>,
    page: Vec<T>,
) {
    let (events, messages): (Vec<T>, Vec<T>) = page.into_iter().partition(|m| m.target().is_some());
    let mut in_page = Vec::new();
    for m in messages {
        in_page.push(m.id());
        match list.binary_search_by_key(&m.id(), Msg::id) {
            // A tombstone stays one whatever the page says.
            Ok(i) if !list[i].deleted() => list[i] = m,
            Ok(_) => {}
            Err(pos) => list.insert(pos, m),
        }
    }
    for ev in events {
        match ev.target() {
            Some(t) if in_page.contains(&t) => {
                let last = edits.get(&t).copied().unwrap_or(0);
                edits.insert(t, last.max(ev.id()));
            }
            _ => {
                apply_rewrite(list, edits, &ev);
            }
        }
    }
}
