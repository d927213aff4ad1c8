//! A room (or a direct conversation): its members, its order and its fan-out.
//!
//! Locks: a room's `cycle` (the flusher's side) is locked before its `state` when both are;
//! neither is held across an `.await`.

mod fanout;
mod order;

pub(crate) use order::{Delivery, Drain, PendingId, Targets};

use super::broadcast::Fanout;
use super::joined::Listing;
use super::users::Peer;
use crate::outbound::{ConnId, Flusher};
use fanout::{Cycle, HashedNick, Post, Recipient, Skip};
use shared::{CloseReason, MessageId, Nickname};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

pub(crate) struct Member {
    pub(crate) peer: Peer,
    /// While a join's history is being read, live messages wait here, so the client gets
    /// `joined` first and then exactly the messages after its history.
    pub(crate) joining: Option<Vec<Arc<Fanout>>>,
    /// Posts up to this one reached the member with its join (history or the buffer above).
    pub(crate) since: u64,
}

#[derive(Default)]
pub(crate) struct RoomState {
    /// Change only through `add_member` and `remove_member`, which keep `nicks` up to date.
    pub(crate) members: HashMap<ConnId, Member>,
    /// The members' nicknames, each with its number of connections in the room: whether a
    /// user is still here after one of its connections leaves is one lookup, not a pass over
    /// a room of thousands.
    pub(crate) nicks: BTreeMap<Nickname, u32>,
    /// Highest id assigned.
    pub(crate) assigned: MessageId,
    /// Highest id settled (delivered, or failed to store) in order.
    pub(crate) settled: MessageId,
    /// Completed appends waiting for lower ids; `None` for a failed one.
    pub(crate) pending: BTreeMap<MessageId, Option<Delivery>>,
    /// A task is fetching a gap in the shared log's ids from history.
    pub(crate) filling: bool,
    /// Members still joining (their live messages are buffered, not posted to them); kept
    /// by the member methods below, like `nicks` and `targets`.
    pub(crate) joining: usize,
    /// Broadcasts for the flusher's next pass, in order.
    pub(crate) outbox: Vec<Post>,
    /// Sequence number of the last post.
    pub(crate) posted: u64,
    /// The room is handed to the flusher and has not run yet.
    pub(crate) flushing: bool,
    /// The members posts go to, kept in step with `members` (`None`: made anew when next
    /// needed; see `edit_targets`).
    pub(crate) targets: Option<Arc<Vec<Recipient>>>,
    /// The room itself and the flusher, to hand the room over when something is posted.
    pub(crate) job: Option<(Weak<Room>, Arc<Flusher>)>,
    /// The room left the hub's table (see `Hub::release_if_idle`): whoever still holds it
    /// looks it up again rather than assign ids or add members here.
    pub(crate) closed: bool,
    /// Bans and mutes in force, loaded with the room (`None`: none, nothing to check).
    pub(crate) sanctions: Option<Box<crate::hub::access::Sanctions>>,
    /// Above the presence limit: the member listing of recent joins, and when it was made
    /// (see `Hub::member_listing`).
    pub(crate) listing: Option<(std::time::Instant, Arc<Listing>)>,
}

impl RoomState {
    /// Nobody is in the room and nothing is on its way through it: it can leave memory, and
    /// come back later with its ids continuing from the store.
    pub(crate) fn is_idle(&self) -> bool {
        self.members.is_empty()
            && self.joining == 0
            && self.assigned == self.settled
            && self.pending.is_empty()
            && !self.filling
            && self.outbox.is_empty()
            && !self.flushing
    }

    pub(crate) fn add_member(&mut self, member: Member) {
        let (id, nick) = (member.peer.conn.id, member.peer.nick.clone());
        let joining = member.joining.is_some();
        if let Some(old) = self.members.insert(id, member) {
            self.forget_nick(&old.peer.nick);
            self.count_out(id, old.joining.is_some());
        }
        *self.nicks.entry(nick).or_insert(0) += 1;
        if joining {
            self.joining += 1;
        } else {
            self.target(id);
        }
    }

    pub(crate) fn remove_member(&mut self, id: ConnId) -> Option<Member> {
        let gone = self.members.remove(&id)?;
        self.forget_nick(&gone.peer.nick);
        self.count_out(id, gone.joining.is_some());
        Some(gone)
    }

    /// Member `id` reads its history (again): live posts wait in its buffer, and the flusher
    /// sends it nothing until `finish_joining`.
    pub(crate) fn start_joining(&mut self, id: ConnId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if m.joining.is_none() {
            m.joining = Some(Vec::new());
            self.joining += 1;
            self.untarget(id);
        }
    }

    /// Member `id`'s join is done: posts after `since` reach it from the flusher. What was
    /// buffered meanwhile, for the caller to send (`None`: it was not joining).
    pub(crate) fn finish_joining(&mut self, id: ConnId, since: u64) -> Option<Vec<Arc<Fanout>>> {
        let m = self.members.get_mut(&id)?;
        let buffered = m.joining.take()?;
        m.since = since;
        self.joining -= 1;
        self.target(id);
        Some(buffered)
    }

