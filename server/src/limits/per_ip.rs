//! [`PerIp`]: how many connections one client address may hold at once, and how fast it may
//! open new ones (a token bucket per address).
//!
//! The table of addresses is what an attacker with many addresses (an IPv6 block, a botnet)
//! tries to grow, so it holds only entries that still limit something: an address with open
//! connections, or whose bucket is still refilling. An entry whose last connection closes with
//! its bucket full is removed then and there; the rest are swept when the table has doubled
//! since the last sweep (and at least [`MIN_SWEEP`] big), which costs O(1) per new address
//! amortised. Each connection keeps its address's entry alive for at most 1 ÷ `rate_per_sec`
//! seconds past its close, so the table stays under about twice the larger of `MIN_SWEEP` and
//! (addresses holding connections + new connections per second ÷ `rate_per_sec`), however
//! many addresses an attacker has.
//!
//! Time is `tokio::time::Instant`: in production the same clock as `std::time::Instant`, and
//! tests can pause and advance it instead of sleeping.

use super::client_addr::{ip_key, IpKey};
use crate::util::lock;
use std::collections::hash_map::{Entry, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Tables smaller than this are not swept: it would cost more than the memory it frees.
const MIN_SWEEP: usize = 1024;

/// Why a new connection was refused. The texts suit the body of an HTTP 429 or 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The address already holds as many connections as one address may.
    #[error("too many connections from your address: close some before opening more")]
    TooManyConnections,
    /// The address opened new connections faster than its sustained rate plus burst.
    #[error("too many new connections from your address: retry in a moment")]
    TooFast,
}

/// Per-address connection limits, shared (behind `Arc`) by the accept loop, which admits, and
/// the connection tasks, whose [`IpSlot`]s release on drop.
pub struct PerIp {
    /// Connections one address may hold; 0: no limit.
    max_per_ip: usize,
    /// The token bucket's parameters; `None`: no rate limit.
    bucket: Option<Bucket>,
    /// A std Mutex: every section under it is a hash lookup and a little arithmetic (a sweep
    /// now and then), never an `.await`. The map's default hasher is randomly keyed, so
    /// attackers cannot choose addresses that collide.
    table: Mutex<Table>,
}

/// A token bucket kept as the one instant at which it is full again (the "theoretical arrival
/// time" of GCRA): each admitted connection pushes that instant one `interval` later, and the
/// bucket is empty when it would lie more than `depth` ahead of now. One instant per address
/// instead of a token count and a timestamp, and "full" is a comparison.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// The time one token takes to come back: 1 s ÷ rate.
    interval: Duration,
    /// The time an empty bucket takes to fill: `interval` × burst.
    depth: Duration,
}

#[derive(Debug)]
struct Table {
    addresses: HashMap<IpKey, Usage>,
    /// The size at which the next admission sweeps.
    sweep_at: usize,
}

/// What one address uses.
#[derive(Debug)]
struct Usage {
    connections: usize,
    /// When its bucket is full again; not after now: full.
    full_at: Instant,
}

impl Usage {
    fn is_idle(&self, now: Instant) -> bool {
        self.connections == 0 && self.full_at <= now
    }
}

