//! Events from the broker: messages of the shared log, presence, typing, kicks. A message
//! arrives in id order; a jump in ids is a gap, filled from history first.

use super::broadcast::Fanout;
use super::room::{Delivery, Room};
use super::Hub;
use crate::auth::token;
use crate::broker::Event;
use crate::nick_key::NickKey;
use crate::store::{Meta, StoredMessage};
use crate::util::lock;
use shared::{
    CloseReason, MessageId, MessageText, Nickname, PresenceState, RoomName, ServerMessage,
};
use std::sync::Arc;

impl Hub {
    /// Handles one event from the broker: delivers to this node's members.
    pub(super) fn on_event(self: &Arc<Self>, ev: Event) {
        let cap = self.config.outbound_queue;
        match ev {
            Event::Message {
                ch,
                s,
                t,
                ts,
                to,
                a,
                g,
                f,
                m,
                id,
            } => {
                let text = if t.is_empty() {
                    Ok(MessageText::tombstone())
                } else {
                    MessageText::new(t)
                };
                let (Ok(sender), Ok(text)) = (Nickname::new(s), text) else {
                    return;
                };
                let stored = StoredMessage {
                    channel: ch,
                    id,
                    sender,
                    text,
                    ts,
                    client_id: None,
                    author: (a != 0).then_some(a),
                    meta: Meta::from_columns((g != 0).then_some(g), f, Some(&m)),
                };
                if !to.is_empty() {
                    let Ok(to) = Nickname::new(to) else { return };
                    self.deliver_direct(&stored, to);
                    return;
                }
                let Some(room) = self.existing_room(&stored.channel) else {
                    return;
                };
                let Some(message) = stored.to_chat() else {
                    return;
                };
                let delivery = Delivery::room(message);
                let gap = {
                    let mut st = lock(&room.state);
                    if id <= st.settled {
                        return;
                    }
                    st.assigned = st.assigned.max(id);
                    st.settle(id, Some(delivery), cap);
                    let gap = !st.pending.is_empty() && !st.filling;
                    if gap {
                        st.filling = true;
                    }
                    gap
                };
                if gap {
                    tokio::spawn(self.clone().fill_gap(room, 0));
                }
            }
            Event::Presence {
                room,
                nick,
                joined,
                g,
            } => {
                let (Ok(room_name), Ok(nick)) = (RoomName::new(room), Nickname::new(nick)) else {
                    return;
                };
                let Some(room) = self.existing_room(room_name.as_str()) else {
                    return;
                };
                let state = if joined {
                    PresenceState::Joined
                } else {
                    PresenceState::Left
                };
                let ev = Fanout::event(ServerMessage::Presence {
                    room: room_name,
                    nick: nick.clone(),
                    state,
                    guest: g,
                });
                let mut st = lock(&room.state);
                if st.members.len() <= self.config.presence_limit {
                    st.broadcast_except(&ev, &nick, cap);
                }
            }
            Event::Typing { room, nick } => {
                let (Ok(room_name), Ok(nick)) = (RoomName::new(room), Nickname::new(nick)) else {
                    return;
                };
                let Some(room) = self.existing_room(room_name.as_str()) else {
                    return;
                };
                let expires_in_ms = self.config.typing_ttl.as_millis().min(u32::MAX as u128) as u32;
                let ev = Fanout::event(ServerMessage::Typing {
                    room: room_name,
                    nick: nick.clone(),
                    expires_in_ms,
                });
                lock(&room.state).broadcast_except(&ev, &nick, cap);
            }
            Event::Kick { nick, node } => {
                if self.broker.node() == node {
                    if let Some(p) = Nickname::new(nick).ok().and_then(|n| self.user(&n)) {
                        p.conn.close(CloseReason::Replaced);
                    }
                }
            }
            Event::Revoke { a, s, keep } => {
                self.revoke(a, token::from_hex(&s), token::from_hex(&keep));
            }
            Event::ToUser { n, j } => {
                let Ok(nick) = Nickname::new(n) else { return };
                // A JSON text on the bus: sent as a WebSocket text frame.
                let frame = crate::outbound::text_frame(&j);
                for p in self.user_conns(&nick).iter().filter(|p| !p.demo) {
                    p.conn.push(frame.clone());
                }
            }
            Event::Moderated {
                room,
                nick,
                subj,
                action,
                by,
                until,
            } => self.on_moderated(room, nick, subj, action, by, until),
            Event::Beat { .. } => {}
        }
    }

    /// Delivers a direct message to this node's connections of both its users.
    fn deliver_direct(&self, stored: &StoredMessage, to: Nickname) {
        let sender = stored.sender.clone();
        let mut targets = vec![to.clone()];
        if NickKey::of(&sender) != NickKey::of(&to) {
            targets.push(sender);
        }
        let f = Fanout::event(ServerMessage::Direct(stored.to_direct(to)));
        for nick in targets {
            for p in self.user_conns(&nick) {
                p.deliver(&f);
            }
        }
    }

    /// Fetches the messages a room missed on the bus (ids are contiguous, so a jump is a gap)
    /// from the shared history, up to the first pending id or `target`, and delivers them in
    /// order. Ids trimmed from history before this node saw them are skipped.
    async fn fill_gap(self: Arc<Self>, room: Arc<Room>, target: MessageId) {
        let cap = self.config.outbound_queue;
        let Ok(name) = RoomName::new(room.key.as_str()) else {
            return;
        };
        loop {
            let (from, upto) = {
                let mut st = lock(&room.state);
                let before_pending = st.pending.keys().next().map_or(0, |f| f.saturating_sub(1));
                let upto = target.max(before_pending);
                if upto <= st.settled {
                    st.filling = false;
                    return;
                }
                (st.settled, upto)
            };
            let page = self.history.after(&room.key, from, upto, 1000).await;
            let mut st = lock(&room.state);
            match page {
                Ok(p) => {
                    let settled = st.settled;
                    for m in p.messages.iter().filter(|m| m.id > settled) {
                        st.settle(m.id, m.to_chat().map(Delivery::room), cap);
                    }
                    if !p.has_more && st.settled < upto {
                        tracing::warn!(room = %name, from = st.settled, upto, "messages no longer in history");
                        for id in st.settled + 1..=upto {
                            st.pending.entry(id).or_insert(None);
                        }
                        st.drain(cap);
                    }
                }
                Err(e) => {
                    tracing::warn!(cause = %e, "gap fill failed; the next message retries");
                    st.filling = false;
                    return;
                }
            }
        }
    }

    /// After the broker reconnects: catch every loaded room up with the shared history.
    pub(super) async fn catch_up(self: &Arc<Self>) {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        for room in rooms {
            if room.key.starts_with("dm:") {
                continue;
            }
            let Ok(last) = self.history.last_id(&room.key).await else {
                continue;
            };
            {
                let mut st = lock(&room.state);
                if last <= st.settled || st.filling {
                    continue;
                }
                st.filling = true;
            }
            tokio::spawn(self.clone().fill_gap(room, last));
        }
    }
}
