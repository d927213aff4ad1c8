//! What calls the user back to the tab: the unread count in its title, notifications for direct
//! messages and mentions while the tab is hidden, and the conversations muted (neither notify
//! nor count): by the server for a signed-in user, in this browser for a guest.

use super::{ChatState, Effect, Target};
use shared::{ClientMessage, MessageId};

/// A notification's body is cut to this many characters.
pub const NOTIFY_BODY_CHARS: usize = 140;

impl ChatState {
    /// Unread messages the title shows: in every conversation not muted, except the one on
    /// screen while the page is visible.
    pub fn attention(&self) -> u32 {
        let counts = |target: Target, unread: u32| {
            let skip = self.muted.contains(&target)
                || (self.visible && self.active.as_ref() == Some(&target));
            if skip {
                0
            } else {
                unread
            }
        };
        let rooms: u32 = self
            .rooms
            .values()
            .map(|r| counts(Target::Room(r.name.clone()), r.unread))
            .sum();
        let directs: u32 = self
            .directs
            .values()
            .map(|d| counts(Target::Direct(d.peer.clone()), d.unread))
            .sum();
        rooms.saturating_add(directs)
    }

    /// The tab title: `(N) Chat`, or `Chat`.
    pub fn title(&self) -> String {
        match self.attention() {
            0 => "Chat".into(),
            n => format!("({n}) Chat"),
        }
    }

    /// Mutes or unmutes the conversation on screen. A signed-in user's mutes are the
    /// server's: it is asked, and its `read` to every connection of the user (other tabs and
    /// devices too) brings the change. A guest's are kept in this browser at once, so its
    /// other tabs read them before they notify.
    pub(super) fn toggle_mute(&mut self, fx: &mut Vec<Effect>) -> bool {
        let Some(target) = self.active.clone() else {
            return false;
        };
        let muted = !self.muted.contains(&target);
        if !self.guest {
            let conv = target.conversation();
            fx.push(Effect::Send(ClientMessage::SetMuted { conv, muted }));
            return false;
        }
        self.set_muted(target, muted);
        fx.push(Effect::Keep);
        true
    }

    /// Records whether `target` is muted.
    pub(super) fn set_muted(&mut self, target: Target, muted: bool) {
        match self.muted.iter().position(|t| *t == target) {
            Some(i) if !muted => {
                self.muted.remove(i);
            }
            None if muted => self.muted.push(target),
            _ => {}
        }
    }

    /// A live message from someone else arrived in `target`: it is what a screen reader hears
    /// next if it is on screen ([`heard`](ChatState::heard)), and, if `notify` (a direct
    /// message, or one that mentions us), it asks for a notification unless the conversation
    /// is muted. Whether that shows (the tab hidden, this tab the one of the user's tabs that
    /// notifies) is the page's call.
    pub(super) fn arrived(
        &mut self,
        target: Target,
        id: MessageId,
        (from, text): (&str, &str),
        notify: bool,
        fx: &mut Vec<Effect>,
    ) {
        self.heard = Some((target.clone(), [from, ": ", text].concat()));
        if !notify || self.muted.contains(&target) {
            return;
        }
        let title = match &target {
            Target::Room(room) => format!("{from} in #{room}"),
            Target::Direct(_) => from.to_string(),
        };
        fx.push(Effect::Notify {
            title,
            body: text.chars().take(NOTIFY_BODY_CHARS).collect(),
            tag: target.address(),
            id,
        });
    }

    /// The newest message from someone else in the conversation on screen, as a screen reader
    /// should hear it ("alice: hi"), once it has arrived live.
    pub fn heard(&self) -> &str {
        match &self.heard {
            Some((target, words)) if self.active.as_ref() == Some(target) => words,
            _ => "",
        }
    }

    /// The page became visible or hidden. A guest's counts are local: on return, the
    /// conversation on screen is read.
    pub(super) fn set_visible(&mut self, visible: bool) -> bool {
        let was = self.visible;
        self.visible = visible;
        if visible && !was && self.guest {
            if let Some(target) = self.active.clone() {
                self.select(target);
            }
        }
        was != visible
    }
}
