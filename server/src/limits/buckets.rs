//! [`Buckets`]: a token bucket per key (a user, an address), for actions that are cheap to
//! ask for and costly to grant: creating a room, say. Like [`super::PerIp`], each bucket is
//! kept as the instant it is full again (GCRA), and the table holds only buckets still
//! refilling: a full one means nothing, so a sweep drops it. Sweeps run when the table has
//! doubled since the last one, so an attacker with many keys costs O(1) per new key and the
//! table stays under about twice (keys active within one refill of a full bucket).

use crate::util::lock;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Tables smaller than this are not swept.
const MIN_SWEEP: usize = 1024;

pub struct Buckets<K> {
    /// The time one token takes to come back; `None`: no limit.
    interval: Option<Duration>,
    /// The time an empty bucket takes to fill: `interval` × burst.
    depth: Duration,
    table: Mutex<Table<K>>,
}

struct Table<K> {
    full_at: HashMap<K, Instant>,
    sweep_at: usize,
}

impl<K: Hash + Eq> Buckets<K> {
    /// `per_sec` tokens a second sustained (0: no limit), in bursts of up to `burst`.
    pub fn new(per_sec: f64, burst: u32) -> Buckets<K> {
        let interval = (per_sec > 0.0).then(|| Duration::from_secs_f64(1.0 / per_sec));
        Buckets {
            interval,
            depth: interval.unwrap_or_default() * burst.max(1),
            table: Mutex::new(Table {
                full_at: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        }
    }

    /// Takes a token from every bucket of `keys`, or from none of them: false when one is
    /// empty.
    pub fn take(&self, keys: &[K]) -> bool
    where
        K: Clone,
    {
        let Some(interval) = self.interval else {
            return true;
        };
        let now = Instant::now();
        let mut t = lock(&self.table);
        let next = |k: &K| t.full_at.get(k).map_or(now, |&f| f.max(now)) + interval;
        if keys.iter().any(|k| next(k) > now + self.depth) {
            return false;
        }
        for k in keys {
            let at = t.full_at.get(k).map_or(now, |&f| f.max(now)) + interval;
            t.full_at.insert(k.clone(), at);
        }
        if t.full_at.len() >= t.sweep_at {
            t.full_at.retain(|_, full| *full > now);
            t.sweep_at = (t.full_at.len() * 2).max(MIN_SWEEP);
            if t.full_at.capacity() > t.sweep_at * 4 {
                let keep = t.sweep_at;
                t.full_at.shrink_to(keep);
            }
        }
        true
    }

    /// Keys whose bucket is still refilling (for tests): what the table holds after a sweep.
    #[cfg(test)]
    pub fn tracked(&self) -> usize {
        let now = Instant::now();
        let mut t = lock(&self.table);
        t.full_at.retain(|_, full| *full > now);
        t.full_at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_the_rate() {
        let b: Buckets<u32> = Buckets::new(2.0, 3);
        assert!((0..3).all(|_| b.take(&[1])));
        assert!(!b.take(&[1]), "the burst is spent");
        assert!(b.take(&[2]), "another key has its own bucket");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(b.take(&[1]), "one token back after 1 / rate");
        assert!(!b.take(&[1]));
    }

    #[tokio::test(start_paused = true)]
    async fn all_keys_or_none() {
        let b: Buckets<u32> = Buckets::new(1.0, 1);
        assert!(b.take(&[1]));
        assert!(!b.take(&[2, 1]), "key 1 is empty");
        assert!(b.take(&[2]), "so key 2 was not charged");
    }

    #[tokio::test(start_paused = true)]
    async fn full_buckets_leave_the_table() {
        let b: Buckets<u32> = Buckets::new(10.0, 5);
        for k in 0..5000 {
            assert!(b.take(&[k]));
        }
        assert!(b.tracked() > 0);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(b.tracked(), 0, "every bucket refilled");
    }

    #[test]
    fn zero_is_no_limit() {
        let b: Buckets<u32> = Buckets::new(0.0, 1);
        assert!((0..10_000).all(|_| b.take(&[7])));
    }
}
