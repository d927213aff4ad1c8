//! Rooms with rules: creating one (public or invite-only), what owners and admins do to users
//! (`moderate`, from the room's admin panel or as slash commands in the composer), `moderated`
//! shown as system lines, and editing or deleting messages.

use super::model::{capitalize, Note};
use super::rewrite::{same_name, Msg};
use super::{ChatState, Effect, Room, Target};
use shared::{
    Action as Sanction, ClientMessage, MessageId, MessageText, Nickname, RoomName, Timestamp,
    FOREVER,
};
use std::rc::Rc;

pub const HOUR_SECS: u64 = 60 * 60;
pub const DAY_SECS: u64 = 24 * HOUR_SECS;

/// "90", "90s", "15m", "1h", "2d": a duration in seconds.
pub fn parse_secs(raw: &str) -> Option<u64> {
    let (digits, unit) = match raw.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&raw[..i], c.to_ascii_lowercase()),
        _ => (raw, 's'),
    };
    let n: u64 = digits.parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => HOUR_SECS,
        'd' => DAY_SECS,
        _ => return None,
    };
    n.checked_mul(mult).filter(|&s| s > 0)
}

/// "1 hour", "3 days": roughly how long `ms` is.
fn span(ms: i64) -> String {
    let mins = (ms.max(0) + 59_999) / 60_000;
    let (n, unit) = match mins {
        m if m >= 24 * 60 => ((m + 12 * 60) / (24 * 60), "day"),
        m if m >= 60 => ((m + 30) / 60, "hour"),
        m => (m, "minute"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// "alice banned bob for 1 hour".
pub fn describe(
    action: Sanction,
    nick: &str,
    by: &str,
    until: Option<Timestamp>,
    now: Timestamp,
) -> String {
    let verb = match action {
        Sanction::Invite => "invited",
        Sanction::Remove => "removed",
        Sanction::Transfer => return format!("{by} made {nick} the owner"),
        Sanction::Kick => "kicked",
        Sanction::Ban => "banned",
        Sanction::Unban => "unbanned",
        Sanction::Mute => "muted",
        Sanction::Unmute => "unmuted",
        Sanction::Disable => return format!("{by} disabled the account {nick}"),
    };
    match until.filter(|&u| u != FOREVER) {
        Some(u) => format!("{by} {verb} {nick} for {}", span(u - now)),
        None => format!("{by} {verb} {nick}"),
    }
}

impl ChatState {
    /// We may moderate `room`: its owner, or a server admin.
    pub fn can_moderate(&self, room: &Room) -> bool {
        !self.guest
            && (self.admin
                || room
                    .owner
                    .as_ref()
                    .is_some_and(|o| self.nick.as_ref().is_some_and(|me| same_name(o, me))))
    }

    /// Creates a room (invite-only or public); it opens once the server says we joined.
    pub(super) fn create_room(
        &mut self,
        raw: &str,
        invite_only: bool,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let room = match RoomName::new(raw.trim().trim_start_matches('#')) {
            Ok(name) => name,
            Err(err) => {
                self.notice = Some(capitalize(&err.to_string()));
                return true;
            }
        };
        if !self.is_online() {
            self.notice = Some("Not connected: try again once online.".into());
            return true;
        }
        self.creating = Some((room.clone(), invite_only));
        fx.push(Effect::Send(ClientMessage::CreateRoom {
            room,
            invite_only,
        }));
        false
    }

    /// An owner's or admin's action on `nick`, in the room on screen (or server-wide).
    pub(super) fn moderate(
        &mut self,
        room: Option<RoomName>,
        raw_nick: &str,
        action: Sanction,
        for_secs: Option<u64>,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let nick = match Nickname::new(raw_nick.trim().trim_start_matches('@')) {
            Ok(nick) => nick,
            Err(err) => {
                self.notice = Some(capitalize(&err.to_string()));
                return true;
            }
        };
        if !self.is_online() {
            return false;
        }
        fx.push(Effect::Send(ClientMessage::Moderate {
            room,
            nick,
            action,
            for_secs,
        }));
        false
    }

    /// A composer line starting with `/`: `/invite`, `/remove`, `/transfer`, `/kick`,
    /// `/unban`, `/unmute` take a name; `/ban` and `/mute` a name and an optional duration
    /// (`3600`, `15m`, `1h`, `1d`; none: for good). `//text` sends `/text`.
    pub(super) fn command(&mut self, line: &str, fx: &mut Vec<Effect>) -> Option<bool> {
        let rest = line.trim().strip_prefix('/')?;
        if rest.starts_with('/') {
            return None;
        }
        let mut words = rest.split_whitespace();
        let verb = words.next().unwrap_or_default().to_ascii_lowercase();
        let Some(action) = Sanction::ALL.iter().copied().find(|a| a.as_str() == verb) else {
            self.notice = Some(format!(
                "Unknown command /{verb}: try /invite, /remove, /transfer, /kick, /ban, /unban, /mute or /unmute (start with // to send a slash)."
            ));
            return Some(true);
        };
        let (Some(nick), duration, None) = (words.next(), words.next(), words.next()) else {
            self.notice = Some(format!(
                "Usage: /{verb} name{}",
                match action {
                    Sanction::Ban | Sanction::Mute => " [duration: 1h, 1d, …]",
                    _ => "",
                }
            ));
            return Some(true);
        };
        let for_secs = match duration {
            None => None,
            Some(d) => match parse_secs(d) {
                Some(secs) if matches!(action, Sanction::Ban | Sanction::Mute) => Some(secs),
                _ => {
                    self.notice = Some(format!("Not a duration: {d} (say 3600, 15m, 1h or 1d)."));
                    return Some(true);
                }
            },
        };
        let room = match &self.active {
            Some(Target::Room(r)) => Some(r.clone()),
            // Without a room only admins act, and only server-wide.
            _ if matches!(action, Sanction::Ban | Sanction::Disable) && self.admin => None,
            _ => {
                self.notice = Some(format!("/{verb} works in a room."));
                return Some(true);
            }
        };
        Some(self.moderate(room, nick, action, for_secs, fx))
    }

    /// `moderated`: a system line in the room, and what it means for us.
    pub(super) fn moderated(
        &mut self,
        room: Option<RoomName>,
        nick: Nickname,
        action: Sanction,
        by: Nickname,
        until: Option<Timestamp>,
        fx: &mut Vec<Effect>,
    ) -> bool {
        let text = describe(action, nick.as_str(), by.as_str(), until, self.now);
        let me = self.nick.as_ref().is_some_and(|me| same_name(me, &nick));
        let Some(name) = room else {
            self.notice = Some(capitalize(&text));
            return true;
        };
        if me {
            match action {
                Sanction::Kick | Sanction::Ban | Sanction::Remove => {
                    self.notice = Some(format!("{text} (#{name})."));
                }
                Sanction::Invite => {
                    self.notice = Some(format!(
                        "{by} invited you to #{name}: join it from the room list."
                    ));
                    self.ask_rooms(fx);
                }
                _ => {}
            }
        }
        let Some(room) = self.rooms.get_mut(&name) else {
            return me;
        };
        let room = Rc::make_mut(room);
        match action {
            Sanction::Transfer => room.owner = Some(nick),
            Sanction::Mute if me => room.muted_until = Some(until.unwrap_or(FOREVER)),
            Sanction::Unmute if me => room.muted_until = None,
            _ => {}
        }
        let after = room.last_id();
        let ts = self.now;
        room.notes.push(Note { after, text, ts });
        true
    }

    /// Where message `id` of the conversation on screen is, and whether it is ours.
    fn find_message(&self, id: MessageId) -> Option<(Target, bool, bool)> {
        let target = self.active.clone()?;
        let (mine, deleted) = match &target {
            Target::Room(r) => {
                let room = self.rooms.get(r)?;
                let m = room.messages.iter().find(|m| m.id == id)?;
                (self.is_me(Msg::sender(m)), m.deleted)
            }
            Target::Direct(p) => {
                let t = self.directs.get(p)?;
                let m = t.messages.iter().find(|m| m.id == id)?;
                (self.is_me(Msg::sender(m)), m.deleted)
            }
        };
        (!deleted).then_some((target, mine, deleted))
    }

    /// Edits our own message `id` in the conversation on screen (signed-in users).
    pub(super) fn edit(&mut self, id: MessageId, raw: &str, fx: &mut Vec<Effect>) -> bool {
        let Some((target, true, _)) = self.find_message(id) else {
            return false;
        };
        let text = match MessageText::new(raw.trim()) {
            Ok(text) => text,
            Err(err) => {
                self.notice = Some(capitalize(&err.to_string()));
                return true;
            }
        };
        if self.guest || !self.is_online() {
            return false;
        }
        let client_id = self.next_client_id();
        fx.push(Effect::Send(ClientMessage::Edit {
            conv: target.conversation(),
            id,
            text,
            client_id,
        }));
        false
    }

    /// Deletes message `id` in the conversation on screen: ours, or any in a room we moderate.
    pub(super) fn delete(&mut self, id: MessageId, fx: &mut Vec<Effect>) -> bool {
        let Some((target, mine, _)) = self.find_message(id) else {
            return false;
        };
        let allowed = mine
            || matches!(&target, Target::Room(r)
                if self.rooms.get(r).is_some_and(|room| self.can_moderate(room)));
        if self.guest || !allowed || !self.is_online() {
            return false;
        }
        let client_id = self.next_client_id();
        fx.push(Effect::Send(ClientMessage::Delete {
            conv: target.conversation(),
            id,
            client_id,
        }));
        false
    }
}
