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
    /// The count is the client's (a guest's, or kept from the read mark) or, when the read
    /// state has just come with a join, the server's.
    pub(super) fn capture_divider(&mut self, target: &Target) {
        if self.divided.as_ref() == Some(target) {
            return;
        }
        let me = self.nick.as_ref();
        self.new_from =
            match target {
                Target::Room(name) => self.rooms.get(name).and_then(|r| {
                    first_unread(&r.messages, me, r.unread.max(r.read.server_unread))
                }),
                Target::Direct(peer) => self.directs.get(peer).and_then(|t| {
                    first_unread(&t.messages, me, t.unread.max(t.read.server_unread))
                }),
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

/// The `unread`-th message of others from the end (the oldest of them, if fewer are held).
fn first_unread<T: Msg>(list: &[T], me: Option<&Nickname>, unread: u32) -> Option<MessageId> {
    list.iter()
        .rev()
        .filter(|m| !m.deleted() && Some(m.sender()) != me)
        .take(unread as usize)
        .last()
        .map(|m| m.id())
}
