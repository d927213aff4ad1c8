//! The hub's table of rooms and direct conversations in memory. A room enters on its first
//! join (or a direct conversation on its first message), with its ids continuing from the
//! store, and leaves once nobody is in it and nothing is on its way through it: when its last
//! member leaves, after each direct message, and in a sweep when the table is full. So what a
//! peer can grow here is bounded by what it holds (memberships, messages in flight), and
//! creating rooms is rate-limited per user and per address.

use super::access::Sanctions;
use super::room::{Room, RoomState};
use super::users::Peer;
use super::Hub;
use crate::error::RequestError;
use crate::limits::{Buckets, IpKey};
use crate::nick_key::NickKey;
use crate::util::lock;
use std::sync::{Arc, Mutex};

/// Rate limits on creating rooms: a user, and an address (which may hold several users).
pub(super) struct Creations {
    users: Buckets<NickKey>,
    addresses: Buckets<IpKey>,
}

/// How many users' worth of room creations one address gets.
const ADDRESS_SHARE: u32 = 4;

impl Creations {
    /// `per_sec` rooms a second per user (0: no limit), in bursts of `burst` (enough for a
    /// client rejoining all its rooms after a restart); an address gets four times that.
    pub(super) fn new(per_sec: f64, burst: u32) -> Creations {
        let share = f64::from(ADDRESS_SHARE);
        Creations {
            users: Buckets::new(per_sec, burst),
            addresses: Buckets::new(per_sec * share, burst.saturating_mul(ADDRESS_SHARE)),
        }
    }
}

/// Who asks for a room that may not exist yet: a joining user, from an address.
pub struct Creator<'a> {
    pub peer: &'a Peer,
    pub addr: Option<IpKey>,
}

impl Hub {
    /// The room or direct conversation `key`, made (its ids continuing from the store) if
    /// it is not in memory. `creator` is the joining user, charged for a new room; a direct
    /// conversation has none. A full table is swept of idle rooms before a room is refused.
    pub(super) async fn room(
        &self,
        key: &str,
        creator: Option<Creator<'_>>,
    ) -> Result<Arc<Room>, RequestError> {
        if let Some(r) = self.existing_room(key) {
            return Ok(r);
        }
        if let Some(c) = &creator {
            let user_ok = self.creations.users.take(&[NickKey::of(&c.peer.nick)]);
            if !user_ok || !c.addr.is_none_or(|a| self.creations.addresses.take(&[a])) {
                return Err(RequestError::CreatingTooFast);
            }
        }
        // A direct conversation is not refused here: it is in memory only while one of its
        // messages is on its way, so what it holds is bounded by the sends in flight.
        if creator.is_some() && lock(&self.rooms).len() >= self.config.max_rooms {
            self.sweep_rooms();
            if lock(&self.rooms).len() >= self.config.max_rooms {
                return Err(RequestError::TooManyRooms(self.config.max_rooms));
            }
        }
        let last = self.store_call(self.history.last_id(key).await)?;
        let sanctions = match key.starts_with("dm:") {
            true => None,
            false => Sanctions::from_list(self.load_sanctions(key).await?),
        };
        let mut rooms = lock(&self.rooms);
        let room = rooms.entry(key.to_string()).or_insert_with(|| {
            self.metrics.rooms_open.inc();
            Arc::new_cyclic(|me| Room {
                key: key.to_string(),
                state: Mutex::new(RoomState {
                    assigned: last,
                    settled: last,
                    job: Some((me.clone(), self.flusher.clone())),
                    sanctions,
                    ..Default::default()
                }),
                cycle: Mutex::default(),
            })
        });
        Ok(room.clone())
    }

    pub(super) fn existing_room(&self, key: &str) -> Option<Arc<Room>> {
        lock(&self.rooms).get(key).cloned()
    }

    /// Takes `room` out of memory if nobody is in it and nothing is on its way through it.
    /// It is marked closed first, under its own lock, so whoever still holds it looks it up
    /// again (and gets a new one, its ids continuing from the store) instead of using it.
    pub(super) fn release_if_idle(&self, room: &Arc<Room>) -> bool {
        {
            let mut st = lock(&room.state);
            if st.closed || !st.is_idle() {
                return false;
            }
            st.closed = true;
        }
        let mut rooms = lock(&self.rooms);
        if rooms.get(&room.key).is_some_and(|r| Arc::ptr_eq(r, room)) {
            rooms.remove(&room.key);
            self.metrics.rooms_open.dec();
        }
        true
    }

    /// Releases every idle room (the table is full). The table's lock is not held while a
    /// room's is taken.
    fn sweep_rooms(&self) {
        let all: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        for room in &all {
            self.release_if_idle(room);
        }
    }

    /// Rooms and direct conversations in memory.
    #[cfg(test)]
    pub(crate) fn rooms_held(&self) -> usize {
        lock(&self.rooms).len()
    }
}
