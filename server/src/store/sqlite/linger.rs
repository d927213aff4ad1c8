//! Whether the fsync of early-answered groups waits, once the hub has delivered them, for more
//! groups to share it.
//!
//! At a light load every message is a group of its own, and each paid a whole fsync: on this
//! kind of machine (ext4 over virtio) three I/O requests and their wake-ups, about 40% of the
//! writer's CPU per message. Senders that do not wait for their acks (a room's open traffic,
//! the demo protocol, which has none) keep sending meanwhile: the next group committed within
//! `SYNC_LINGER` of the first shares its fsync, which runs once the hub has delivered that one
//! too; the acks of both wait for it (they follow the fsync as ever; deliveries follow the
//! commit and do not wait). Senders that wait for their acks, several at once, share it the
//! same way: the next of them arrives within a round trip.
//!
//! A sender that waits for each ack before its next send (a closed loop) sends nothing while
//! its fsync waits: the wait only delays it. So a wait that ends with no other group
//! committed pauses waiting altogether, for `FIRST_PAUSE`, then twice as long after each such
//! wait in a row, up to `MAX_PAUSE`; a wait that another group shared ends the pauses. A
//! closed-loop sender then loses one `SYNC_LINGER` per `MAX_PAUSE` at most. And a wait lasts
//! twice as long as shared groups have lately taken to come (smoothed, 1 ms to `SYNC_LINGER`):
//! senders that wait for their acks come back within a round trip, so a wait that finds none
//! of them left to come costs them little.

use std::time::{Duration, Instant};

/// Longest an early-answered group's fsync waits, from its commit, for more groups.
pub(super) const SYNC_LINGER: Duration = Duration::from_millis(25);
/// How long waiting stops after a wait that no other group shared; doubled after each such
/// wait in a row, up to `MAX_PAUSE`.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(10);
/// The shortest wait: a round trip on a busy machine.
const MIN_WINDOW: Duration = Duration::from_millis(1);

/// The writer's record of how its waits went.
#[derive(Debug)]
pub(super) struct Linger {
    /// No waiting before this instant.
    paused_until: Option<Instant>,
    /// The pause after the next unshared wait.
    pause: Duration,
    /// How long the next wait lasts: twice the time shared groups came after the first,
    /// smoothed, between `MIN_WINDOW` and the longest. Senders that wait for their acks come
    /// back within a round trip, so a wait that misses them costs them little.
    window: Duration,
    longest: Duration,
}

impl Linger {
    /// Waits of at most `longest`.
    pub(super) fn new(longest: Duration) -> Self {
        Self {
            paused_until: None,
            pause: FIRST_PAUSE,
            window: longest,
            longest,
        }
    }

    /// How long the fsync of a group committed now may wait for more, if it may wait at all.
    pub(super) fn window(&self, now: Instant) -> Option<Duration> {
        let paused = self.paused_until.is_some_and(|until| now < until);
        (!paused && !self.window.is_zero()).then_some(self.window)
    }

