//! The "new messages" divider: above the first unread message of the conversation on screen,
//! as it was when the conversation opened (or, opened before its read state came, when that
//! arrived with the join). It stays put while the conversation is marked read as the user
//! reads it, and goes when another conversation opens or the user sends a message here.

use super::rewrite::Msg;
use super::{ChatState, Target};
use shared::{MessageId, Nickname};

impl ChatState {
    /// The message the divider goes above, in the conversation on screen.
    pub fn new_divider(&self) -> Option<MessageId> {
        self.new_from
            .filter(|_| self.divided.is_some() && self.divided == self.active)
    }

    /// Places the divider for `target`, once per opening: before its unread count is cleared.
    pub(super) fn capture_divider(&mut self, target: &Target) {
        if self.divided.as_ref() == Some(target) {
            return;
        }
        let me = self.nick.as_ref();
        // Signed in: after the read mark (or the mark on its way). A guest: its local count.
        let mark = |read: MessageId| {
            (!self.guest).then(|| {
                read.max(
                    self.marking
                        .get(&target.conversation())
                        .copied()
                        .unwrap_or(0),
                )
            })
        };
        self.new_from = match target {
            Target::Room(name) => self
                .rooms
                .get(name)
                .and_then(|r| first_unread(&r.messages, me, mark(r.read.last_read), r.unread)),
            Target::Direct(peer) => self
                .directs
                .get(peer)
                .and_then(|t| first_unread(&t.messages, me, mark(t.read.last_read), t.unread)),
        };
        self.divided = Some(target.clone());
    }

    /// The read state of the conversation on screen arrived (its `joined`): if it was opened
    /// without one (the default room at `welcome`), the divider is placed now.
    pub(super) fn capture_active(&mut self) {
        if let Some(target) = self.active.clone() {
            self.capture_divider(&target);
        }
    }
}

/// The first message of others that is unread: after `mark` when there is one, else the
/// `unread`-th from the end (a guest's count of what arrived while away).
fn first_unread<T: Msg>(
    list: &[T],
    me: Option<&Nickname>,
    mark: Option<MessageId>,
    unread: u32,
) -> Option<MessageId> {
    let mut others = list
        .iter()
        .filter(|m| !m.deleted() && Some(m.sender()) != me);
    match mark {
        Some(mark) => others.find(|m| m.id() > mark).map(|m| m.id()),
        None if unread == 0 => None,
        None => {
            let held = others.clone().count();
            others
                .nth(held.saturating_sub(unread as usize))
                .map(|m| m.id())
        }
    }
}
