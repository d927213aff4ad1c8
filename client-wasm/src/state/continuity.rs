//! What outlives a reload. The server keeps a signed-in user's memberships, read marks and
//! mutes; the browser keeps only what is its own ([`Kept`]): the open conversation, a draft per
//! conversation, the newest message seen per room (the resume cursors), and a guest's rooms
//! and mutes. Each conversation also has an address, `#/r/<room>` or
//! `#/dm/<nick>`: [`Target::path`] and [`Target::from_path`] map between the two.

use super::conversations::tally;
use super::{ChatState, Effect, Room, Target};
use shared::{ClientMessage, Conversation, MessageId, Nickname, ReadState, RoomName};
use std::rc::Rc;

/// At most this many drafts are kept (the most recent conversations' first).
pub const MAX_DRAFTS: usize = 50;
/// A guest's rooms kept for the next load, at most.
pub const MAX_KEPT_ROOMS: usize = 50;

/// What this browser keeps for one user between page loads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Kept {
    /// Whose it is: applied only to the same user.
    pub nick: Option<Nickname>,
    pub open: Option<Target>,
    pub drafts: Vec<(Target, String)>,
    /// A guest's rooms (a signed-in user's come from the server).
    pub rooms: Vec<RoomName>,
    /// Per room, the newest message seen.
    pub cursors: Vec<(RoomName, MessageId)>,
    /// A guest's conversations that neither notify nor count in the tab title (a signed-in
    /// user's mutes are the server's).
    pub muted: Vec<Target>,
}

impl Target {
    /// The address of this conversation, without the `#/`: `r/general`, `dm/bob` (the name as
    /// it is; the page encodes it for the URL).
    pub fn path(&self) -> (&'static str, &str) {
        match self {
            Target::Room(r) => ("r/", r.as_str()),
            Target::Direct(n) => ("dm/", n.as_str()),
        }
    }

    /// The address as one string, `r/general` or `dm/bob`: the key of the conversation in what
    /// the browser keeps and in notifications.
    pub fn address(&self) -> String {
        let (kind, name) = self.path();
        [kind, name].concat()
    }

    /// Reads an address (decoded, with or without its leading `#/`); `None` for anything else.
    pub fn from_path(path: &str) -> Option<Target> {
        let path = path.trim_start_matches('#').trim_start_matches('/');
        if let Some(name) = path.strip_prefix("r/") {
            return RoomName::new(name).ok().map(Target::Room);
        }
        Nickname::new(path.strip_prefix("dm/")?)
            .ok()
            .map(Target::Direct)
    }
}

impl ChatState {
    /// What to keep for the next page load, once in the chat.
    pub fn kept(&self) -> Option<Kept> {
        if !self.welcomed {
            return None;
        }
        let cursors = self
            .rooms
            .values()
            .filter_map(|r| Some((r.name.clone(), seen(r)?)))
            .collect();
        let rooms = if self.guest {
            self.rooms.keys().take(MAX_KEPT_ROOMS).cloned().collect()
        } else {
            Vec::new()
        };
        Some(Kept {
            nick: self.nick.clone(),
            open: self.active.clone(),
            drafts: self.drafts.clone(),
            rooms,
            cursors,
            // A signed-in user's mutes are the server's.
            muted: if self.guest {
                self.muted.clone()
            } else {
                Vec::new()
            },
        })
    }

    /// What an earlier load kept, right after [`Action::Restore`](super::Action::Restore)
    /// (same user only): the guest's rooms come back, cursors become local read marks.
    pub(super) fn recall(&mut self, kept: Kept) -> bool {
        if kept.nick.is_none() || kept.nick != self.nick {
            return false;
        }
        self.drafts = kept.drafts;
        self.muted = kept.muted;
        if self.wanted.is_none() {
            self.wanted = kept.open;
        }
        for name in kept.rooms.into_iter().take(MAX_KEPT_ROOMS) {
            self.rooms
                .entry(name.clone())
                .or_insert_with(|| Rc::new(Room::new(name)));
        }
        for (name, id) in kept.cursors {
            if let Some(room) = self.rooms.get_mut(&name) {
                Rc::make_mut(room).read.last_read = id;
            }
        }
        true
    }

    /// The address changed (back, forward, a typed URL): open that conversation, joining the
    /// room if need be. Before the chat is on screen it is remembered for `welcome`; an address
    /// that names nothing leaves the conversation as it is (the page then rewrites the URL).
    pub(super) fn route(&mut self, target: Option<Target>, fx: &mut Vec<Effect>) -> bool {
        let Some(target) = target else {
            return true;
        };
        if !self.welcomed {
            self.wanted = Some(target);
            return false;
        }
        if self.active.as_ref() == Some(&target) {
            return false;
        }
        match target {
            Target::Room(name) => self.join(name.as_str(), fx),
            Target::Direct(peer) if self.is_me(&peer) => true,
            direct => self.select(direct) | self.load_direct(fx),
        }
    }

    /// `welcome` lists a signed-in user's rooms: join those this page does not hold yet.
    pub(super) fn rejoin_listed(&mut self, listed: &[ReadState], fx: &mut Vec<Effect>) {
        for state in listed {
            if let Conversation::Room(name) = &state.conv {
                if !self.rooms.contains_key(name) {
                    self.rooms
                        .insert(name.clone(), Rc::new(Room::new(name.clone())));
                    fx.push(Effect::Send(ClientMessage::Join {
                        room: name.clone(),
                        after: None,
                    }));
                }
            }
        }
    }

    /// After `welcome`: open the conversation the address or the last load asked for.
    pub(super) fn open_wanted(&mut self, fx: &mut Vec<Effect>) {
        if let Some(target) = self.wanted.take() {
            self.route(Some(target), fx);
        }
    }

    /// The composer's text for the conversation on screen, as the user types it.
    pub(super) fn draft(&mut self, text: String) {
        let Some(target) = self.active.clone() else {
            return;
        };
        let at = self.drafts.iter().position(|(t, _)| *t == target);
        match (at, text.trim().is_empty()) {
            (Some(i), true) => {
                self.drafts.remove(i);
            }
            (Some(i), false) => self.drafts[i].1 = text,
            (None, false) if self.drafts.len() < MAX_DRAFTS => self.drafts.push((target, text)),
            _ => {}
        }
    }

    /// The draft kept for the conversation on screen.
    pub fn active_draft(&self) -> &str {
        self.drafts
            .iter()
            .find(|(t, _)| Some(t) == self.active.as_ref())
            .map_or("", |(_, s)| s.as_str())
    }

    /// A guest's room came back from an earlier load with a cursor: once its first page is in,
    /// what came after the cursor from others counts as unread (unless it is on screen).
    pub(super) fn recount_kept(&mut self, name: &RoomName) {
        let on_screen = self.visible && self.active == Some(Target::Room(name.clone()));
        let me = self.nick.clone();
        if !self.guest || on_screen {
            return;
        }
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let mark = room.read.last_read;
        if mark == 0 || room.unread > 0 {
            return;
        }
        let (unread, _) = tally(&room.messages, mark, me.as_ref());
        let room = Rc::make_mut(room);
        room.unread = unread;
        // Counted once: later messages count as they arrive.
        room.read.last_read = 0;
    }
}

/// The newest message of a room the user has seen: the newest held, before the unread ones.
fn seen(room: &Room) -> Option<MessageId> {
    let unread = room.unread as usize;
    let seen = room.messages.iter().rev().nth(unread).map(|m| m.id);
    seen.or((room.read.last_read > 0).then_some(room.read.last_read))
}
