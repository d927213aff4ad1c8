//! Server frames applied to the state: joins and history pages merged by id (so resends and
//! overlapping pages never show a message twice), new messages and unread counts, acks that
//! empty the outbox, presence (with who is a guest), and typing.

use super::rewrite::{mentions_me, merge_live, merge_page, Merged};
use super::{ChatState, DirectThread, Effect, Paging, Room, Target};
use shared::{
    ChatMessage, ClientMessage, ClientMsgId, DirectMessage, ErrorCode, MessageId, Nickname,
    PresenceState, ReadState, RoomInfo, RoomName, ServerMessage, Timestamp,
};
use std::rc::Rc;

/// Messages kept in memory per conversation; older ones are paged in again on request.
pub const MAX_KEPT_MESSAGES: usize = 2_000;
/// Messages a catch-up after a reconnect fetches at most. Past it, what was held is dropped
/// and the latest page is shown below a gap marker, with "load older" to go back.
pub const RESUME_CAP: usize = MAX_KEPT_MESSAGES;
/// Rooms of the listing fetched at most (in pages).
pub const MAX_DIRECTORY: usize = 2_000;

/// Inserts `item` into `list` (sorted by `id`) unless its id is there already.
fn insert_by_id<T>(list: &mut Vec<T>, item: T, id: impl Fn(&T) -> MessageId) -> bool {
    let key = id(&item);
    match list.binary_search_by_key(&key, &id) {
        Ok(_) => false,
        Err(pos) => {
            list.insert(pos, item);
            true
        }
    }
}

/// Keeps memory bounded; returns whether anything was dropped.
fn trim_oldest<T>(list: &mut Vec<T>) -> bool {
    if list.len() > MAX_KEPT_MESSAGES {
        let extra = list.len() - MAX_KEPT_MESSAGES;
        list.drain(..extra);
        true
    } else {
        false
    }
}

/// After a page of a catch-up: ask for the next one, or, past [`RESUME_CAP`], drop what is
/// held and ask for the latest page, marking the gap; or, caught up, stop.
fn catch_up(room: &mut Room, more: bool, page: u32, fx: &mut Vec<Effect>) {
    if !more {
        room.paging = Paging::Idle;
        return;
    }
    if room.caught_up >= RESUME_CAP {
        room.messages.clear();
        room.gap_after = room.resume_from.or(room.gap_after);
        room.paging = Paging::Latest;
        fx.push(Effect::Send(ClientMessage::History {
            room: room.name.clone(),
            before: None,
            after: None,
            limit: Some(page),
        }));
        return;
    }
    fx.push(Effect::Send(ClientMessage::History {
        room: room.name.clone(),
        before: None,
        after: room.last_id(),
        limit: Some(page),
    }));
}

impl ChatState {
    /// A text frame from the server.
    pub(super) fn received(&mut self, text: &str, fx: &mut Vec<Effect>) -> bool {
        match serde_json::from_str::<ServerMessage>(text) {
            Ok(msg) => self.receive(msg, fx),
            // A frame this client cannot read (a newer server?) is skipped, not fatal.
            Err(_) => false,
        }
    }

