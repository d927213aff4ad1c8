//! [`Joined`]: the rooms a typed connection is in.

use shared::RoomName;
use tokio::time::Instant;

/// Rooms joined, each with the time of the last relayed typing event (throttle). A list, not
/// a hash map: a connection is in a few rooms (at most `--max-rooms-per-connection`), and a
/// map's smallest table is four times what one room takes, in every idle connection.
#[derive(Default)]
pub struct Joined(Vec<(RoomName, Option<Instant>)>);

impl Joined {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, room: &RoomName) -> bool {
        self.0.iter().any(|(r, _)| r == room)
    }

    /// The room's last typing event, if the connection is in it.
    pub fn typing_mut(&mut self, room: &RoomName) -> Option<&mut Option<Instant>> {
        self.0.iter_mut().find(|(r, _)| r == room).map(|(_, t)| t)
    }

    /// Adds `room` if it is not there yet.
    pub fn insert(&mut self, room: RoomName) {
        if self.contains(&room) {
            return;
        }
        // Grown by doubling from one: most connections stay in one room.
        if self.0.len() == self.0.capacity() {
            self.0.reserve_exact(self.0.len().max(1));
        }
        self.0.push((room, None));
    }

    /// Removes `room`; false if the connection was not in it.
    pub fn remove(&mut self, room: &RoomName) -> bool {
        let Some(i) = self.0.iter().position(|(r, _)| r == room) else {
            return false;
        };
        self.0.swap_remove(i);
        true
    }

    pub fn names(&self) -> impl Iterator<Item = &RoomName> {
        self.0.iter().map(|(r, _)| r)
    }
}
