//! The client's whole state and its reducer: [`ChatState::apply`] takes one [`Action`] (something
//! the user did, something the socket said, or a timer firing) and returns the [`Effect`]s the
//! session service must carry out (open the socket, send a frame, schedule a reconnect).
//!
//! No browser calls here: time and randomness come in from outside, so every rule (backoff,
//! resume, resend, dedupe, unread counts) is tested with plain `cargo test` on the host.

use shared::{
    ChatMessage, ClientMessage, ClientMsgId, CloseReason, DirectMessage, ErrorCode, Limits,
    MessageId, MessageText, Nickname, PresenceState, RoomInfo, RoomName, ServerMessage, Timestamp,
    DEFAULT_ROOM, PROTOCOL_VERSION,
};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// First reconnect delay before jitter; doubles per attempt.
pub const RECONNECT_BASE_MS: u32 = 500;
/// Longest reconnect delay before jitter.
pub const RECONNECT_MAX_MS: u32 = 30_000;
/// At most one `typing` frame per room this often.
pub const TYPING_THROTTLE_MS: i64 = 2_000;
/// Messages kept in memory per conversation; older ones are paged in again on request.
pub const MAX_KEPT_MESSAGES: usize = 2_000;
/// Consecutive messages of one sender closer than this share one header.
pub const GROUP_GAP_MS: i64 = 5 * 60 * 1000;
/// The room listing is refreshed this often while online (and on every join and leave).
pub const ROOM_LIST_REFRESH_MS: i64 = 30_000;
/// Page size asked for when the server has not told its own (`welcome.limits.history_page`).
const DEFAULT_PAGE: u32 = 50;

/// Where the connection stands, as the status badge shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not connected and not trying: before the first connect, after the user disconnected, or
    /// after a close that reconnecting would not fix (nickname taken, replaced, ...).
    Offline,
    /// A socket is opening or the `hello` is on its way.
    Connecting { attempt: u32 },
    /// `welcome` received on the current socket.
    Online,
    /// Waiting to try again at `retry_at` (ms since the epoch).
    Reconnecting { attempt: u32, retry_at: Timestamp },
}

/// A conversation: a room or a direct thread with one user.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Room(RoomName),
    Direct(Nickname),
}

/// A message sent but not acknowledged yet. It is resent with the same `client_id` after a
/// reconnect, so the server stores it once however often it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub client_id: ClientMsgId,
    pub target: Target,
    pub text: MessageText,
    /// The server refused it (say, the user is not online); shown with retry and discard.
    pub failed: Option<String>,
}

/// Which history request is outstanding for a room, so `has_more` can be read the right way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    Idle,
    /// Catching up after a reconnect: asked for messages after our last seen id.
    Resume,
    /// Asked for an older page.
    Older,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: RoomName,
    pub members: BTreeSet<Nickname>,
    /// Sorted by id, no id twice.
    pub messages: Vec<ChatMessage>,
    pub unread: u32,
    /// Who is typing, and until when.
    pub typing: BTreeMap<Nickname, Timestamp>,
    /// The server confirmed the join on the current connection.
    pub joined: bool,
    /// Older messages exist on the server.
    pub has_older: bool,
    pub paging: Paging,
}

impl Room {
    fn new(name: RoomName) -> Self {
        Self {
            name,
            members: BTreeSet::new(),
            messages: Vec::new(),
            unread: 0,
            typing: BTreeMap::new(),
            joined: false,
            has_older: false,
            paging: Paging::Idle,
        }
    }

