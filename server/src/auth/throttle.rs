//! [`Throttle`]: growing delays after failed sign-ins, kept per (account, client address), so
//! a stranger hammering an account from one address cannot lock its owner out at another.
//! IPv6 addresses count per /64, the block one subscriber usually holds.
//!
//! The schedule: [`FREE_FAILURES`] failures cost nothing; each one after them bars the pair
//! for a delay that starts at [`FIRST_DELAY`] and doubles up to [`MAX_DELAY`]. A success
//! forgets the pair, and so does [`FORGET_AFTER`] without a failure.
//!
//! The table holds at most `capacity` pairs. When it is full, forgotten pairs go first, then
//! the pair whose last failure is oldest. Someone with enough addresses to push a pair out
//! already has [`FREE_FAILURES`] free tries at every one of them, so eviction gives them
//! nothing more than that; it only keeps the memory bounded.

use crate::util::lock;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures of a pair that cost no delay.
pub const FREE_FAILURES: u32 = 3;
/// The delay after the first failure past [`FREE_FAILURES`]; each further one doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(5 * 60);
/// A pair with no failure for this long (and not barred) is forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

type Key = (String, Option<IpAddr>);

struct Entry {
    failures: u32,
    last_failure: Instant,
    /// No sign-in before this instant.
    next_allowed: Instant,
}

impl Entry {
    fn forgotten(&self, now: Instant) -> bool {
        now >= self.next_allowed && now.saturating_duration_since(self.last_failure) >= FORGET_AFTER
    }
}

pub struct Throttle {
    capacity: usize,
    table: Mutex<HashMap<Key, Entry>>,
}

