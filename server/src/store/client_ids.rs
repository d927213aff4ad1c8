//! The idempotency window: the most recent client ids, by sender, and where each message went.
//!
//! Both stores keep it in memory. The SQLite store stores each message's client id with the
//! message and loads the newest `CLIENT_ID_WINDOW` back at startup, so a resend after a restart
//! still finds its original. Keeping the lookup out of a B-tree index matters: client ids are
//! random keys, and a unique index over them dirtied one index page per message in every group
//! commit.

use super::StoredAck;
use shared::{ClientMsgId, Nickname};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};

/// Client ids remembered for idempotency; older ones are forgotten first.
pub const CLIENT_ID_WINDOW: usize = 200_000;

type Key = (Nickname, ClientMsgId);

pub struct ClientIds {
    capacity: usize,
    acks: HashMap<Key, StoredAck>,
    order: VecDeque<Key>,
}

impl ClientIds {
    pub fn new(capacity: usize) -> Self {
        ClientIds {
            capacity: capacity.max(1),
            acks: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    #[cfg(test)]
    pub fn get(&self, sender: &Nickname, cid: &ClientMsgId) -> Option<&StoredAck> {
        self.acks.get(&(sender.clone(), cid.clone()))
    }

    /// The original ack of (sender, cid) if the window knows it; otherwise remembers `ack` as
    /// that original (forgetting the oldest entry beyond the window) and returns `None`.
    /// One lookup serves both the check and the insert.
    pub fn remember(
        &mut self,
        sender: Nickname,
        cid: ClientMsgId,
        ack: StoredAck,
    ) -> Option<StoredAck> {
        match self.acks.entry((sender, cid)) {
            Entry::Occupied(e) => return Some(e.get().clone()),
            Entry::Vacant(v) => {
                self.order.push_back(v.key().clone());
                v.insert(ack);
            }
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.acks.remove(&old);
            }
        }
        None
    }

    /// Remembers `ack` unless the id is already known (then `false`: the first ack is kept).
    pub fn insert(&mut self, sender: Nickname, cid: ClientMsgId, ack: StoredAck) -> bool {
        self.remember(sender, cid, ack).is_none()
    }

    /// Forgets the `n` newest entries (a group commit that failed after they were added).
    pub fn forget_newest(&mut self, n: usize) {
        for _ in 0..n {
            match self.order.pop_back() {
                Some(key) => {
                    self.acks.remove(&key);
                }
                None => break,
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str, c: &str) -> (Nickname, ClientMsgId) {
        (
            Nickname::new(s).expect("nick"),
            ClientMsgId::new(c).expect("cid"),
        )
    }

    fn ack(id: u64) -> StoredAck {
        StoredAck {
            channel: "general".into(),
            id,
            ts: 0,
        }
    }

    #[test]
    fn window_forgets_oldest_and_keeps_first_ack() {
        let mut ids = ClientIds::new(3);
        for (i, c) in ["a", "b", "c", "d"].iter().enumerate() {
            let (s, c) = key("x", c);
            ids.insert(s, c, ack(i as u64 + 1));
        }
        assert_eq!(ids.len(), 3);
        let (s, a) = key("x", "a");
        assert!(ids.get(&s, &a).is_none(), "the oldest is forgotten");
        let (s, b) = key("x", "b");
        assert_eq!(ids.get(&s, &b).map(|a| a.id), Some(2));
        assert!(!ids.insert(s.clone(), b.clone(), ack(99)));
        assert_eq!(ids.get(&s, &b).map(|a| a.id), Some(2), "first ack kept");
        let (other, b2) = key("y", "b");
        assert!(ids.get(&other, &b2).is_none(), "ids are per sender");

        ids.forget_newest(2);
        assert_eq!(ids.len(), 1);
        let (s, d) = key("x", "d");
        assert!(ids.get(&s, &d).is_none());
        assert_eq!(ids.get(&s, &b).map(|a| a.id), Some(2));
    }
}