    /// A member that was joining, or in the flusher's list, is no longer.
    fn count_out(&mut self, id: ConnId, joining: bool) {
        if joining {
            self.joining -= 1;
        } else {
            self.untarget(id);
        }
    }

    /// Member `id` stops getting posts from the flusher (it left, or joins again).
    fn untarget(&mut self, id: ConnId) {
        self.edit_targets(|v| {
            if let Ok(i) = v.binary_search_by_key(&id, |r| r.id) {
                v.remove(i);
            }
        });
    }

    /// Member `id` gets posts from the flusher from now on (its join is done).
    fn target(&mut self, id: ConnId) {
        let Some(r) = self.members.get(&id).map(Recipient::of) else {
            return;
        };
        self.edit_targets(|v| {
            if let Err(i) = v.binary_search_by_key(&id, |r| r.id) {
                v.insert(i, r);
            }
        });
    }

    /// Edits the flusher's member list in place: one member coming or going costs a search
    /// and a move of the entries after it, not a new list of the whole room (a crowd leaving
    /// a 10k room while it is being sent to rebuilt the list at every step of the cycle).
    /// While the flusher holds the list, it is dropped and made anew when next needed.
    fn edit_targets(&mut self, edit: impl FnOnce(&mut Vec<Recipient>)) {
        if let Some(t) = &mut self.targets {
            match Arc::get_mut(t) {
                Some(v) => edit(v),
                None => self.targets = None,
            }
        }
    }

    pub(crate) fn forget_nick(&mut self, nick: &Nickname) {
        if let Some(n) = self.nicks.get_mut(nick) {
            *n -= 1;
            if *n == 0 {
                self.nicks.remove(nick);
            }
        }
    }

    /// Whether a member other than connection `except` goes by `nick`.
    pub(crate) fn has_nick(&self, nick: &Nickname, except: ConnId) -> bool {
        let mine = self
            .members
            .get(&except)
            .is_some_and(|m| m.peer.nick == *nick);
        self.nicks.get(nick).copied().unwrap_or(0) > u32::from(mine)
    }

    /// The first `limit` distinct nicknames of the members, in order.
    #[cfg(test)]
    pub(crate) fn nicks(&self, limit: usize) -> Vec<Nickname> {
        self.nicks.keys().take(limit).cloned().collect()
    }

    pub(crate) fn broadcast_except(
        &mut self,
        f: &Arc<Fanout>,
        except_nick: &Nickname,
        queue_cap: usize,
    ) {
        if self.joining > 0 {
            for m in self.members.values_mut() {
                if m.peer.nick != *except_nick {
                    m.buffer(f, queue_cap);
                }
            }
        }
        self.post(f.clone(), Skip::Nick(HashedNick::new(except_nick)));
    }

    /// Queues a broadcast for the flusher's next pass, and hands the room over if needed.
    pub(crate) fn post(&mut self, fanout: Arc<Fanout>, skip: Skip) {
        self.posted += 1;
        self.outbox.push(Post {
            seq: self.posted,
            fanout,
            skip,
        });
        if self.flushing {
            return;
        }
        if let Some((room, flusher)) = &self.job {
            if let Some(room) = room.upgrade() {
                self.flushing = true;
                let key = Arc::as_ptr(&room) as usize / std::mem::size_of::<Room>().max(1);
                flusher.schedule_job(key, room);
            }
        }
    }

    /// The members posts go to, in connection order (made anew only when it was dropped):
    /// sockets opened one after another sit near each other in memory (ours and the
    /// kernel's), so a pass over 10k members misses the caches less than in the member map's
    /// random order.
    pub(crate) fn targets(&mut self) -> Arc<Vec<Recipient>> {
        let members = &self.members;
        self.targets
            .get_or_insert_with(|| {
                let mut v: Vec<Recipient> = members
                    .values()
                    .filter(|m| m.joining.is_none())
                    .map(Recipient::of)
                    .collect();
                v.sort_unstable_by_key(|r| r.id);
                Arc::new(v)
            })
            .clone()
    }
}

impl Member {
    /// While joining: keeps a live event for after the history.
    pub(crate) fn buffer(&mut self, f: &Arc<Fanout>, queue_cap: usize) {
        match &mut self.joining {
            Some(_) if f.frame(self.peer.demo).is_none() => {}
            Some(buf) if buf.len() >= queue_cap => self.peer.conn.close(CloseReason::SlowConsumer),
            Some(buf) => buf.push(f.clone()),
            None => {}
        }
    }
}

/// A room, or a direct conversation: the unit of ordering.
pub struct Room {
    pub(crate) key: String,
    pub(crate) state: Mutex<RoomState>,
    /// The flusher's side of the fan-out; locked before `state` when both are.
    pub(crate) cycle: Mutex<Cycle>,
}