    fn receive(&mut self, msg: ServerMessage, fx: &mut Vec<Effect>) -> bool {
        match msg {
            ServerMessage::Welcome {
                nick,
                guest,
                session,
                default_room,
                resume_token,
                epoch,
                limits,
                admin,
                conversations,
                ..
            } => {
                self.admin = admin;
                self.reset_conversations();
                self.welcome(
                    (nick, guest, session),
                    default_room,
                    resume_token,
                    epoch,
                    limits,
                    fx,
                );
                self.rejoin_listed(&conversations, fx);
                self.read_states(conversations);
                self.open_wanted(fx);
                self.load_direct(fx);
                true
            }
            ServerMessage::Joined {
                room,
                members,
                guests,
                history,
                has_more,
                invite_only,
                owner,
                muted_until,
                read,
            } => {
                self.joined(room.clone(), (members, guests), history, has_more, read, fx);
                // The answer to our `create_room` may leave out the rules just made: ours.
                let created = match self.creating.take() {
                    Some((name, private)) if name == room => Some(private),
                    other => {
                        self.creating = other;
                        None
                    }
                };
                let me = self.nick.clone();
                if let Some(r) = self.rooms.get_mut(&room) {
                    let r = Rc::make_mut(r);
                    r.invite_only = invite_only || created == Some(true);
                    r.owner = owner.or(created.and(me));
                    r.muted_until = muted_until;
                }
                if created.is_some() {
                    self.select(Target::Room(room));
                }
                true
            }
            ServerMessage::Left { room } => {
                // Usually removed already when the user clicked leave.
                self.rooms.remove(&room);
                if self.active == Some(Target::Room(room)) {
                    self.active = self.rooms.keys().next().cloned().map(Target::Room);
                }
                self.ask_rooms(fx);
                true
            }
            ServerMessage::Rooms {
                rooms,
                has_more,
                after,
            } => self.rooms_page(rooms, has_more, after, fx),
            ServerMessage::PasswordChanged { session } => self.password_changed(session, fx),
            ServerMessage::Message(m) => self.message(m, fx),
            ServerMessage::Direct(d) => self.direct(d, fx),
            ServerMessage::Ack {
                client_id, id, ts, ..
            } => self.ack(&client_id, id, ts),
            ServerMessage::Presence {
                room,
                nick,
                state,
                guest,
            } => {
                let Some(room) = self.rooms.get_mut(&room) else {
                    return false;
                };
                let room = Rc::make_mut(room);
                match state {
                    PresenceState::Joined => {
                        if guest {
                            room.guests.insert(nick.clone());
                        } else {
                            room.guests.remove(&nick);
                        }
                        room.members.insert(nick);
                    }
                    PresenceState::Left => {
                        room.typing.remove(&nick);
                        room.guests.remove(&nick);
                        room.members.remove(&nick);
                    }
                }
                true
            }
            ServerMessage::Typing {
                room,
                nick,
                expires_in_ms,
            } => {
                if self.is_me(&nick) {
                    return false;
                }
                let until = self.now + i64::from(expires_in_ms);
                let Some(room) = self.rooms.get_mut(&room) else {
                    return false;
                };
                Rc::make_mut(room).typing.insert(nick, until);
                true
            }
            ServerMessage::History {
                room,
                messages,
                has_more,
            } => self.history(room, messages, has_more, fx),
            ServerMessage::DmHistory {
                with,
                messages,
                has_more,
            } => self.dm_history(with, messages, has_more),
            ServerMessage::Moderated {
                room,
                nick,
                action,
                by,
                until,
            } => self.moderated(room, nick, action, by, until, fx),
            ServerMessage::Read(state) => self.read_state(state),
            ServerMessage::Conversations { conversations } => self.read_states(conversations),
            ServerMessage::Error {
                code,
                message,
                client_id,
            } => {
                match code {
                    // A thread that keeps no history (a guest's): live only, no notice.
                    ErrorCode::UnknownUser | ErrorCode::NotSignedIn
                        if client_id.is_none() && self.direct_refused() => {}
                    ErrorCode::NotInvited | ErrorCode::Banned => {
                        // The join we asked for will not come: drop the empty placeholder.
                        self.rooms.retain(|_, r| r.joined || !r.messages.is_empty());
                        if self.active_room().is_none() {
                            if let Some(Target::Room(_)) = self.active {
                                self.active = self.rooms.keys().next().cloned().map(Target::Room);
                            }
                        }
                        self.error(code, message, client_id, fx);
                    }
                    _ => self.error(code, message, client_id, fx),
                }
                if code == ErrorCode::RoomExists {
                    self.creating = None;
                }
                true
            }
        }
    }

