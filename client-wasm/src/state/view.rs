//! What the screen shows: which conversation is open (opening one clears its unread count),
//! the message list as groups of lines, who is typing, and the reconnect countdown.

use super::rewrite::{mentions_me, Msg};
use super::{ChatState, Connection, DirectThread, Room, Target};
use shared::{ClientMsgId, MessageId, Timestamp};
use std::rc::Rc;

/// Consecutive messages of one sender closer than this share one header.
pub const GROUP_GAP_MS: i64 = 5 * 60 * 1000;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The calendar day of `ts` in UTC, as a day number. The browser passes its local day instead
/// (see `components::time::local_day`).
pub fn utc_day(ts: Timestamp) -> i64 {
    ts.div_euclid(DAY_MS)
}

/// A run of consecutive messages from one sender, shown under one header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub sender: String,
    pub ts: Timestamp,
    pub mine: bool,
    /// The sender had no account (as its first message here says).
    pub guest: bool,
    /// System lines (moderation), not messages: no sender.
    pub system: bool,
    /// The first group of its local day: a date divider goes above it.
    pub day_break: bool,
    /// The "new messages" divider goes above it: its first line is the first unread.
    pub new_break: bool,
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
    pub flags: LineFlags,
}

/// What a delivered message shows beyond its text, and what the user may do with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFlags {
    pub id: Option<MessageId>,
    pub edited: bool,
    pub deleted: bool,
    /// It mentions us.
    pub mention: bool,
    pub can_edit: bool,
    pub can_delete: bool,
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
    /// A moderation line ("alice banned bob").
    System,
}

impl ChatState {
    /// Opens a conversation; a direct thread is created on first use.
    pub(super) fn select(&mut self, target: Target) -> bool {
        match &target {
            Target::Room(name) if !self.rooms.contains_key(name) => return false,
            Target::Room(_) => {}
            Target::Direct(peer) => {
                self.directs
                    .entry(peer.clone())
                    .or_insert_with(|| Rc::new(DirectThread::new(peer.clone())));
            }
        }
        // Before the unread count is cleared: it says where the unread messages start.
        self.capture_divider(&target);
        match &target {
            Target::Room(name) => {
                if let Some(r) = self
                    .rooms
                    .get_mut(name)
                    .filter(|r| r.unread > 0 || r.read.mentions > 0)
                {
                    let r = Rc::make_mut(r);
                    (r.unread, r.read.mentions) = (0, 0);
                }
            }
            Target::Direct(peer) => {
                if let Some(t) = self
                    .directs
                    .get_mut(peer)
                    .filter(|t| t.unread > 0 || t.read.mentions > 0)
                {
                    let t = Rc::make_mut(t);
                    (t.unread, t.read.mentions) = (0, 0);
                }
            }
        }
        self.active = Some(target);
        true
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

    /// [`groups_by_day`](Self::groups_by_day) with days in UTC.
    pub fn groups(&self) -> Vec<Group> {
        self.groups_by_day(utc_day)
    }

    /// The active conversation as the message list shows it: delivered messages grouped by
    /// sender, then our pending ones. `day` gives the calendar day of a time (local, in the
    /// browser): a group never spans two days, and the first of each day says so.
    pub fn groups_by_day(&self, day: impl Fn(Timestamp) -> i64) -> Vec<Group> {
        let me = self.nick.as_ref().map(|n| n.as_str()).unwrap_or_default();
        let mut delivered: Vec<(String, Line)> = Vec::new();
        // Messages whose sender was a guest, by id (ascending, as held).
        let mut guests = Vec::new();
        let signed_in = !self.guest;
        match &self.active {
            Some(Target::Room(name)) => {
                if let Some(room) = self.rooms.get(name) {
                    let moderator = self.can_moderate(room);
                    let mut notes = room.notes.iter().enumerate().peekable();
                    let mut note_lines =
                        |upto: Option<MessageId>, out: &mut Vec<(String, Line)>| {
                            while let Some((i, n)) = notes.next_if(|(_, n)| n.after <= upto) {
                                out.push((String::new(), system_line(i, &n.text, n.ts)));
                            }
                        };
                    note_lines(None, &mut delivered);
                    for m in &room.messages {
                        if m.guest {
                            guests.push(m.id);
                        }
                        let mine = self.is_me(&m.sender);
                        let line = self.delivered_line(
                            m,
                            signed_in && mine,
                            signed_in && (mine || moderator),
                        );
                        delivered.push((m.sender.to_string(), line));
                        note_lines(Some(m.id), &mut delivered);
                    }
                    note_lines(Some(MessageId::MAX), &mut delivered);
                }
            }
            Some(Target::Direct(peer)) => {
                if let Some(thread) = self.directs.get(peer) {
                    for m in &thread.messages {
                        if m.guest {
                            guests.push(m.id);
                        }
                        let mine = signed_in && self.is_me(&m.from);
                        delivered.push((m.from.to_string(), self.delivered_line(m, mine, mine)));
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
                flags: LineFlags::default(),
            };
            delivered.push((me.to_string(), line));
        }
        let mut groups = group_lines(delivered, me, day, self.new_divider());
        for g in &mut groups {
            // A pending line is ours: a guest's if we are one.
            g.guest = g.lines.first().is_some_and(|l| match l.flags.id {
                Some(id) => guests.binary_search(&id).is_ok(),
                None => {
                    self.guest
                        && matches!(
                            l.status,
                            LineStatus::Pending { .. } | LineStatus::Failed { .. }
                        )
                }
            });
            g.system = g
                .lines
                .first()
                .is_some_and(|l| l.status == LineStatus::System);
        }
        groups
    }

    fn delivered_line<T: Msg>(&self, m: &T, can_edit: bool, can_delete: bool) -> Line {
        let deleted = m.deleted();
        Line {
            key: m.id().to_string(),
            text: if deleted {
                "message deleted".into()
            } else {
                m.text().to_string()
            },
            ts: m.ts(),
            status: LineStatus::Delivered,
            flags: LineFlags {
                id: Some(m.id()),
                edited: m.edited() && !deleted,
                deleted,
                mention: !deleted && mentions_me(m, self.nick.as_ref()),
                can_edit: can_edit && !deleted,
                can_delete: can_delete && !deleted,
            },
        }
    }
}

fn system_line(n: usize, text: &str, ts: Timestamp) -> Line {
    Line {
        key: format!("note-{n}"),
        text: text.to_string(),
        ts,
        status: LineStatus::System,
        flags: LineFlags::default(),
    }
}

/// Groups consecutive lines of one sender that are less than [`GROUP_GAP_MS`] apart and on the
/// same `day`. The line of message `new_from` starts a group marked as the first unread.
pub fn group_lines(
    lines: Vec<(String, Line)>,
    me: &str,
    day: impl Fn(Timestamp) -> i64,
    new_from: Option<MessageId>,
) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut last_day = None;
    for (sender, line) in lines {
        let today = day(line.ts);
        let day_break = last_day != Some(today);
        let new_break = new_from.is_some() && line.flags.id == new_from;
        last_day = Some(today);
        match groups.last_mut() {
            Some(g)
                if !day_break
                    && !new_break
                    && g.sender == sender
                    && g.lines
                        .last()
                        .is_some_and(|l| line.ts - l.ts < GROUP_GAP_MS) =>
            {
                g.lines.push(line);
            }
            _ => groups.push(Group {
                mine: sender == me,
                guest: false,
                system: false,
                day_break,
                new_break,
                sender,
                ts: line.ts,
                lines: vec![line],
            }),
        }
    }
    groups
}