    /// An fsync waited: `shared_after` is when another group came, from the first's commit
    /// (`None`: none came).
    pub(super) fn waited(&mut self, shared_after: Option<Duration>, now: Instant) {
        match shared_after {
            Some(after) => {
                self.paused_until = None;
                self.pause = FIRST_PAUSE;
                // (`max` then `min`: a longest under MIN_WINDOW, zero even, is kept.)
                let seen = (after * 2).max(MIN_WINDOW).min(self.longest);
                self.window = ((self.window * 3 + seen) / 4).min(self.longest);
            }
            None => {
                self.paused_until = Some(now + self.pause);
                self.pause = (self.pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// One round of early-answered groups whose fsync is put off: from the first's commit to the
/// fsync.
#[derive(Debug, Default)]
pub(super) struct Round {
    /// The first's commit, and until when the fsync may wait for another group (`None`: it may
    /// not).
    began: Option<(Instant, Option<Instant>)>,
    /// Waiting for another group now; waited in this round.
    waiting: bool,
    waited: bool,
    /// When another group came, from the first's commit.
    shared: Option<Duration>,
}

impl Round {
    /// The fsync is due `now` for the first time in this round (later calls change nothing).
    pub(super) fn begin(&mut self, linger: &Linger, now: Instant) {
        self.began
            .get_or_insert_with(|| (now, linger.window(now).map(|w| now + w)));
    }

    /// Until when the writer sleeps for another group, if it waits for one now.
    pub(super) fn waiting_until(&self) -> Option<Instant> {
        self.began
            .and_then(|(_, until)| until)
            .filter(|_| self.waiting)
    }

    /// The writer woke `now`, with ops to commit or not: true when they came while it waited
    /// (they share the fsync).
    pub(super) fn woke(&mut self, ops: bool, now: Instant) -> bool {
        let came = std::mem::take(&mut self.waiting) && ops;
        if let (true, Some((first, _))) = (came, self.began) {
            self.shared = Some(now - first);
        }
        came
    }

    /// The hub has delivered the round's groups: whether the fsync waits for another first.
    pub(super) fn wait(&mut self, now: Instant) -> bool {
        let until = self.began.and_then(|(_, until)| until);
        self.waiting = self.shared.is_none() && until.is_some_and(|u| now < u);
        self.waited |= self.waiting;
        self.waiting
    }

    /// The fsync runs: `linger` learns how the round's wait went, and a new round starts.
    pub(super) fn end(&mut self, linger: &mut Linger, now: Instant) {
        if self.waited {
            linger.waited(self.shared, now);
        }
        *self = Round::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshared_waits_pause_waiting_longer_each_time_until_one_is_shared() {
        let t0 = Instant::now();
        let mut l = Linger::new(SYNC_LINGER);
        assert_eq!(
            l.window(t0),
            Some(SYNC_LINGER),
            "a new writer waits its longest"
        );
        l.waited(None, t0);
        assert_eq!(l.window(t0 + FIRST_PAUSE / 2), None);
        assert!(l.window(t0 + FIRST_PAUSE).is_some());
        // A second unshared wait in a row: twice the pause.
        let t1 = t0 + FIRST_PAUSE;
        l.waited(None, t1);
        assert_eq!(l.window(t1 + FIRST_PAUSE * 3 / 2), None);
        assert!(l.window(t1 + FIRST_PAUSE * 2).is_some());
        // Many more: the pause stops growing at MAX_PAUSE.
        let mut t = t1 + FIRST_PAUSE * 2;
        for _ in 0..20 {
            l.waited(None, t);
            t += MAX_PAUSE;
        }
        assert_eq!(l.window(t - MAX_PAUSE / 2), None);
        assert!(l.window(t).is_some());
        // A shared wait: waiting goes on at once, and the next pause is the first again.
        l.waited(Some(SYNC_LINGER), t);
        assert!(l.window(t).is_some());
        l.waited(None, t);
        assert!(l.window(t + FIRST_PAUSE).is_some());
    }

    #[test]
    fn a_zero_longest_never_waits() {
        let t = Instant::now();
        let mut l = Linger::new(Duration::ZERO);
        assert_eq!(l.window(t), None);
        l.waited(Some(Duration::from_millis(5)), t);
        l.waited(None, t);
        assert_eq!(l.window(t + MAX_PAUSE * 2), None);
    }

    #[test]
    fn the_window_follows_how_soon_shared_groups_come_within_its_bounds() {
        let t = Instant::now();
        let mut l = Linger::new(SYNC_LINGER);
        // Senders waiting for their acks: the next comes within a fraction of a millisecond.
        for _ in 0..30 {
            l.waited(Some(Duration::from_micros(200)), t);
        }
        let w = l.window(t).expect("waits");
        assert!(w < MIN_WINDOW * 11 / 10, "{w:?}");
        // Open traffic, a message every 15 ms: the window grows back to its longest.
        for _ in 0..30 {
            l.waited(Some(Duration::from_millis(15)), t);
        }
        let w = l.window(t).expect("waits");
        assert!(w > SYNC_LINGER * 9 / 10 && w <= SYNC_LINGER, "{w:?}");
        // In between: twice the gap, smoothed.
        for _ in 0..60 {
            l.waited(Some(Duration::from_millis(5)), t);
        }
        let w = l.window(t).expect("waits");
        assert!(
            w > Duration::from_millis(9) && w < Duration::from_millis(11),
            "{w:?}"
        );
    }

    #[test]
    fn a_round_waits_once_for_one_more_group_and_tells_linger_how_it_went() {
        let t = Instant::now();
        let mut l = Linger::new(SYNC_LINGER);
        let mut r = Round::default();
        r.begin(&l, t);
        r.begin(&l, t + SYNC_LINGER); // changes nothing
        assert!(r.wait(t + Duration::from_millis(1)));
        assert_eq!(r.waiting_until(), Some(t + SYNC_LINGER));
        // A group came after 10 ms: it shares the fsync, and nothing more is waited for.
        assert!(r.woke(true, t + Duration::from_millis(10)));
        assert_eq!(r.waiting_until(), None);
        assert!(!r.wait(t + Duration::from_millis(12)));
        r.end(&mut l, t + Duration::from_millis(12));
        let w = l.window(t).expect("waits");
        assert!(w < SYNC_LINGER, "the window moved toward 20 ms: {w:?}");
        // The next round waits in vain: past its window, the fsync runs, and waiting pauses.
        let t2 = t + Duration::from_millis(50);
        r.begin(&l, t2);
        assert!(r.wait(t2));
        assert!(!r.woke(false, t2 + w));
        assert!(!r.wait(t2 + w));
        r.end(&mut l, t2 + w);
        assert_eq!(l.window(t2 + w), None);
        // A paused writer's round does not wait at all.
        r.begin(&l, t2 + w);
        assert!(!r.wait(t2 + w));
        assert!(!r.woke(true, t2 + w));
    }
}
