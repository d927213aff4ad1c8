//! The connection's life: connect and `hello`, the `welcome` that puts us online (rejoining every
//! room from the last message we hold), closes that end the chat or schedule a reconnect with
//! backoff, and the one-second tick.

use super::account::{account_close, Credentials};
use super::model::capitalize;
use super::{ChatState, Connection, Effect, Paging, Room, Target};
use shared::{ClientMessage, CloseReason, Limits, Nickname, RoomName, Timestamp};
use std::rc::Rc;

/// First reconnect delay before jitter; doubles per attempt.
pub const RECONNECT_BASE_MS: u32 = 500;
/// Longest reconnect delay before jitter.
pub const RECONNECT_MAX_MS: u32 = 30_000;
/// The room listing is refreshed this often while online (and on every join and leave).
pub const ROOM_LIST_REFRESH_MS: i64 = 30_000;

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

/// Why a close ended the chat, for the login form.
fn close_message(code: u16, reason: &str) -> String {
    let what = match CloseReason::from_code(code) {
        Some(CloseReason::Normal) => "The server ended the session.",
        Some(CloseReason::NickTaken) => "That nickname is in use.",
        Some(CloseReason::InvalidNick) => "That nickname is not valid.",
        Some(CloseReason::Replaced) => "This session was opened somewhere else.",
        Some(CloseReason::PolicyViolation) => "Disconnected for sending too fast.",
        Some(CloseReason::MessageTooBig) => "Disconnected: a message was too big.",
        Some(CloseReason::UnsupportedProtocol) => "This page is out of date: reload it.",
        _ => account_close(code).unwrap_or_default(),
    };
    match (what.is_empty(), reason.is_empty()) {
        (false, _) => what.to_string(),
        (true, false) => format!("Disconnected ({code}: {reason})."),
        (true, true) => format!("Disconnected ({code})."),
    }
}

impl ChatState {
    /// The login form's guest button: connect as `raw` without an account.
    pub(super) fn connect(&mut self, raw: &str, fx: &mut Vec<Effect>) -> bool {
        if matches!(
            self.connection,
            Connection::Connecting { .. } | Connection::Online
        ) {
            return false;
        }
        match Nickname::new(raw.trim()) {
            Ok(nick) => self.begin(Some(nick), Credentials::Guest, fx),
            Err(err) => {
                self.login_error = Some(capitalize(&err.to_string()));
                true
            }
        }
    }

    /// The user leaves on purpose: close, and do not come back on our own.
    pub(super) fn disconnect(&mut self, fx: &mut Vec<Effect>) -> bool {
        self.connection = Connection::Offline;
        self.welcomed = false;
        self.mark_disconnected();
        fx.push(Effect::CancelReconnect);
        fx.push(Effect::Close);
        true
    }

    /// The socket is open: say `hello` (a guest with the resume token of its last connection
    /// if any, a member with its credentials).
    pub(super) fn opened(&self, fx: &mut Vec<Effect>) {
        if let Connection::Connecting { .. } = self.connection {
            fx.extend(self.hello().map(Effect::Send));
        }
    }

    /// `welcome`: we are online. Rejoin every room; direct messages in the outbox go now, room
    /// messages once their room is joined.
    pub(super) fn welcome(
        &mut self,
        (nick, guest, session): (Nickname, bool, Option<String>),
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
                room.gap_after = None;
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
        self.welcomed_as(guest, session, fx);
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
            let room = Rc::make_mut(room);
            room.paging = if after.is_some() {
                Paging::Resume
            } else {
                Paging::Idle
            };
            room.caught_up = 0;
            room.resume_from = after;
            fx.push(Effect::Send(ClientMessage::Join {
                room: name.clone(),
                after,
            }));
        }
        self.ask_rooms(fx);
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

    /// The reconnect wait is over (or the user skipped it): open a new socket.
    pub(super) fn retry_connect(&mut self, fx: &mut Vec<Effect>) -> bool {
        let Connection::Reconnecting { attempt, .. } = self.connection else {
            return false;
        };
        self.connection = Connection::Connecting { attempt };
        fx.push(Effect::CancelReconnect);
        fx.push(Effect::Open);
        true
    }

    /// Forget what only the closed connection knew; keep messages, rooms and the outbox.
    pub(super) fn mark_disconnected(&mut self) {
        for room in self.rooms.values_mut() {
            if room.joined || !room.typing.is_empty() || room.paging != Paging::Idle {
                let room = Rc::make_mut(room);
                room.joined = false;
                room.typing.clear();
                room.paging = Paging::Idle;
            }
        }
    }

    /// The socket closed: back to the login form with the reason if reconnecting would not
    /// help, otherwise wait (with backoff) and try again.
    pub(super) fn closed(&mut self, code: u16, reason: &str, fx: &mut Vec<Effect>) -> bool {
        if matches!(
            self.connection,
            Connection::Offline | Connection::Reconnecting { .. }
        ) {
            return false;
        }
        self.mark_disconnected();
        if matches!(
            CloseReason::from_code(code),
            Some(CloseReason::AuthFailed | CloseReason::SignedOut)
        ) {
            self.drop_session(fx);
        }
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

    /// The one-second clock: refresh the room listing, expire typing indicators, repaint the
    /// reconnect countdown.
    pub(super) fn tick(&mut self, before: Timestamp, fx: &mut Vec<Effect>) -> bool {
        let now = self.now;
        let mut changed = false;
        if self.is_online() && now - self.last_room_list >= ROOM_LIST_REFRESH_MS {
            self.ask_rooms(fx);
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
}