impl PerIp {
    /// `max_per_ip` connections at once per address (0: no limit); `rate_per_sec` new
    /// connections per second sustained (0: no limit), with bursts of up to `burst` (at least
    /// 1: a bucket that holds nothing would admit nobody).
    pub fn new(max_per_ip: usize, rate_per_sec: u32, burst: u32) -> Arc<PerIp> {
        let bucket = (rate_per_sec > 0).then(|| {
            let interval = Duration::from_secs(1) / rate_per_sec;
            Bucket {
                interval,
                depth: interval * burst.max(1),
            }
        });
        Arc::new(PerIp {
            max_per_ip,
            bucket,
            table: Mutex::new(Table {
                addresses: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        })
    }

    /// Counts one new connection from `ip`: refuses when the address already holds
    /// max_per_ip connections or its token bucket (rate_per_sec refill, burst size) is empty.
    /// With both limits 0 it never refuses and keeps no entries (zero cost: this runs on every
    /// accept, and the benchmark opens 10,000 connections from 127.0.0.1 with both limits
    /// off). A refused connection uses up nothing.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<IpSlot, Refusal> {
        if self.max_per_ip == 0 && self.bucket.is_none() {
            return Ok(IpSlot { owner: None });
        }
        let key = ip_key(ip);
        let now = Instant::now();
        lock(&self.table).admit(key, now, self.max_per_ip, self.bucket)?;
        Ok(IpSlot {
            owner: Some((Arc::clone(self), key)),
        })
    }

    /// Number of addresses tracked (for tests and /metrics): those holding connections or
    /// whose bucket is still refilling. Entries that stopped mattering are dropped first, so
    /// the count is what the limits hold in memory.
    pub fn tracked(&self) -> usize {
        let now = Instant::now();
        let mut table = lock(&self.table);
        table.sweep(now);
        table.addresses.len()
    }

    fn release(&self, key: IpKey) {
        let now = Instant::now();
        let mut table = lock(&self.table);
        if let Entry::Occupied(mut entry) = table.addresses.entry(key) {
            let usage = entry.get_mut();
            usage.connections = usage.connections.saturating_sub(1);
            if usage.is_idle(now) {
                entry.remove();
            }
        }
    }
}

impl fmt::Debug for PerIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerIp")
            .field("max_per_ip", &self.max_per_ip)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl Table {
    fn admit(
        &mut self,
        key: IpKey,
        now: Instant,
        max_per_ip: usize,
        bucket: Option<Bucket>,
    ) -> Result<(), Refusal> {
        if self.addresses.len() >= self.sweep_at {
            self.sweep(now);
        }
        // A new entry is never refused (no connections, a full bucket of at least one token),
        // so a refusal never leaves an empty entry behind.
        let usage = self.addresses.entry(key).or_insert(Usage {
            connections: 0,
            full_at: now,
        });
        if max_per_ip != 0 && usage.connections >= max_per_ip {
            return Err(Refusal::TooManyConnections);
        }
        if let Some(bucket) = bucket {
            let full_at = usage.full_at.max(now) + bucket.interval;
            if full_at > now + bucket.depth {
                return Err(Refusal::TooFast);
            }
            usage.full_at = full_at;
        }
        usage.connections += 1;
        Ok(())
    }

    /// Drops the entries that no longer limit anything, and sets the next sweep for when the
    /// table has doubled: the work of one sweep is paid for by the admissions that grew it.
    fn sweep(&mut self, now: Instant) {
        self.addresses.retain(|_, usage| !usage.is_idle(now));
        self.sweep_at = (self.addresses.len() * 2).max(MIN_SWEEP);
        // After a flood the map keeps its capacity; give back what the next doubling will not
        // need.
        if self.addresses.capacity() > self.sweep_at * 4 {
            self.addresses.shrink_to(self.sweep_at);
        }
    }
}

/// A connection's place under its address's limit; released on drop.
#[must_use = "the place is released when the slot is dropped: keep it as long as the connection"]
pub struct IpSlot {
    /// `None` when limits are off: nothing to release.
    owner: Option<(Arc<PerIp>, IpKey)>,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        if let Some((per_ip, key)) = &self.owner {
            per_ip.release(*key);
        }
    }
}

