//! The flusher's side of a room: each pass sends every member what was posted since, with
//! one write per member.

use super::Room;
use crate::hub::broadcast::Fanout;
use crate::outbound::{Conn, ConnId, Job};
use crate::util::lock;
use bytes::{Bytes, BytesMut};
use shared::Nickname;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;

/// A broadcast waiting in a room's outbox for the flusher's pass.
pub(crate) struct Post {
    pub(crate) seq: u64,
    pub(crate) fanout: Arc<Fanout>,
    pub(crate) skip: Skip,
}

/// Who does not get a post.
pub(crate) enum Skip {
    /// A chat message: not back to its sender if the sender speaks the demo protocol.
    DemoSender(HashedNick),
    /// An event about this user (presence, typing): none of its connections.
    Nick(HashedNick),
}

/// A nickname with a hash of it. A pass compares a post's skipped nick with every member's,
/// and nearly all differ: the hashes settle those without comparing the names.
#[derive(Clone)]
pub(crate) struct HashedNick {
    hash: u64,
    nick: Nickname,
}

impl HashedNick {
    pub(crate) fn new(nick: &Nickname) -> HashedNick {
        HashedNick {
            hash: BuildHasherDefault::<DefaultHasher>::default().hash_one(nick.as_str()),
            nick: nick.clone(),
        }
    }
}

impl PartialEq for HashedNick {
    fn eq(&self, other: &HashedNick) -> bool {
        self.hash == other.hash && self.nick == other.nick
    }
}

/// A member the flusher sends posts to: the room's members that are not joining, copied
/// when they change.
pub(crate) struct Recipient {
    /// The connection's id, copied: a pass walks the ids without touching each `Conn`.
    pub(crate) id: ConnId,
    pub(crate) conn: Arc<Conn>,
    pub(crate) demo: bool,
    pub(crate) nick: HashedNick,
    pub(crate) since: u64,
}

impl Recipient {
    pub(crate) fn of(m: &super::Member) -> Recipient {
        Recipient {
            id: m.peer.conn.id,
            conn: m.peer.conn.clone(),
            demo: m.peer.demo,
            nick: HashedNick::new(&m.peer.nick),
            since: m.since,
        }
    }

    /// Whether this member does not get `post` for who it is (a demo-protocol sender's own
    /// message, an event about itself), whatever it has been sent already.
    pub(crate) fn skips(&self, post: &Post) -> bool {
        match &post.skip {
            Skip::DemoSender(n) => self.demo && *n == self.nick,
            Skip::Nick(n) => *n == self.nick,
        }
    }
}

/// One protocol's frames of a pass, concatenated once: `ranges[i]` is where post `i` sits in
/// `buf` (`None`: that post has no frame for this protocol).
pub(crate) struct Concat {
    pub(crate) buf: Bytes,
    pub(crate) ranges: Vec<Option<std::ops::Range<usize>>>,
}

impl Concat {
    /// `frames`: each post's frame for one protocol, in the posts' order.
    pub(crate) fn new(frames: &[Option<&Bytes>]) -> Concat {
        let mut buf = BytesMut::with_capacity(frames.iter().flatten().map(|f| f.len()).sum());
        let ranges = frames
            .iter()
            .map(|f| {
                f.map(|f| {
                    let start = buf.len();
                    buf.extend_from_slice(f);
                    start..buf.len()
                })
            })
            .collect();
        Concat {
            buf: buf.freeze(),
            ranges,
        }
    }
}

/// Members a step of a cycle sends to before the flusher lets other tasks run (about 1–2 ms
/// of writes on one core).
pub(crate) const CYCLE_STEP: usize = if cfg!(test) { 3 } else { 256 };

/// A room's fan-out in progress, touched by the flusher only. A cycle visits the members in
/// connection order, a step of `CYCLE_STEP` members at a time, and each step sends what was
/// posted up to its start: a post made while a cycle runs reaches the members after the
/// cursor in this cycle, and those before it in the next. Under load (a pass to 10k members
/// outlasts the time between messages) a message then waits at most one cycle for any member,
/// not the rest of the current pass and then the whole next one.
#[derive(Default)]
pub(crate) struct Cycle {
    /// Posts some member has not been sent yet, in order.
    pub(crate) log: Vec<Post>,
    /// What the last complete cycle sent: `(first connection id, seq sent up to)`, by id,
    /// the first from id 0 (members at or after the cursor are there).
    pub(crate) prev: Vec<(ConnId, u64)>,
    /// The same for the steps of the cycle under way (members before the cursor); empty
    /// between cycles.
    pub(crate) cur: Vec<(ConnId, u64)>,
    /// The first connection id the next step visits.
    pub(crate) cursor: ConnId,
}