    /// Our join confirmed, with the members and the newest history (or, when resuming, what
    /// came after our last message); the outbox's messages for the room go now.
    fn joined(
        &mut self,
        name: RoomName,
        (members, guests): (Vec<Nickname>, Vec<Nickname>),
        history: Vec<ChatMessage>,
        has_more: bool,
        read: Option<ReadState>,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let page = self.page();
        let first_join = !self.rooms.contains_key(&name);
        let room = Rc::make_mut(
            self.rooms
                .entry(name.clone())
                .or_insert_with(|| Rc::new(Room::new(name.clone()))),
        );
        room.guests = guests.into_iter().filter(|g| members.contains(g)).collect();
        room.members = members.into_iter().collect();
        room.joined = true;
        let got = history.len();
        let page_msgs = history.into_iter().filter(|m| m.room == name).collect();
        merge_page(&mut room.messages, &mut room.read.edits, page_msgs);
        if trim_oldest(&mut room.messages) {
            room.has_older = true;
        }
        if room.paging == Paging::Resume {
            room.caught_up += got;
            catch_up(room, has_more, page, fx);
        } else {
            room.has_older = has_more;
            room.paging = Paging::Idle;
        }
        if let Some(read) = read {
            self.read_state(read);
        }
        self.recount_kept(&name);
        if first_join && self.active.is_none() {
            self.active = Some(Target::Room(name.clone()));
        }
        let target = Target::Room(name);
        if self.active.as_ref() == Some(&target) {
            self.capture_active();
        }
        for p in self
            .pending
            .iter()
            .filter(|p| p.target == target && p.failed.is_none())
        {
            fx.extend(self.send_frame(p).map(Effect::Send));
        }
        self.ask_rooms(fx);
        true
    }

    /// A page of the room listing: the first replaces the directory, the next ones (named by
    /// the `after` they answer) extend it, until the server has no more or the directory is
    /// full. A page that does not follow what is held (an older listing's) is dropped.
    fn rooms_page(
        &mut self,
        rooms: Vec<RoomInfo>,
        has_more: bool,
        after: Option<RoomName>,
        fx: &mut Vec<Effect>,
    ) -> bool {
        match after {
            None => self.directory.clear(),
            Some(a) if self.directory.last().map(|r| &r.name) == Some(&a) => {}
            Some(_) => return false,
        }
        let left = MAX_DIRECTORY.saturating_sub(self.directory.len());
        self.directory.extend(rooms.into_iter().take(left));
        if has_more && self.directory.len() < MAX_DIRECTORY {
            if let Some(last) = self.directory.last() {
                fx.push(Effect::Send(ClientMessage::ListRooms {
                    after: Some(last.name.clone()),
                }));
            }
        }
        true
    }

    /// A history page: the next part of a resume, or an older page the user asked for.
    fn history(
        &mut self,
        name: RoomName,
        messages: Vec<ChatMessage>,
        has_more: bool,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let page = self.page();
        let Some(room) = self.rooms.get_mut(&name) else {
            return false;
        };
        let room = Rc::make_mut(room);
        let got = messages.len();
        let oldest = messages.first().map(|m| m.id);
        let page_msgs = messages.into_iter().filter(|m| m.room == name).collect();
        merge_page(&mut room.messages, &mut room.read.edits, page_msgs);
        match room.paging {
            Paging::Resume => {
                room.caught_up += got;
                catch_up(room, has_more && got > 0, page, fx);
                if trim_oldest(&mut room.messages) {
                    room.has_older = true;
                }
            }
            Paging::Older | Paging::Idle | Paging::Latest => {
                // Pages the user asked for are kept even past the cap. An older page that
                // reaches what was seen before a cut-short catch-up closes the gap.
                if room
                    .gap_after
                    .is_some_and(|g| !has_more || oldest.is_none_or(|o| o <= g + 1))
                    && room.paging == Paging::Older
                {
                    room.gap_after = None;
                }
                room.has_older = has_more;
                room.paging = Paging::Idle;
            }
        }
        true
    }

