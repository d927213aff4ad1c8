//! Who is in which room, and who sends: a fixed plan, the same for every server.

/// Rooms `r0`..`r{rooms-1}`; user `u`'s `k`-th room is `(u * mix + k * step) % rooms`, with
/// `step = rooms / per_user` (so a user's rooms differ) and `mix` a small prime coprime with
/// `rooms` (so neighbours by index share few rooms). With `users` a multiple of `rooms`, every
/// room has `users * per_user / rooms` members.
pub(crate) struct Plan {
    rooms: usize,
    per_user: usize,
    mix: usize,
    step: usize,
    /// Members of each room.
    members: Vec<u32>,
    /// One user in this many sends.
    every: usize,
}

impl Plan {
    /// `None` when a user cannot be in `per_user` different rooms, or nobody would send.
    pub(crate) fn new(
        users: usize,
        rooms: usize,
        per_user: usize,
        senders_pct: f64,
    ) -> Option<Plan> {
        if per_user == 0
            || rooms < per_user
            || users == 0
            || senders_pct.is_nan()
            || senders_pct <= 0.0
        {
            return None;
        }
        let mix = [7, 11, 13, 17, 19, 23, 29, 31]
            .into_iter()
            .find(|p| !rooms.is_multiple_of(*p))
            .unwrap_or(1);
        let every = ((100.0 / senders_pct).round() as usize).max(1);
        let mut plan = Plan {
            rooms,
            per_user,
            mix,
            step: rooms / per_user,
            members: vec![0; rooms],
            every,
        };
        for u in 0..users {
            for k in 0..per_user {
                let r = plan.room_of(u, k);
                plan.members[r] += 1;
            }
        }
        Some(plan)
    }

    /// User `user`'s `k`-th room (`k < per_user`), by index.
    pub(crate) fn room_of(&self, user: usize, k: usize) -> usize {
        (user % self.rooms * self.mix + k * self.step) % self.rooms
    }

    /// The names of `user`'s rooms.
    pub(crate) fn names(&self, user: usize) -> Vec<String> {
        (0..self.per_user)
            .map(|k| name(self.room_of(user, k)))
            .collect()
    }

    pub(crate) fn per_user(&self) -> usize {
        self.per_user
    }

    pub(crate) fn members(&self, room: usize) -> u32 {
        self.members[room]
    }

    /// The smallest and the largest room.
    pub(crate) fn member_range(&self) -> (u32, u32) {
        let min = self.members.iter().copied().min().unwrap_or(0);
        let max = self.members.iter().copied().max().unwrap_or(0);
        (min, max)
    }

    pub(crate) fn is_sender(&self, user: usize) -> bool {
        user.is_multiple_of(self.every)
    }
}

/// A room's name on the wire.
pub(crate) fn name(room: usize) -> String {
    format!("r{room}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_room_gets_the_same_share_and_a_user_five_different_rooms() {
        let plan = Plan::new(10_000, 1_000, 5, 1.0).expect("valid plan");
        assert_eq!(plan.member_range(), (50, 50));
        for u in [0, 1, 199, 200, 9_999] {
            let mut rooms: Vec<usize> = (0..5).map(|k| plan.room_of(u, k)).collect();
            rooms.sort_unstable();
            rooms.dedup();
            assert_eq!(rooms.len(), 5, "user {u}: {rooms:?}");
        }
        assert_eq!((0..10_000).filter(|&u| plan.is_sender(u)).count(), 100);
        // Neighbours by index share no room.
        let a = plan.names(0);
        assert!(plan.names(1).iter().all(|r| !a.contains(r)));
    }

    #[test]
    fn impossible_plans_are_refused() {
        assert!(Plan::new(100, 4, 5, 1.0).is_none());
        assert!(Plan::new(100, 10, 0, 1.0).is_none());
        assert!(Plan::new(100, 10, 2, 0.0).is_none());
    }
}