impl Cycle {
    /// The lowest seq sent to every member by the last complete cycle.
    pub(crate) fn floor(&self) -> u64 {
        self.prev.iter().map(|s| s.1).min().unwrap_or(0)
    }
}

impl Job for Room {
    /// One step of the flusher's cycle (see `Cycle`): to each member of the step, everything
    /// it has not been sent yet, with one write. Each protocol's frames are concatenated once
    /// per step; a member gets the runs of that buffer it is due (all of it, or the parts around
    /// what it must not get, such as a demo-protocol sender's own messages), so a write has a
    /// few pieces, not one per message. Runs outside the room's lock. `true`: more steps to go.
    fn run(&self) -> bool {
        let mut cy = lock(&self.cycle);
        let (targets, newest) = {
            let mut st = lock(&self.state);
            cy.log.append(&mut st.outbox);
            if cy.cur.is_empty() {
                if cy.floor() >= st.posted {
                    st.flushing = false;
                    return false;
                }
                cy.cursor = 0;
            }
            (st.targets(), st.posted)
        };
        let first = targets.partition_point(|t| t.id < cy.cursor);
        let last = targets.len().min(first + CYCLE_STEP);
        let cy = &mut *cy;
        let posts = &cy.log[..];
        // Each protocol's frame of every post, looked up once per step. Looked up through each
        // post's `Fanout` for every member, they missed the cache once per (member, post) pair:
        // the writes between two members push the posts' `Fanout`s out of it.
        let mut tables: [Option<Vec<Option<&Bytes>>>; 2] = [None, None];
        let mut concat: [Option<Concat>; 2] = [None, None];
        let mut frames: Vec<&Bytes> = Vec::with_capacity(posts.len());
        let mut due: Vec<bool> = Vec::with_capacity(posts.len());
        let mut runs: Vec<Bytes> = Vec::new();
        // What the last cycle sent: the segment of `prev` each member falls in.
        let mut seg = cy
            .prev
            .partition_point(|s| s.0 <= cy.cursor)
            .saturating_sub(1);
        for t in &targets[first..last] {
            while cy.prev.get(seg + 1).is_some_and(|s| s.0 <= t.id) {
                seg += 1;
            }
            let sent = cy.prev.get(seg).map_or(0, |s| s.1).max(t.since);
            let from = posts.partition_point(|p| p.seq <= sent);
            if from == posts.len() {
                continue;
            }
            let proto = usize::from(t.demo);
            let table = &*tables[proto]
                .get_or_insert_with(|| posts.iter().map(|p| p.fanout.frame(t.demo)).collect());
            frames.clear();
            due.clear();
            for (p, &f) in posts[from..].iter().zip(&table[from..]) {
                let f = f.filter(|_| !t.skips(p));
                due.push(f.is_some());
                frames.extend(f);
            }
            if frames.len() < 2 {
                if !frames.is_empty() {
                    t.conn.send_batch(&frames, None);
                }
                continue;
            }
            let c = concat[proto].get_or_insert_with(|| Concat::new(table));
            runs.clear();
            let mut run: Option<std::ops::Range<usize>> = None;
            for (&due, range) in due.iter().zip(&c.ranges[from..]) {
                let Some(range) = range else { continue };
                if !due {
                    // A gap: what was gathered so far is one piece.
                    if let Some(r) = run.take() {
                        runs.push(c.buf.slice(r));
                    }
                    continue;
                }
                run = Some(match run {
                    Some(r) => r.start..range.end,
                    None => range.clone(),
                });
            }
            if let Some(r) = run {
                runs.push(c.buf.slice(r));
            }
            t.conn.send_batch(&frames, Some(&runs));
        }
        cy.cur.push((cy.cursor, newest));
        if let Some(next) = targets.get(last) {
            cy.cursor = next.id;
            return true;
        }
        // The cycle is complete: every member has been sent what was posted before its step.
        cy.prev.clear();
        for (id, sent) in std::mem::take(&mut cy.cur) {
            if cy.prev.last().is_none_or(|s| s.1 != sent) {
                cy.prev.push((id, sent));
            }
        }
        let floor = cy.floor();
        let gone = cy.log.partition_point(|p| p.seq <= floor);
        cy.log.drain(..gone);
        let mut st = lock(&self.state);
        if floor >= st.posted && st.outbox.is_empty() {
            st.flushing = false;
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::HashedNick;
    use shared::Nickname;

    #[test]
    fn hashed_nicks_are_equal_when_the_names_are() {
        let nick = |s: &str| HashedNick::new(&Nickname::new(s).expect("nick"));
        assert!(nick("alice") == nick("alice"));
        assert!(nick("alice") != nick("alicf"));
        assert!(nick("alice") != nick("Alice"));
        assert!(nick("bob") != nick("alice"));
    }
}