    /// A room message; counts as unread unless it is ours or its room is on screen (and the
    /// page visible). One that mentions us may notify.
    fn message(&mut self, m: ChatMessage, fx: &mut Vec<Effect>) -> bool {
        let mine = self.is_me(&m.sender);
        let mention = mentions_me(&m, self.nick.as_ref());
        let target = Target::Room(m.room.clone());
        let active = self.visible && self.active.as_ref() == Some(&target);
        let note = (!mine).then(|| (m.id, m.sender.to_string(), m.text.to_string()));
        let Some(room) = self.rooms.get_mut(&m.room) else {
            return false;
        };
        let room = Rc::make_mut(room);
        if m.target.is_none() {
            room.typing.remove(&m.sender);
        }
        match merge_live(&mut room.messages, &mut room.read.edits, m) {
            Merged::Added => {}
            Merged::Rewrote(changed) => return changed,
            Merged::Duplicate => return false,
        }
        if trim_oldest(&mut room.messages) {
            room.has_older = true;
        }
        // Guests count here; a signed-in user's counts come from its read marks.
        if !mine && !active {
            room.unread += 1;
            room.read.mentions += u32::from(mention);
        }
        if let Some((id, from, text)) = note {
            self.arrived(target, id, (&from, &text), mention, fx);
        }
        true
    }

    /// A direct message to or from us (ours from another tab too), in the thread with the peer.
    fn direct(&mut self, d: DirectMessage, fx: &mut Vec<Effect>) -> bool {
        let mine = self.is_me(&d.from);
        let mention = mentions_me(&d, self.nick.as_ref());
        let peer = if mine { d.to.clone() } else { d.from.clone() };
        let target = Target::Direct(peer.clone());
        let active = self.visible && self.active.as_ref() == Some(&target);
        let note =
            (!mine && d.target.is_none()).then(|| (d.id, d.from.to_string(), d.text.to_string()));
        let thread = Rc::make_mut(
            self.directs
                .entry(peer.clone())
                .or_insert_with(|| Rc::new(DirectThread::new(peer))),
        );
        match merge_live(&mut thread.messages, &mut thread.read.edits, d) {
            Merged::Added => {}
            Merged::Rewrote(changed) => return changed,
            Merged::Duplicate => return false,
        }
        if trim_oldest(&mut thread.messages) {
            thread.has_older = true;
        }
        if !mine && !active {
            thread.unread += 1;
            thread.read.mentions += u32::from(mention);
        }
        if let Some((id, from, text)) = note {
            self.arrived(target, id, (&from, &text), true, fx);
        }
        true
    }

    /// The server stored our message as `id`. It leaves the outbox and joins the conversation
    /// (unless the broadcast copy got there first: ids dedupe).
    fn ack(&mut self, client_id: &ClientMsgId, id: MessageId, ts: Timestamp) -> bool {
        let Some(i) = self.pending.iter().position(|p| &p.client_id == client_id) else {
            return false;
        };
        let p = self.pending.remove(i);
        let Some(me) = self.nick.clone() else {
            return true;
        };
        match p.target {
            Target::Room(room) => {
                if let Some(r) = self.rooms.get_mut(&room) {
                    let msg = ChatMessage {
                        id,
                        room,
                        sender: me,
                        text: p.text,
                        ts,
                        guest: self.guest,
                        target: None,
                        edited: false,
                        deleted: false,
                        mentions: Vec::new(),
                    };
                    insert_by_id(&mut Rc::make_mut(r).messages, msg, |m| m.id);
                }
            }
            Target::Direct(peer) => {
                let thread = Rc::make_mut(
                    self.directs
                        .entry(peer.clone())
                        .or_insert_with(|| Rc::new(DirectThread::new(peer.clone()))),
                );
                let msg = DirectMessage {
                    id,
                    from: me,
                    to: peer,
                    text: p.text,
                    ts,
                    guest: self.guest,
                    target: None,
                    edited: false,
                    deleted: false,
                    mentions: Vec::new(),
                };
                insert_by_id(&mut thread.messages, msg, |m| m.id);
            }
        }
        true
    }
}
