//! Conversations that outlive a connection (signed-in users): the server's read state per
//! conversation (from `welcome`, `joined`, `read`, `conversations`), unread and mention counts,
//! `mark_read` for the conversation on screen, and direct threads paged with `dm_history`.
//!
//! Guests keep purely local counts: a message from someone else in a conversation not on
//! screen counts, opening the conversation clears it.

use super::rewrite::{mentions_me, merge_page, Msg};
use super::{ChatState, DirectThread, Effect, Paging, Target};
use shared::{ClientMessage, Conversation, DirectMessage, MessageId, Nickname, ReadState};
use std::rc::Rc;

impl Target {
    /// The protocol's name for this conversation.
    pub fn conversation(&self) -> Conversation {
        match self {
            Target::Room(r) => Conversation::Room(r.clone()),
            Target::Direct(n) => Conversation::Dm(n.clone()),
        }
    }
}

/// Messages of others after `mark` that are not deleted, and those of them mentioning `me`.
pub(super) fn tally<T: Msg>(list: &[T], mark: MessageId, me: Option<&Nickname>) -> (u32, u32) {
    let (mut unread, mut mentions) = (0, 0);
    for m in list.iter().rev().take_while(|m| m.id() > mark) {
        if m.deleted() || Some(m.sender()) == me {
            continue;
        }
        unread += 1;
        if mentions_me(m, me) {
            mentions += 1;
        }
    }
    (unread, mentions)
}

impl ChatState {
    /// Read states from `welcome` or `conversations`: direct threads appear for each.
    pub(super) fn read_states(&mut self, states: Vec<ReadState>) -> bool {
        let changed = !states.is_empty();
        for state in states {
            self.read_state(state);
        }
        changed
    }

    /// One conversation's read state from the server (`read`, `joined`, a listing).
    pub(super) fn read_state(&mut self, state: ReadState) -> bool {
        if self
            .marking
            .get(&state.conv)
            .is_some_and(|&sent| state.last_read >= sent)
        {
            self.marking.remove(&state.conv);
        }
        let target = match &state.conv {
            Conversation::Room(name) => Target::Room(name.clone()),
            Conversation::Dm(peer) => Target::Direct(peer.clone()),
        };
        let muted_changed = self.muted.contains(&target) != state.muted;
        self.set_muted(target, state.muted);
        let marks = match &state.conv {
            Conversation::Room(name) => match self.rooms.get_mut(name) {
                Some(room) => &mut Rc::make_mut(room).read,
                None => return muted_changed,
            },
            Conversation::Dm(peer) => {
                let thread = self
                    .directs
                    .entry(peer.clone())
                    .or_insert_with(|| Rc::new(DirectThread::new(peer.clone())));
                &mut Rc::make_mut(thread).read
            }
        };
        marks.last_read = state.last_read;
        marks.server_unread = state.unread;
        marks.server_mentions = state.mentions;
        true
    }

    /// After every action, for a signed-in user: unread counts from the read marks and the
    /// messages held, and `mark_read` for the conversation on screen.
    pub(super) fn sync_reads(&mut self, fx: &mut Vec<Effect>) -> bool {
        if self.guest || self.nick.is_none() {
            return false;
        }
        self.mark_active_read(fx);
        let me = self.nick.clone();
        let mut changed = false;
        for room in self.rooms.values_mut() {
            let conv = Conversation::Room(room.name.clone());
            let mark = room
                .read
                .last_read
                .max(self.marking.get(&conv).copied().unwrap_or(0));
            let (mut unread, mut mentions) = tally(&room.messages, mark, me.as_ref());
            if !self.marking.contains_key(&conv) {
                unread = unread.max(room.read.server_unread);
                mentions = mentions.max(room.read.server_mentions);
            }
            if room.unread != unread || room.read.mentions != mentions {
                let room = Rc::make_mut(room);
                room.unread = unread;
                room.read.mentions = mentions;
                changed = true;
            }
        }
        for thread in self.directs.values_mut() {
            let conv = Conversation::Dm(thread.peer.clone());
            let mark = thread
                .read
                .last_read
                .max(self.marking.get(&conv).copied().unwrap_or(0));
            let (mut unread, mut mentions) = tally(&thread.messages, mark, me.as_ref());
            if !self.marking.contains_key(&conv) {
                unread = unread.max(thread.read.server_unread);
                mentions = mentions.max(thread.read.server_mentions);
            }
            if thread.unread != unread || thread.read.mentions != mentions {
                let thread = Rc::make_mut(thread);
                thread.unread = unread;
                thread.read.mentions = mentions;
                changed = true;
            }
        }
        changed
    }

