//! The idempotency window: the most recent client ids, by sender, and what each was acked as.
//!
//! Both stores keep it in memory. The SQLite store stores each message's client id with the
//! message and loads the newest `CLIENT_ID_WINDOW` back at startup, so a resend after a restart
//! still finds its original. Keeping the lookup out of a B-tree index matters: client ids are
//! random keys, and a unique index over them dirtied one index page per message in every group
//! commit.
//!
//! Fair: each sender keeps at most `PER_SENDER` ids, so one that floods fresh ids pushes out
//! its own, never anyone else's; the window as a whole keeps the newest `CLIENT_ID_WINDOW`.
//! Small: an entry is a 128-bit keyed hash of (sender, client id) and the ack's id and time
//! (32 bytes, about 90 with the tables' overhead), not the strings. Two different pairs share
//! a hash with odds of about n² / 2¹²⁹, and the hash key is random per process, so nobody can
//! aim for a collision.

use super::StoredAck;
use shared::{ClientMsgId, Nickname};
use std::collections::hash_map::{Entry, HashMap};
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};

/// Client ids remembered for idempotency; older ones are forgotten first.
pub const CLIENT_ID_WINDOW: usize = 200_000;
/// Client ids remembered per sender: far more than a client holds unacknowledged.
pub const PER_SENDER: usize = 1_000;

/// (sender, client id), hashed.
type Key = u128;
/// A sender, hashed.
type Sender = u64;

pub struct ClientIds {
    capacity: usize,
    per_sender: usize,
    hash: [RandomState; 2],
    acks: HashMap<Key, StoredAck, Keyed>,
    /// Each sender's keys, oldest first.
    senders: HashMap<Sender, VecDeque<Key>, Keyed>,
    /// Every key, oldest first, with keys already forgotten through their sender's bound
    /// left in place (skipped when they come up; the queue is compacted when it is mostly
    /// such keys).
    order: VecDeque<(Sender, Key)>,
}

/// The keys are already keyed hashes: they are used as they are.
#[derive(Default, Clone)]
struct Keyed;

impl BuildHasher for Keyed {
    type Hasher = Identity;
    fn build_hasher(&self) -> Identity {
        Identity(0)
    }
}

struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64 ^ (v >> 64) as u64;
    }
}

impl ClientIds {
    pub fn new(capacity: usize) -> Self {
        Self::with_per_sender(capacity, PER_SENDER)
    }

    pub fn with_per_sender(capacity: usize, per_sender: usize) -> Self {
        ClientIds {
            capacity: capacity.max(1),
            per_sender: per_sender.max(1),
            hash: [RandomState::new(), RandomState::new()],
            acks: HashMap::with_hasher(Keyed),
            senders: HashMap::with_hasher(Keyed),
            order: VecDeque::new(),
        }
    }

    /// A sender is its account (`author`) when it has one, else its name: a guest's ids are
    /// never an account's, even under the same name.
    fn keys(&self, sender: &Nickname, author: Option<u64>, cid: &ClientMsgId) -> (Sender, Key) {
        let [a, b] = &self.hash;
        let s = a.hash_one((sender.as_str(), author));
        let mut h = b.build_hasher();
        sender.as_str().hash(&mut h);
        author.hash(&mut h);
        cid.as_str().hash(&mut h);
        let mut h2 = a.build_hasher();
        cid.as_str().hash(&mut h2);
        h2.write_u64(s);
        (s, u128::from(h.finish()) << 64 | u128::from(h2.finish()))
    }

    #[cfg(test)]
    pub fn get(
        &self,
        sender: &Nickname,
        author: Option<u64>,
        cid: &ClientMsgId,
    ) -> Option<&StoredAck> {
        self.acks.get(&self.keys(sender, author, cid).1)
    }

    /// The original ack of (sender, cid) if the window knows it; otherwise remembers `ack` as
    /// that original (forgetting the sender's oldest beyond its bound, and the oldest of all
    /// beyond the window) and returns `None`. One lookup serves both the check and the insert.
    pub fn remember(
        &mut self,
        sender: &Nickname,
        author: Option<u64>,
        cid: &ClientMsgId,
        ack: StoredAck,
    ) -> Option<StoredAck> {
        let (s, key) = self.keys(sender, author, cid);
        match self.acks.entry(key) {
            Entry::Occupied(e) => return Some(e.get().clone()),
            Entry::Vacant(v) => {
                v.insert(ack);
            }
        }
        self.order.push_back((s, key));
        let mine = self.senders.entry(s).or_default();
        mine.push_back(key);
        if mine.len() > self.per_sender {
            if let Some(old) = mine.pop_front() {
                self.acks.remove(&old);
            }
        }
        while self.acks.len() > self.capacity {
            self.forget_oldest();
        }
        if self.order.len() > 2 * self.acks.len() + 1024 {
            let acks = &self.acks;
            self.order.retain(|(_, k)| acks.contains_key(k));
        }
        None
    }

    fn forget_oldest(&mut self) {
        while let Some((s, key)) = self.order.pop_front() {
            if self.acks.remove(&key).is_none() {
                continue; // forgotten already, through its sender's bound
            }
            if let Entry::Occupied(mut e) = self.senders.entry(s) {
                // The oldest of all is almost always its sender's oldest too.
                if e.get().front() == Some(&key) {
                    e.get_mut().pop_front();
                } else {
                    e.get_mut().retain(|k| *k != key);
                }
                if e.get().is_empty() {
                    e.remove();
                }
            }
            return;
        }
    }

    /// Remembers `ack` unless the id is already known (then `false`: the first ack is kept).
    pub fn insert(
        &mut self,
        sender: &Nickname,
        author: Option<u64>,
        cid: &ClientMsgId,
        ack: StoredAck,
    ) -> bool {
        self.remember(sender, author, cid, ack).is_none()
    }

    /// Forgets the `n` newest entries (a group commit that failed after they were added).
    pub fn forget_newest(&mut self, n: usize) {
        let mut left = n;
        while left > 0 {
            let Some((s, key)) = self.order.pop_back() else {
                break;
            };
            if self.acks.remove(&key).is_none() {
                continue;
            }
            left -= 1;
            if let Entry::Occupied(mut e) = self.senders.entry(s) {
                if e.get().back() == Some(&key) {
                    e.get_mut().pop_back();
                } else {
                    e.get_mut().retain(|k| *k != key);
                }
                if e.get().is_empty() {
                    e.remove();
                }
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.acks.len()
    }
}

#[cfg(test)]
mod tests;
