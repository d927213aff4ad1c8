//! What the user does that goes to the server: join and leave rooms, send (through the outbox of
//! [`Pending`] messages), retry or discard a refused message, typing, older pages, the room
//! listing.

use super::model::capitalize;
use super::{ChatState, Effect, Paging, Pending, Room, Target};
use shared::{ClientMessage, ClientMsgId, MessageText, RoomName};
use std::rc::Rc;

/// At most one `typing` frame per room this often.
pub const TYPING_THROTTLE_MS: i64 = 2_000;

impl ChatState {
    /// Joins a room (creating it if nobody has yet) and shows it.
    pub(super) fn join(&mut self, raw: &str, fx: &mut Vec<Effect>) -> bool {
        let name = match RoomName::new(raw.trim().trim_start_matches('#')) {
            Ok(name) => name,
            Err(err) => {
                self.notice = Some(capitalize(&err.to_string()));
                return true;
            }
        };
        if !self.rooms.contains_key(&name) {
            self.rooms
                .insert(name.clone(), Rc::new(Room::new(name.clone())));
            if self.is_online() {
                fx.push(Effect::Send(ClientMessage::Join {
                    room: name.clone(),
                    after: None,
                }));
            }
        }
        self.select(Target::Room(name))
    }

    /// Leaves a room: it goes, with what waits in the outbox for it.
    pub(super) fn leave(&mut self, name: RoomName, fx: &mut Vec<Effect>) -> bool {
        if self.rooms.remove(&name).is_none() {
            return false;
        }
        let target = Target::Room(name.clone());
        self.pending.retain(|p| p.target != target);
        if self.active.as_ref() == Some(&target) {
            self.active = self.rooms.keys().next().cloned().map(Target::Room);
        }
        if self.is_online() {
            fx.push(Effect::Send(ClientMessage::Leave { room: name }));
        }
        true
    }

    /// Posts `raw` to the conversation on screen: checked here, kept in the outbox until the
    /// server acknowledges it, sent now if it can go.
    pub(super) fn send(&mut self, raw: &str, fx: &mut Vec<Effect>) -> bool {
        let Some(target) = self.active.clone() else {
            return false;
        };
        let text = match MessageText::new(raw) {
            Ok(text) => text,
            // An empty box does nothing; anything else says why.
            Err(shared::ValidationError::TextEmpty) => return false,
            Err(err) => {
                self.notice = Some(capitalize(&err.to_string()));
                return true;
            }
        };
        if let Some(limits) = &self.limits {
            if text.as_str().len() > limits.max_text_bytes as usize {
                self.notice = Some(format!(
                    "Message text must be at most {} bytes.",
                    limits.max_text_bytes
                ));
                return true;
            }
        }
        if let Target::Room(room) = &target {
            // Receivers drop our indicator when the message lands: the next keystroke says so
            // again at once.
            self.last_typing.remove(room);
        }
        let pending = Pending {
            client_id: self.next_client_id(),
            target,
            text,
            failed: None,
        };
        if let Some(msg) = self.send_frame(&pending) {
            fx.push(Effect::Send(msg));
        }
        self.drafts.retain(|(t, _)| *t != pending.target);
        self.pending.push(pending);
        true
    }

    /// The frame that sends `p`, if it can go now (online, and the room joined); otherwise it
    /// waits in the outbox for the welcome or the join.
    pub(super) fn send_frame(&self, p: &Pending) -> Option<ClientMessage> {
        if !self.is_online() {
            return None;
        }
        match &p.target {
            Target::Room(room) => {
                self.rooms
                    .get(room)
                    .filter(|r| r.joined)
                    .map(|_| ClientMessage::Send {
                        room: room.clone(),
                        text: p.text.clone(),
                        client_id: p.client_id.clone(),
                    })
            }
            Target::Direct(to) => Some(ClientMessage::Direct {
                to: to.clone(),
                text: p.text.clone(),
                client_id: p.client_id.clone(),
            }),
        }
    }

    /// Sends a refused message again, with the same client id.
    pub(super) fn retry(&mut self, client_id: &ClientMsgId, fx: &mut Vec<Effect>) -> bool {
        let Some(i) = self.pending.iter().position(|p| &p.client_id == client_id) else {
            return false;
        };
        self.pending[i].failed = None;
        if let Some(msg) = self.send_frame(&self.pending[i]) {
            fx.push(Effect::Send(msg));
        }
        true
    }

    /// Gives up on a message the server refused.
    pub(super) fn discard(&mut self, client_id: &ClientMsgId) -> bool {
        self.pending.retain(|p| &p.client_id != client_id);
        true
    }

    /// A keystroke in the composer: tell the room, at most once per [`TYPING_THROTTLE_MS`].
    pub(super) fn typing(&mut self, fx: &mut Vec<Effect>) {
        let Some(room) = self
            .active_room()
            .filter(|r| r.joined)
            .map(|r| r.name.clone())
        else {
            return;
        };
        if !self.is_online() {
            return;
        }
        let last = self.last_typing.get(&room).copied();
        if last.is_some_and(|t| self.now - t < TYPING_THROTTLE_MS) {
            return;
        }
        self.last_typing.insert(room.clone(), self.now);
        fx.push(Effect::Send(ClientMessage::Typing { room }));
    }

    /// Asks for the page before the oldest message we hold in the active room.
    pub(super) fn load_older(&mut self, fx: &mut Vec<Effect>) -> bool {
        let page = self.page();
        let online = self.is_online();
        let name = match &self.active {
            Some(Target::Room(name)) => name,
            Some(Target::Direct(peer)) => return self.load_older_direct(&peer.clone(), fx),
            None => return false,
        };
        let Some(room) = self.rooms.get_mut(name) else {
            return false;
        };
        if !online || !room.joined || !room.has_older || room.paging != Paging::Idle {
            return false;
        }
        let before = room.messages.first().map(|m| m.id);
        Rc::make_mut(room).paging = Paging::Older;
        fx.push(Effect::Send(ClientMessage::History {
            room: name.clone(),
            before,
            after: None,
            limit: Some(page),
        }));
        true
    }

    /// Asks for the room listing (the time is noted by [`ChatState::apply`]).
    pub(super) fn refresh_rooms(&self, fx: &mut Vec<Effect>) {
        if self.is_online() {
            self.ask_rooms(fx);
        }
    }

    /// Asks for the first page of the room listing (the next pages follow as it comes).
    pub(super) fn ask_rooms(&self, fx: &mut Vec<Effect>) {
        fx.push(Effect::Send(ClientMessage::ListRooms { after: None }));
    }
}