    /// Sends `mark_read` for the conversation on screen when it shows a message newer than the
    /// read mark: only while the page is visible, and one request at a time per conversation.
    fn mark_active_read(&mut self, fx: &mut Vec<Effect>) {
        if !self.is_online() || !self.visible {
            return;
        }
        let Some(target) = &self.active else {
            return;
        };
        let (newest, last_read) = match target {
            Target::Room(name) => match self.rooms.get(name).filter(|r| r.joined) {
                Some(r) => (r.last_id(), r.read.last_read),
                None => return,
            },
            Target::Direct(peer) => match self.directs.get(peer) {
                Some(t) => (t.messages.last().map(|m| m.id), t.read.last_read),
                None => return,
            },
        };
        let conv = target.conversation();
        let Some(id) = newest.filter(|&id| id > last_read) else {
            return;
        };
        if self.marking.contains_key(&conv) {
            return;
        }
        self.marking.insert(conv.clone(), id);
        fx.push(Effect::Send(ClientMessage::MarkRead { conv, id }));
    }

    /// The peer has no account (so no stored conversation): as its messages or a room say.
    fn is_guest_peer(&self, peer: &Nickname) -> bool {
        self.rooms.values().any(|r| r.guests.contains(peer))
            || self
                .directs
                .get(peer)
                .is_some_and(|t| t.messages.iter().any(|m| m.guest && &m.from == peer))
    }

    /// Opening a direct thread (signed in, online): fetch its latest page once per connection.
    pub(super) fn load_direct(&mut self, fx: &mut Vec<Effect>) -> bool {
        let page = self.page();
        let Some(Target::Direct(peer)) = self.active.clone() else {
            return false;
        };
        if self.guest || !self.is_online() || self.is_guest_peer(&peer) {
            return false;
        }
        let Some(thread) = self.directs.get_mut(&peer) else {
            return false;
        };
        if thread.loaded || thread.paging != Paging::Idle {
            return false;
        }
        Rc::make_mut(thread).paging = Paging::Latest;
        fx.push(Effect::Send(ClientMessage::DmHistory {
            with: peer,
            before: None,
            after: None,
            limit: Some(page),
        }));
        true
    }

    /// "Load older" in a direct thread.
    pub(super) fn load_older_direct(&mut self, peer: &Nickname, fx: &mut Vec<Effect>) -> bool {
        let page = self.page();
        let online = self.is_online();
        let Some(thread) = self.directs.get_mut(peer) else {
            return false;
        };
        if !online || !thread.has_older || thread.paging != Paging::Idle {
            return false;
        }
        let before = thread.messages.first().map(|m| m.id);
        Rc::make_mut(thread).paging = Paging::Older;
        fx.push(Effect::Send(ClientMessage::DmHistory {
            with: peer.clone(),
            before,
            after: None,
            limit: Some(page),
        }));
        true
    }

    /// A `dm_history` page, merged by id with what is held.
    pub(super) fn dm_history(
        &mut self,
        with: Nickname,
        messages: Vec<DirectMessage>,
        has_more: bool,
    ) -> bool {
        let thread = Rc::make_mut(
            self.directs
                .entry(with.clone())
                .or_insert_with(|| Rc::new(DirectThread::new(with.clone()))),
        );
        let page: Vec<DirectMessage> = messages
            .into_iter()
            .filter(|m| m.from == with || m.to == with)
            .collect();
        merge_page(&mut thread.messages, &mut thread.read.edits, page);
        thread.has_older = has_more;
        thread.paging = Paging::Idle;
        thread.loaded = true;
        true
    }

    /// After `welcome`: nothing was fetched on this connection yet, nothing is being marked.
    pub(super) fn reset_conversations(&mut self) {
        self.marking.clear();
        for thread in self.directs.values_mut() {
            if thread.loaded || thread.paging != Paging::Idle {
                let thread = Rc::make_mut(thread);
                thread.loaded = false;
                thread.paging = Paging::Idle;
            }
        }
    }

    /// A `dm_history` the server would not answer (a guest peer, or we are a guest): the
    /// thread stays live only, quietly.
    pub(super) fn direct_refused(&mut self) -> bool {
        let mut any = false;
        for thread in self.directs.values_mut() {
            if thread.paging != Paging::Idle {
                let thread = Rc::make_mut(thread);
                thread.paging = Paging::Idle;
                thread.loaded = true;
                any = true;
            }
        }
        any
    }
}