    /// The id to resume from: the newest message we hold.
    pub fn last_id(&self) -> Option<MessageId> {
        self.messages.last().map(|m| m.id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectThread {
    pub peer: Nickname,
    /// Sorted by id, no id twice.
    pub messages: Vec<DirectMessage>,
    pub unread: u32,
}

/// What the user or the outside world did.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// The login form: connect as this nickname.
    Connect {
        nick: String,
    },
    /// The user leaves on purpose; no reconnecting.
    Disconnect,
    Select(Target),
    /// Join a room, creating it if nobody has yet.
    Join(String),
    Leave(RoomName),
    /// Post this text to the conversation on screen.
    Send(String),
    /// Resend a message the server refused.
    Retry(ClientMsgId),
    /// Give up on a message the server refused.
    Discard(ClientMsgId),
    /// A keystroke in the composer.
    Typing,
    LoadOlder,
    RefreshRooms,
    /// Skip the rest of the reconnect wait.
    RetryNow,
    DismissNotice,
    /// The socket opened.
    Opened,
    /// A text frame arrived.
    Received(String),
    /// The socket closed (1006 when there was no close frame).
    Closed {
        code: u16,
        reason: String,
    },
    /// The reconnect timer fired.
    ReconnectDue,
    /// One-second clock, for expiring typing indicators and the reconnect countdown.
    Tick,
}

/// What the session service must do for the reducer.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Open a new socket to the chat endpoint, dropping any previous one.
    Open,
    Send(ClientMessage),
    /// Close the socket (the user disconnected).
    Close,
    ScheduleReconnect {
        delay_ms: u32,
    },
    CancelReconnect,
}

/// Everything the UI shows. Cloning is cheap: conversations sit behind `Rc` and are copied only
/// when they change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatState {
    /// The nickname we log in as (and, once welcomed, the server's spelling of it).
    pub nick: Option<Nickname>,
    /// A `welcome` arrived since the user last pressed connect: the chat view is on screen.
    pub welcomed: bool,
    pub connection: Connection,
    /// Shown next to the nickname box: why the server refused us.
    pub login_error: Option<String>,
    /// Shown above the conversation until dismissed.
    pub notice: Option<String>,
    pub limits: Option<Limits>,
    pub default_room: RoomName,
    pub rooms: BTreeMap<RoomName, Rc<Room>>,
    pub directs: BTreeMap<Nickname, Rc<DirectThread>>,
    /// The server's room listing (name and member count).
    pub directory: Vec<RoomInfo>,
    pub active: Option<Target>,
    /// Sent and not yet acknowledged, oldest first.
    pub pending: Vec<Pending>,
    /// The clock as of the last action.
    pub now: Timestamp,
    resume_token: Option<String>,
    /// The server's history epoch from the last `welcome`: a different one means ids started
    /// over, so what we hold no longer lines up with the server's ids.
    epoch: Option<String>,
    /// The server said not to reconnect (nickname taken, ...): the coming close is final.
    fatal: bool,
    /// Prefix of our client ids, unique per page load so a reload never reuses an id.
    session: String,
    next_seq: u64,
    rng: u64,
    last_typing: BTreeMap<RoomName, Timestamp>,
    last_room_list: Timestamp,
    /// Bumped on every change the screen should see.
    pub version: u64,
}

/// A run of consecutive messages from one sender, shown under one header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub sender: String,
    pub ts: Timestamp,
    pub mine: bool,
    pub lines: Vec<Line>,
}

/// One message as the message list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Stable key: the server id, or the client id while pending.
    pub key: String,
    pub text: String,
    pub ts: Timestamp,
    pub status: LineStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineStatus {
    Delivered,
    Pending {
        client_id: ClientMsgId,
    },
    Failed {
        client_id: ClientMsgId,
        reason: String,
    },
}

/// Reconnect delay for the `attempt`-th try (from 1): exponential, capped, with "equal jitter"
/// (half fixed, half random, `rand01` in [0, 1)) so clients dropped together do not return
/// together.
pub fn backoff_ms(attempt: u32, rand01: f64) -> u32 {
    let exp = attempt.saturating_sub(1).min(16);
    let base = RECONNECT_BASE_MS
        .saturating_mul(1 << exp)
        .min(RECONNECT_MAX_MS);
    let half = base / 2;
    half + (f64::from(half) * rand01.clamp(0.0, 1.0)) as u32
}

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

/// Describes a close that ends the session, for the login form.
fn close_message(code: u16, reason: &str) -> String {
    let what = match CloseReason::from_code(code) {
        Some(CloseReason::Normal) => "The server ended the session.",
        Some(CloseReason::NickTaken) => "That nickname is in use.",
        Some(CloseReason::InvalidNick) => "That nickname is not valid.",
        Some(CloseReason::Replaced) => "This session was opened somewhere else.",
        Some(CloseReason::PolicyViolation) => "Disconnected for sending too fast.",
        Some(CloseReason::MessageTooBig) => "Disconnected: a message was too big.",
        Some(CloseReason::UnsupportedProtocol) => "This page is out of date: reload it.",
        _ => "",
    };
    match (what.is_empty(), reason.is_empty()) {
        (false, _) => what.to_string(),
        (true, false) => format!("Disconnected ({code}: {reason})."),
        (true, true) => format!("Disconnected ({code})."),
    }
}