impl fmt::Debug for IpSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = self.owner.as_ref().map(|(_, key)| key);
        f.debug_struct("IpSlot").field("key", &key).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    /// The raw table size, without the sweep `tracked` does first.
    fn raw_len(per_ip: &PerIp) -> usize {
        lock(&per_ip.table).addresses.len()
    }

    fn admit_n(per_ip: &Arc<PerIp>, addr: IpAddr, n: usize) -> Vec<IpSlot> {
        (0..n)
            .map(|i| {
                per_ip
                    .admit(addr)
                    .unwrap_or_else(|r| panic!("connection {i} refused: {r}"))
            })
            .collect()
    }

    #[test]
    fn is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<PerIp>();
        check::<IpSlot>();
    }

    #[tokio::test(start_paused = true)]
    async fn limits_connections_per_address() {
        let per_ip = PerIp::new(3, 0, 0);
        let a = ip("192.0.2.1");
        let slots = admit_n(&per_ip, a, 3);
        assert_eq!(per_ip.admit(a).err(), Some(Refusal::TooManyConnections));
        assert_eq!(per_ip.tracked(), 1);
        drop(slots);
        assert_eq!(per_ip.tracked(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn released_on_drop() {
        let per_ip = PerIp::new(2, 0, 0);
        let a = ip("192.0.2.1");
        let mut slots = admit_n(&per_ip, a, 2);
        assert!(per_ip.admit(a).is_err());
        slots.pop();
        let again = per_ip.admit(a).expect("a place was released");
        assert!(per_ip.admit(a).is_err());
        drop((again, slots));
        // No bucket, no connections: the entry went with the last slot, not at a sweep.
        assert_eq!(raw_len(&per_ip), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_shares_a_limit_per_64() {
        let per_ip = PerIp::new(2, 0, 0);
        let _a = per_ip.admit(ip("2001:db8:0:1::1")).expect("first");
        let _b = per_ip.admit(ip("2001:db8:0:1:ffff::2")).expect("second");
        assert_eq!(
            per_ip.admit(ip("2001:db8:0:1:1234::3")).err(),
            Some(Refusal::TooManyConnections)
        );
        let _other = per_ip
            .admit(ip("2001:db8:0:2::1"))
            .expect("another /64 has its own limit");
        assert_eq!(per_ip.tracked(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn ipv4_mapped_shares_the_ipv4_limit() {
        let per_ip = PerIp::new(2, 0, 0);
        let _a = per_ip.admit(ip("198.51.100.7")).expect("first");
        let _b = per_ip.admit(ip("::ffff:198.51.100.7")).expect("second");
        assert!(per_ip.admit(ip("198.51.100.7")).is_err());
        assert!(per_ip.admit(ip("::ffff:198.51.100.7")).is_err());
        assert_eq!(per_ip.tracked(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_address_at_its_limit_does_not_affect_others() {
        let per_ip = PerIp::new(5, 10, 5);
        let busy = ip("192.0.2.1");
        let _held = admit_n(&per_ip, busy, 5);
        assert!(per_ip.admit(busy).is_err());
        for i in 0..50u8 {
            let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + i));
            let _slots = admit_n(&per_ip, other, 5);
        }
        assert!(per_ip.admit(busy).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn token_bucket_refills_over_time() {
        // 10 per second: one token per 100 ms, up to 4 at once.
        let per_ip = PerIp::new(0, 10, 4);
        let a = ip("192.0.2.1");
        let _burst = admit_n(&per_ip, a, 4);
        assert_eq!(per_ip.admit(a).err(), Some(Refusal::TooFast));
        // Refusals take nothing: still exactly one token 100 ms later.
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(per_ip.admit(a).is_err());
        tokio::time::advance(Duration::from_millis(1)).await;
        let _one = per_ip.admit(a).expect("one token back after 100 ms");
        assert!(per_ip.admit(a).is_err());
        // Sustained: one per interval.
        for _ in 0..20 {
            tokio::time::advance(Duration::from_millis(100)).await;
            let _s = per_ip.admit(a).expect("sustained rate");
            assert!(per_ip.admit(a).is_err());
        }
        // A long pause refills to the burst, not beyond.
        tokio::time::advance(Duration::from_secs(60)).await;
        let _again = admit_n(&per_ip, a, 4);
        assert!(per_ip.admit(a).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_burst_still_admits_at_the_rate() {
        let per_ip = PerIp::new(0, 2, 0);
        let a = ip("192.0.2.1");
        let _first = per_ip.admit(a).expect("a bucket holds at least one token");
        assert!(per_ip.admit(a).is_err());
        tokio::time::advance(Duration::from_millis(500)).await;
        let _second = per_ip.admit(a).expect("refilled");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refilling_bucket_outlives_the_connections() {
        let per_ip = PerIp::new(10, 10, 3);
        let a = ip("192.0.2.1");
        drop(admit_n(&per_ip, a, 3));
        // Forgetting the address now would hand it a fresh burst on its next connection.
        assert_eq!(per_ip.tracked(), 1);
        assert!(per_ip.admit(a).is_err());
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(per_ip.tracked(), 0);
        // A slot dropped after its bucket refilled takes the entry with it.
        let slot = per_ip.admit(a).expect("refilled");
        tokio::time::advance(Duration::from_millis(100)).await;
        drop(slot);
        assert_eq!(raw_len(&per_ip), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn disabled_limits_keep_no_entries() {
        let per_ip = PerIp::new(0, 0, 1000);
        let a = ip("127.0.0.1");
        let slots: Vec<IpSlot> = (0..10_000)
            .map(|_| per_ip.admit(a).expect("no limits"))
            .collect();
        assert_eq!(raw_len(&per_ip), 0);
        assert!(slots.iter().all(|s| s.owner.is_none()));
        drop(slots);
        assert_eq!(per_ip.tracked(), 0);
    }

    fn distinct(i: u32) -> IpAddr {
        // Alternate families so both key kinds are exercised; each IPv6 one in its own /64.
        if i.is_multiple_of(2) {
            IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
        } else {
            let prefix = (0x2001_0db8_u128 << 96) | (u128::from(i) << 64);
            IpAddr::V6(Ipv6Addr::from(prefix | 1))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn distinct_addresses_at_once_leave_an_empty_table_after_the_refill_window() {
        let per_ip = PerIp::new(1000, 50, 1000);
        for i in 0..10_000 {
            drop(per_ip.admit(distinct(i)).expect("first connection"));
        }
        // All within one instant: every bucket is still refilling, so all are still needed.
        assert_eq!(raw_len(&per_ip), 10_000);
        tokio::time::advance(Duration::from_millis(20)).await;
        assert_eq!(per_ip.tracked(), 0);
        assert!(lock(&per_ip.table).addresses.capacity() <= 4 * MIN_SWEEP);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_of_distinct_addresses_keeps_the_table_bounded() {
        let per_ip = PerIp::new(1000, 50, 1000);
        let mut largest = 0;
        for i in 0..10_000 {
            drop(per_ip.admit(distinct(i)).expect("first connection"));
            largest = largest.max(raw_len(&per_ip));
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        // Only about 20 entries (20 ms of refill at 1 ms apart) matter at any time; the rest
        // wait at most for the next sweep.
        assert!(largest <= MIN_SWEEP, "table grew to {largest}");
        tokio::time::advance(Duration::from_millis(20)).await;
        assert_eq!(per_ip.tracked(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn open_connections_survive_a_sweep() {
        let per_ip = PerIp::new(2, 1000, 1000);
        let a = ip("192.0.2.1");
        let held = admit_n(&per_ip, a, 2);
        tokio::time::advance(Duration::from_secs(10)).await;
        for i in 0..(3 * MIN_SWEEP as u32) {
            drop(per_ip.admit(distinct(i)).expect("first connection"));
        }
        assert!(per_ip.admit(a).is_err(), "the sweep forgot an open address");
        drop(held);
        assert!(per_ip.admit(a).is_ok());
    }
}