impl Throttle {
    /// A throttle remembering at most `capacity` (account, address) pairs (at least one).
    pub fn new(capacity: usize) -> Throttle {
        Throttle {
            capacity: capacity.max(1),
            table: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)`: the account `key` may not be tried from `addr` for `wait` yet.
    pub fn check(&self, key: &str, addr: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let t = lock(&self.table);
        match t.get(&(key.to_owned(), group(addr))) {
            Some(e) if e.next_allowed > now => Err(e.next_allowed - now),
            _ => Ok(()),
        }
    }

    /// Counts a failed sign-in to `key` from `addr`.
    pub fn failed(&self, key: &str, addr: Option<IpAddr>, now: Instant) {
        let k = (key.to_owned(), group(addr));
        let mut t = lock(&self.table);
        if !t.contains_key(&k) && t.len() >= self.capacity {
            make_room(&mut t, self.capacity, now);
        }
        let e = t.entry(k).or_insert(Entry {
            failures: 0,
            last_failure: now,
            next_allowed: now,
        });
        if e.forgotten(now) {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        if let Some(d) = delay(e.failures) {
            e.next_allowed = e.next_allowed.max(now + d);
        }
    }

    /// Forgets `key` from `addr`: it signed in.
    pub fn succeeded(&self, key: &str, addr: Option<IpAddr>) {
        lock(&self.table).remove(&(key.to_owned(), group(addr)));
    }

    /// Pairs held (for metrics and tests).
    pub fn len(&self) -> usize {
        lock(&self.table).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The delay set by failure number `failures`, if any.
fn delay(failures: u32) -> Option<Duration> {
    let past = failures.checked_sub(FREE_FAILURES + 1)?;
    // 2^9 s already exceeds the cap; larger shifts would overflow.
    let d = FIRST_DELAY * (1u32 << past.min(9));
    Some(d.min(MAX_DELAY))
}

/// Drops forgotten pairs, then the oldest by last failure until one more fits.
fn make_room(t: &mut HashMap<Key, Entry>, capacity: usize, now: Instant) {
    t.retain(|_, e| !e.forgotten(now));
    while t.len() >= capacity {
        let Some(oldest) = t
            .iter()
            .min_by_key(|(_, e)| e.last_failure)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        t.remove(&oldest);
    }
}

/// The address as counted: an IPv6 one by its /64, an IPv4-mapped one as IPv4.
fn group(addr: Option<IpAddr>) -> Option<IpAddr> {
    addr.map(|a| match a {
        IpAddr::V4(_) => a,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("an address"))
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn three_free_failures_then_doubling_delays_up_to_the_cap() {
        let th = Throttle::new(100);
        let a = ip("192.0.2.1");
        let mut now = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(th.check("ann", a, now), Ok(()));
            th.failed("ann", a, now);
        }
        assert_eq!(th.check("ann", a, now), Ok(()), "three failures are free");
        let mut waits = Vec::new();
        for _ in 0..12 {
            th.failed("ann", a, now);
            let wait = th.check("ann", a, now).expect_err("barred after a failure");
            waits.push(wait.as_secs());
            assert_eq!(
                th.check("ann", a, now + wait),
                Ok(()),
                "allowed once it passes"
            );
            now += wait;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn another_address_or_account_is_not_barred() {
        let th = Throttle::new(100);
        let now = Instant::now();
        for _ in 0..10 {
            th.failed("ann", ip("192.0.2.1"), now);
        }
        assert!(th.check("ann", ip("192.0.2.1"), now).is_err());
        assert_eq!(th.check("ann", ip("192.0.2.2"), now), Ok(()));
        assert_eq!(th.check("ann", None, now), Ok(()));
        assert_eq!(th.check("bob", ip("192.0.2.1"), now), Ok(()));
    }

    #[test]
    fn a_success_forgets_the_failures() {
        let th = Throttle::new(100);
        let a = ip("192.0.2.1");
        let now = Instant::now();
        for _ in 0..5 {
            th.failed("ann", a, now);
        }
        assert!(th.check("ann", a, now).is_err());
        th.succeeded("ann", a);
        assert_eq!(th.check("ann", a, now), Ok(()));
        assert!(th.is_empty());
        for _ in 0..FREE_FAILURES {
            th.failed("ann", a, now);
        }
        assert_eq!(th.check("ann", a, now), Ok(()), "free failures again");
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_while() {
        let th = Throttle::new(100);
        let a = ip("192.0.2.1");
        let now = Instant::now();
        for _ in 0..FREE_FAILURES + 2 {
            th.failed("ann", a, now);
        }
        let later = now + FORGET_AFTER;
        assert_eq!(th.check("ann", a, later), Ok(()));
        th.failed("ann", a, later);
        assert_eq!(th.check("ann", a, later), Ok(()), "counted from one again");
        th.failed("ann", a, later + S);
        assert_eq!(
            th.check("ann", a, later + S),
            Ok(()),
            "still within the free ones"
        );
    }

    #[test]
    fn the_table_stays_within_its_capacity() {
        let th = Throttle::new(50);
        let now = Instant::now();
        for i in 0..5000u32 {
            let a = Some(IpAddr::from(i.to_be_bytes()));
            th.failed("ann", a, now + Duration::from_millis(u64::from(i)));
            assert!(th.len() <= 50);
        }
        assert_eq!(th.len(), 50);
        let newest = Some(IpAddr::from(4999u32.to_be_bytes()));
        let oldest = Some(IpAddr::from(0u32.to_be_bytes()));
        let t = lock(&th.table);
        assert!(t.contains_key(&("ann".to_owned(), newest)));
        assert!(!t.contains_key(&("ann".to_owned(), oldest)), "oldest first");
    }

    #[test]
    fn forgotten_pairs_make_room_before_live_ones() {
        let th = Throttle::new(2);
        let now = Instant::now();
        for _ in 0..5 {
            th.failed("ann", ip("192.0.2.1"), now + FORGET_AFTER);
        }
        th.failed("bob", ip("192.0.2.2"), now);
        // bob's pair is forgotten by now; ann's is barred and must stay.
        th.failed("cid", ip("192.0.2.3"), now + FORGET_AFTER + S);
        assert_eq!(th.len(), 2);
        assert!(th
            .check("ann", ip("192.0.2.1"), now + FORGET_AFTER)
            .is_err());
    }

    #[test]
    fn ipv6_counts_per_64() {
        let th = Throttle::new(100);
        let now = Instant::now();
        for i in 0..5 {
            th.failed("ann", ip(&format!("2001:db8:1:2::{i:x}")), now);
        }
        assert!(
            th.check("ann", ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), now)
                .is_err(),
            "the same /64"
        );
        assert_eq!(th.check("ann", ip("2001:db8:1:3::1"), now), Ok(()));
        assert_eq!(th.len(), 1);
    }

    #[test]
    fn ipv4_mapped_counts_as_ipv4() {
        let th = Throttle::new(100);
        let now = Instant::now();
        for _ in 0..5 {
            th.failed("ann", ip("::ffff:192.0.2.1"), now);
        }
        assert!(th.check("ann", ip("192.0.2.1"), now).is_err());
        assert_eq!(th.check("ann", ip("::ffff:192.0.2.2"), now), Ok(()));
    }
}