impl ChatState {
    /// A fresh state. `seed` feeds jitter and client ids (`Math.random()` in the browser).
    pub fn new(seed: u64, now: Timestamp) -> Self {
        let mut state = Self {
            nick: None,
            welcomed: false,
            connection: Connection::Offline,
            login_error: None,
            notice: None,
            limits: None,
            default_room: RoomName::new(DEFAULT_ROOM).unwrap_or_else(|_| unreachable!()),
            rooms: BTreeMap::new(),
            directs: BTreeMap::new(),
            directory: Vec::new(),
            active: None,
            pending: Vec::new(),
            now,
            resume_token: None,
            epoch: None,
            fatal: false,
            session: String::new(),
            next_seq: 1,
            rng: seed | 1,
            last_typing: BTreeMap::new(),
            last_room_list: now,
            version: 0,
        };
        // Time plus randomness: unique across reloads and across tabs.
        state.session = format!("c{:x}{:06x}", now.max(0), state.random_u64() & 0xff_ffff);
        state
    }

    /// xorshift64*: plenty for jitter and id suffixes.
    fn random_u64(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn random01(&mut self) -> f64 {
        (self.random_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next_client_id(&mut self) -> ClientMsgId {
        let id = format!("{}-{}", self.session, self.next_seq);
        self.next_seq += 1;
        ClientMsgId::new(id).unwrap_or_else(|_| unreachable!("hex and digits are printable"))
    }

    pub fn is_online(&self) -> bool {
        self.connection == Connection::Online
    }

    /// The chat view (rather than the login form) is on screen.
    pub fn in_chat(&self) -> bool {
        self.welcomed && self.connection != Connection::Offline
    }

    /// Seconds left before the next reconnect attempt, rounded up.
    pub fn retry_in_secs(&self) -> Option<i64> {
        match self.connection {
            Connection::Reconnecting { retry_at, .. } => {
                Some(((retry_at - self.now).max(0) + 999) / 1000)
            }
            _ => None,
        }
    }

    fn page(&self) -> u32 {
        self.limits
            .as_ref()
            .map_or(DEFAULT_PAGE, |l| l.history_page.max(1))
    }

    fn is_me(&self, nick: &Nickname) -> bool {
        self.nick.as_ref() == Some(nick)
    }

    pub fn active_room(&self) -> Option<&Room> {
        match &self.active {
            Some(Target::Room(name)) => self.rooms.get(name).map(|r| &**r),
            _ => None,
        }
    }

    /// Nicknames typing in the active room, except us.
    pub fn typing_names(&self) -> Vec<String> {
        self.active_room().map_or_else(Vec::new, |room| {
            room.typing
                .iter()
                .filter(|(_, until)| **until > self.now)
                .map(|(nick, _)| nick.to_string())
                .collect()
        })
    }

    /// The active conversation as the message list shows it: delivered messages grouped by
    /// sender, then our pending ones.
    pub fn groups(&self) -> Vec<Group> {
        let me = self.nick.as_ref().map(|n| n.as_str()).unwrap_or_default();
        let mut delivered: Vec<(String, Line)> = Vec::new();
        match &self.active {
            Some(Target::Room(name)) => {
                if let Some(room) = self.rooms.get(name) {
                    for m in &room.messages {
                        delivered.push((m.sender.to_string(), delivered_line(m.id, &m.text, m.ts)));
                    }
                }
            }
            Some(Target::Direct(peer)) => {
                if let Some(thread) = self.directs.get(peer) {
                    for m in &thread.messages {
                        delivered.push((m.from.to_string(), delivered_line(m.id, &m.text, m.ts)));
                    }
                }
            }
            None => {}
        }
        for p in self
            .pending
            .iter()
            .filter(|p| Some(&p.target) == self.active.as_ref())
        {
            let status = match &p.failed {
                None => LineStatus::Pending {
                    client_id: p.client_id.clone(),
                },
                Some(reason) => LineStatus::Failed {
                    client_id: p.client_id.clone(),
                    reason: reason.clone(),
                },
            };
            let line = Line {
                key: p.client_id.to_string(),
                text: p.text.to_string(),
                ts: self.now,
                status,
            };
            delivered.push((me.to_string(), line));
        }
        group_lines(delivered, me)
    }

    /// Applies one action and returns what the session service must do.
    pub fn apply(&mut self, action: Action, now: Timestamp) -> Vec<Effect> {
        let before = self.now;
        self.now = now;
        let mut fx = Vec::new();
        let changed = match action {
            Action::Connect { nick } => self.connect(&nick, &mut fx),
            Action::Disconnect => {
                self.connection = Connection::Offline;
                self.welcomed = false;
                self.mark_disconnected();
                fx.push(Effect::CancelReconnect);
                fx.push(Effect::Close);
                true
            }
            Action::Select(target) => self.select(target),
            Action::Join(name) => self.join(&name, &mut fx),
            Action::Leave(name) => self.leave(name, &mut fx),
            Action::Send(text) => self.send(&text, &mut fx),
            Action::Retry(client_id) => self.retry(&client_id, &mut fx),
            Action::Discard(client_id) => {
                self.pending.retain(|p| p.client_id != client_id);
                true
            }
            Action::Typing => {
                self.typing(&mut fx);
                false
            }
            Action::LoadOlder => self.load_older(&mut fx),
            Action::RefreshRooms => {
                if self.is_online() {
                    fx.push(Effect::Send(ClientMessage::ListRooms));
                }
                false
            }
            Action::RetryNow | Action::ReconnectDue => self.retry_connect(&mut fx),
            Action::DismissNotice => self.notice.take().is_some(),
            Action::Opened => {
                if let (Connection::Connecting { .. }, Some(nick)) = (&self.connection, &self.nick)
                {
                    fx.push(Effect::Send(ClientMessage::Hello {
                        nick: nick.clone(),
                        protocol: PROTOCOL_VERSION,
                        resume_token: self.resume_token.clone(),
                    }));
                }
                false
            }
            Action::Received(text) => match serde_json::from_str::<ServerMessage>(&text) {
                Ok(msg) => self.receive(msg, &mut fx),
                // A frame this client cannot read (a newer server?) is skipped, not fatal.
                Err(_) => false,
            },
            Action::Closed { code, reason } => self.closed(code, &reason, &mut fx),
            Action::Tick => self.tick(before, &mut fx),
        };
        if changed {
            self.version += 1;
        }
        if fx
            .iter()
            .any(|e| matches!(e, Effect::Send(ClientMessage::ListRooms)))
        {
            self.last_room_list = now;
        }
        fx
    }

    fn connect(&mut self, raw: &str, fx: &mut Vec<Effect>) -> bool {
        if matches!(
            self.connection,
            Connection::Connecting { .. } | Connection::Online
        ) {
            return false;
        }
        let nick = match Nickname::new(raw.trim()) {
            Ok(nick) => nick,
            Err(err) => {
                self.login_error = Some(capitalize(&err.to_string()));
                return true;
            }
        };
        if self.nick.as_ref() != Some(&nick) {
            // Another user on this page: nothing of the previous one carries over.
            let (seed, now, seq, session) = (
                self.random_u64(),
                self.now,
                self.next_seq,
                self.session.clone(),
            );
            *self = ChatState::new(seed, now);
            self.next_seq = seq;
            self.session = session;
            self.nick = Some(nick);
        }
        self.login_error = None;
        self.notice = None;
        self.fatal = false;
        self.welcomed = false;
        self.connection = Connection::Connecting { attempt: 0 };
        fx.push(Effect::CancelReconnect);
        fx.push(Effect::Open);
        true
    }

    fn retry_connect(&mut self, fx: &mut Vec<Effect>) -> bool {
        let Connection::Reconnecting { attempt, .. } = self.connection else {
            return false;
        };
        self.connection = Connection::Connecting { attempt };
        fx.push(Effect::CancelReconnect);
        fx.push(Effect::Open);
        true
    }

    /// Forget what only the closed connection knew; keep messages, rooms and the outbox.
    fn mark_disconnected(&mut self) {
        for room in self.rooms.values_mut() {
            if room.joined || !room.typing.is_empty() || room.paging != Paging::Idle {
                let room = Rc::make_mut(room);
                room.joined = false;
                room.typing.clear();
                room.paging = Paging::Idle;
            }
        }
    }

    fn closed(&mut self, code: u16, reason: &str, fx: &mut Vec<Effect>) -> bool {
        if matches!(
            self.connection,
            Connection::Offline | Connection::Reconnecting { .. }
        ) {
            return false;
        }
        self.mark_disconnected();
        let first_try = !self.welcomed;
        if self.fatal || !CloseReason::code_allows_reconnect(code) || (first_try && code == 1006) {
            self.connection = Connection::Offline;
            self.welcomed = false;
            if self.login_error.is_none() {
                self.login_error = Some(if first_try && code == 1006 {
                    "Could not reach the server.".to_string()
                } else {
                    close_message(code, reason)
                });
            }
            return true;
        }
        let attempt = match self.connection {
            Connection::Connecting { attempt } => attempt + 1,
            _ => 1,
        };
        let rand = self.random01();
        let delay_ms = backoff_ms(attempt, rand);
        self.connection = Connection::Reconnecting {
            attempt,
            retry_at: self.now + i64::from(delay_ms),
        };
        fx.push(Effect::ScheduleReconnect { delay_ms });
        true
    }

    fn tick(&mut self, before: Timestamp, fx: &mut Vec<Effect>) -> bool {
        let now = self.now;
        let mut changed = false;
        if self.is_online() && now - self.last_room_list >= ROOM_LIST_REFRESH_MS {
            fx.push(Effect::Send(ClientMessage::ListRooms));
        }
        for room in self.rooms.values_mut() {
            if room.typing.values().any(|until| *until <= now) {
                Rc::make_mut(room).typing.retain(|_, until| *until > now);
                changed = true;
            }
        }
        // The countdown shows whole seconds: repaint when the number changes.
        if let Connection::Reconnecting { retry_at, .. } = self.connection {
            changed |= (retry_at - before + 999) / 1000 != (retry_at - now + 999) / 1000;
        }
        changed
    }

    fn select(&mut self, target: Target) -> bool {
        match &target {
            Target::Room(name) => match self.rooms.get_mut(name) {
                Some(room) => {
                    if room.unread > 0 {
                        Rc::make_mut(room).unread = 0;
                    }
                }
                None => return false,
            },
            Target::Direct(peer) => {
                let thread = self.directs.entry(peer.clone()).or_insert_with(|| {
                    Rc::new(DirectThread {
                        peer: peer.clone(),
                        messages: Vec::new(),
                        unread: 0,
                    })
                });
                if thread.unread > 0 {
                    Rc::make_mut(thread).unread = 0;
                }
            }
        }
        self.active = Some(target);
        true
    }

    fn join(&mut self, raw: &str, fx: &mut Vec<Effect>) -> bool {
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

    fn leave(&mut self, name: RoomName, fx: &mut Vec<Effect>) -> bool {
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

    fn send(&mut self, raw: &str, fx: &mut Vec<Effect>) -> bool {
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
        self.pending.push(pending);
        true
    }

    /// The frame that sends `p`, if it can go now (online, and the room joined); otherwise it
    /// waits in the outbox for the welcome or the join.
    fn send_frame(&self, p: &Pending) -> Option<ClientMessage> {
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

    fn retry(&mut self, client_id: &ClientMsgId, fx: &mut Vec<Effect>) -> bool {
        let Some(i) = self.pending.iter().position(|p| &p.client_id == client_id) else {
            return false;
        };
        self.pending[i].failed = None;
        if let Some(msg) = self.send_frame(&self.pending[i]) {
            fx.push(Effect::Send(msg));
        }
        true
    }

    fn typing(&mut self, fx: &mut Vec<Effect>) {
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

    fn load_older(&mut self, fx: &mut Vec<Effect>) -> bool {
        let page = self.page();
        let online = self.is_online();
        let Some(Target::Room(name)) = &self.active else {
            return false;
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

    fn receive(&mut self, msg: ServerMessage, fx: &mut Vec<Effect>) -> bool {
        match msg {
            ServerMessage::Welcome {
                nick,
                default_room,
                resume_token,
                epoch,
                limits,
                ..
            } => self.welcome(nick, default_room, resume_token, epoch, limits, fx),
            ServerMessage::Joined {
                room,
                members,
                history,
                has_more,
            } => self.joined(room, members, history, has_more, fx),
            ServerMessage::Left { room } => {
                // Usually removed already when the user clicked leave.
                self.rooms.remove(&room);
                if self.active == Some(Target::Room(room)) {
                    self.active = self.rooms.keys().next().cloned().map(Target::Room);
                }
                fx.push(Effect::Send(ClientMessage::ListRooms));
                true
            }
            ServerMessage::Rooms { rooms } => {
                self.directory = rooms;
                true
            }
            ServerMessage::Message(m) => self.message(m),
            ServerMessage::Direct(d) => self.direct(d),
            ServerMessage::Ack {
                client_id, id, ts, ..
            } => self.ack(&client_id, id, ts),
            ServerMessage::Presence { room, nick, state } => {
                let Some(room) = self.rooms.get_mut(&room) else {
                    return false;
                };
                let room = Rc::make_mut(room);
                match state {
                    PresenceState::Joined => {
                        room.members.insert(nick);
                    }
                    PresenceState::Left => {
                        room.typing.remove(&nick);
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
            ServerMessage::Error {
                code,
                message,
                client_id,
            } => {
                self.error(code, message, client_id);
                true
            }
        }
    }

    fn welcome(
        &mut self,
        nick: Nickname,
        default_room: RoomName,
        resume_token: String,
        epoch: String,
        limits: Limits,
        fx: &mut Vec<Effect>,
    ) -> bool {
        if self.epoch.as_deref().is_some_and(|e| e != epoch) {
            // The server's ids started over: keep the rooms, drop messages whose ids now
            // mean something else, and rejoin from the start.
            for room in self.rooms.values_mut() {
                let room = Rc::make_mut(room);
                room.messages.clear();
                room.has_older = false;
                room.unread = 0;
            }
            for thread in self.directs.values_mut() {
                Rc::make_mut(thread).messages.clear();
            }
            self.notice = Some(
                "The server's history was reset; earlier messages are no longer shown.".into(),
            );
        }
        self.epoch = Some(epoch);
        self.nick = Some(nick);
        self.welcomed = true;
        self.connection = Connection::Online;
        self.login_error = None;
        self.resume_token = Some(resume_token);
        self.limits = Some(limits);
        self.default_room = default_room.clone();
        if self.rooms.is_empty() {
            self.rooms.insert(
                default_room.clone(),
                Rc::new(Room::new(default_room.clone())),
            );
        }
        if self.active.is_none() {
            self.active = Some(Target::Room(default_room));
        }
        // Rejoin every room, asking only for what we missed; room sends wait for the joins.
        for (name, room) in self.rooms.iter_mut() {
            let after = room.last_id();
            Rc::make_mut(room).paging = if after.is_some() {
                Paging::Resume
            } else {
                Paging::Idle
            };
            fx.push(Effect::Send(ClientMessage::Join {
                room: name.clone(),
                after,
            }));
        }
        fx.push(Effect::Send(ClientMessage::ListRooms));
        for p in self.pending.iter_mut() {
            p.failed = None;
        }
        for p in &self.pending {
            if let Target::Direct(_) = p.target {
                fx.extend(self.send_frame(p).map(Effect::Send));
            }
        }
        true
    }

    fn joined(
        &mut self,
        name: RoomName,
        members: Vec<Nickname>,
        history: Vec<ChatMessage>,
        has_more: bool,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let page = self.page();
        let first_join = !self.rooms.contains_key(&name);
        let room = Rc::make_mut(
            self.rooms
                .entry(name.clone())
                .or_insert_with(|| Rc::new(Room::new(name.clone()))),
        );
        room.members = members.into_iter().collect();
        room.joined = true;
        for m in history.into_iter().filter(|m| m.room == name) {
            insert_by_id(&mut room.messages, m, |m| m.id);
        }
        if trim_oldest(&mut room.messages) {
            room.has_older = true;
        }
        if room.paging == Paging::Resume {
            if has_more {
                // More was missed than one page holds: keep paging forward.
                fx.push(Effect::Send(ClientMessage::History {
                    room: name.clone(),
                    before: None,
                    after: room.last_id(),
                    limit: Some(page),
                }));
            } else {
                room.paging = Paging::Idle;
            }
        } else {
            room.has_older = has_more;
            room.paging = Paging::Idle;
        }
        if first_join && self.active.is_none() {
            self.active = Some(Target::Room(name.clone()));
        }
        let target = Target::Room(name);
        for p in self
            .pending
            .iter()
            .filter(|p| p.target == target && p.failed.is_none())
        {
            fx.extend(self.send_frame(p).map(Effect::Send));
        }
        fx.push(Effect::Send(ClientMessage::ListRooms));
        true
    }

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
        let got_any = !messages.is_empty();
        for m in messages.into_iter().filter(|m| m.room == name) {
            insert_by_id(&mut room.messages, m, |m| m.id);
        }
        match room.paging {
            Paging::Resume => {
                if has_more && got_any {
                    fx.push(Effect::Send(ClientMessage::History {
                        room: name,
                        before: None,
                        after: room.last_id(),
                        limit: Some(page),
                    }));
                } else {
                    room.paging = Paging::Idle;
                }
                if trim_oldest(&mut room.messages) {
                    room.has_older = true;
                }
            }
            Paging::Older | Paging::Idle => {
                // Pages the user asked for are kept even past the cap.
                room.has_older = has_more;
                room.paging = Paging::Idle;
            }
        }
        true
    }

    fn message(&mut self, m: ChatMessage) -> bool {
        let mine = self.is_me(&m.sender);
        let active = self.active.as_ref() == Some(&Target::Room(m.room.clone()));
        let Some(room) = self.rooms.get_mut(&m.room) else {
            return false;
        };
        let room = Rc::make_mut(room);
        room.typing.remove(&m.sender);
        if !insert_by_id(&mut room.messages, m, |m| m.id) {
            return false;
        }
        if trim_oldest(&mut room.messages) {
            room.has_older = true;
        }
        if !mine && !active {
            room.unread += 1;
        }
        true
    }

    fn direct(&mut self, d: DirectMessage) -> bool {
        let mine = self.is_me(&d.from);
        let peer = if mine { d.to.clone() } else { d.from.clone() };
        let active = self.active.as_ref() == Some(&Target::Direct(peer.clone()));
        let thread = Rc::make_mut(self.directs.entry(peer.clone()).or_insert_with(|| {
            Rc::new(DirectThread {
                peer,
                messages: Vec::new(),
                unread: 0,
            })
        }));
        if !insert_by_id(&mut thread.messages, d, |m| m.id) {
            return false;
        }
        trim_oldest(&mut thread.messages);
        if !mine && !active {
            thread.unread += 1;
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
                    };
                    insert_by_id(&mut Rc::make_mut(r).messages, msg, |m| m.id);
                }
            }
            Target::Direct(peer) => {
                let thread = Rc::make_mut(self.directs.entry(peer.clone()).or_insert_with(|| {
                    Rc::new(DirectThread {
                        peer: peer.clone(),
                        messages: Vec::new(),
                        unread: 0,
                    })
                }));
                let msg = DirectMessage {
                    id,
                    from: me,
                    to: peer,
                    text: p.text,
                    ts,
                };
                insert_by_id(&mut thread.messages, msg, |m| m.id);
            }
        }
        true
    }

    fn error(&mut self, code: ErrorCode, message: String, client_id: Option<ClientMsgId>) {
        match code {
            // The server closes right after these; reconnecting would get the same answer.
            ErrorCode::NickTaken | ErrorCode::InvalidNick | ErrorCode::UnsupportedProtocol => {
                self.fatal = true;
                self.login_error = Some(message);
                return;
            }
            _ => {}
        }
        if let Some(client_id) = client_id {
            if let Some(p) = self.pending.iter_mut().find(|p| p.client_id == client_id) {
                p.failed = Some(message);
                return;
            }
        }
        self.notice = Some(message);
    }
}

fn delivered_line(id: MessageId, text: &MessageText, ts: Timestamp) -> Line {
    Line {
        key: id.to_string(),
        text: text.to_string(),
        ts,
        status: LineStatus::Delivered,
    }
}

/// Groups consecutive lines of one sender that are less than [`GROUP_GAP_MS`] apart.
pub fn group_lines(lines: Vec<(String, Line)>, me: &str) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for (sender, line) in lines {
        match groups.last_mut() {
            Some(g)
                if g.sender == sender
                    && g.lines
                        .last()
                        .is_some_and(|l| line.ts - l.ts < GROUP_GAP_MS) =>
            {
                g.lines.push(line);
            }
            _ => groups.push(Group {
                mine: sender == me,
                sender,
                ts: line.ts,
                lines: vec![line],
            }),
        }
    }
    groups
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}
