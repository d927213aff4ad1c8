//! The process's nanosecond clock: monotonic, with the realtime clock's reading at its origin so
//! the kernel's receive timestamps (realtime) can be put on it.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The clocks' common origin: an `Instant`, and the realtime clock's reading (ns) at it.
fn clock_base() -> &'static (Instant, u64) {
    static BASE: OnceLock<(Instant, u64)> = OnceLock::new();
    BASE.get_or_init(|| {
        let real = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(0))
        };
        let before = real();
        let base = Instant::now();
        let after = real();
        (base, before / 2 + after / 2)
    })
}

/// Nanoseconds on this process's monotonic clock. Sender and receivers live in the same
/// process, so a stamp and the time it is read on are directly comparable.
pub fn now_ns() -> u64 {
    u64::try_from(clock_base().0.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Waits until `sched` (ns on the `now_ns` clock) and returns the time to stamp a send made
/// then. tokio's timer fires up to ~1 ms late: that is the load generator's error, so an
/// on-time send is stamped with the real send time. A send later than that (the socket was
/// full, or this process was busy) keeps its scheduled time, so the wait counts as latency
/// instead of being hidden (no coordinated omission).
pub async fn paced(sched: u64) -> u64 {
    let now = now_ns();
    if sched > now {
        tokio::time::sleep(std::time::Duration::from_nanos(sched - now)).await;
    }
    let now = now_ns();
    if now.saturating_sub(sched) <= 2_000_000 {
        now
    } else {
        sched
    }
}

/// A realtime-clock reading (the kernel's receive timestamps) on the `now_ns` clock.
pub(super) fn real_to_mono(real_ns: u64) -> u64 {
    real_ns.saturating_sub(clock_base().1).max(1)
}
