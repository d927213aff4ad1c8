//! Shared chat state: who is connected, which rooms exist, and fan-out in per-room order.
//!
//! Locks: `std::sync::Mutex` everywhere, each held for a short, non-blocking section and never
//! across an `.await`. A room's lock orders its messages: ids are assigned under it, and
//! deliveries leave it strictly in id order even when store writes complete out of order
//! (`pending` holds completed messages until every lower id is settled).
//!
//! Fan-out: what a room broadcasts is posted to its outbox, in order, and the room is handed
//! to the flusher; the flusher's next pass sends everything posted since the last pass to
//! each member with one write (see `Room::run`). Publishing costs the same whatever the
//! room's size, and each member is touched once per pass, not once per message.

use crate::cluster::{BusEvent, Claim, Cluster, Published};
use crate::config::Config;
use crate::error::{RequestError, StoreError};
use crate::metrics::Metrics;
use crate::outbound::{json_frame, Bounds, Flusher, Job};
use crate::store::{dm_channel, Appended, Store, StoredMessage};
use crate::util::{lock, now_ms, random_hex};
use bytes::{Bytes, BytesMut};
use shared::{
    ChatMessage, ClientMsgId, CloseReason, DirectMessage, MessageId, MessageText, Nickname,
    PresenceState, RoomInfo, RoomName, ServerMessage, Timestamp,
};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};
use tokio::net::TcpStream;
use tokio::sync::watch;

pub use crate::outbound::{Conn, ConnId};

/// A broadcast event, encoded once as a WebSocket frame on first use: the same bytes go to
/// every receiver. Chat messages also have what a demo-protocol user sees. Each form is
/// encoded only if a receiver of that protocol is there.
pub struct Fanout {
    msg: ServerMessage,
    typed: OnceLock<Bytes>,
    legacy: OnceLock<Bytes>,
}

/// The demo protocol's message, `{"sender","msg"}`, borrowed for encoding.
#[derive(serde::Serialize)]
struct LegacyRef<'a> {
    sender: &'a str,
    msg: &'a str,
}

impl Fanout {
    pub fn event(msg: ServerMessage) -> Arc<Fanout> {
        Arc::new(Fanout {
            msg,
            typed: OnceLock::new(),
            legacy: OnceLock::new(),
        })
    }

    /// The typed protocol's frame.
    pub fn typed(&self) -> &Bytes {
        self.typed.get_or_init(|| json_frame(&self.msg))
    }

    /// The frame a receiver of this protocol gets, if it gets this event at all.
    fn frame(&self, legacy: bool) -> Option<&Bytes> {
        if legacy {
            self.legacy()
        } else {
            Some(self.typed())
        }
    }

    /// The demo's `{"sender","msg"}` frame: chat messages only (room and direct).
    pub fn legacy(&self) -> Option<&Bytes> {
        let (sender, text) = match &self.msg {
            ServerMessage::Message(m) => (&m.sender, &m.text),
            ServerMessage::Direct(d) => (&d.from, &d.text),
            _ => return None,
        };
        Some(self.legacy.get_or_init(|| {
            json_frame(&LegacyRef {
                sender: sender.as_str(),
                msg: text.as_str(),
            })
        }))
    }
}

/// A registered user: a connection with a nickname.
#[derive(Clone)]
pub struct Peer {
    pub conn: Arc<Conn>,
    pub nick: Nickname,
    /// Speaks the demo protocol: receives only chat messages, as `{"sender","msg"}`.
    pub legacy: bool,
}

impl Peer {
    fn deliver(&self, f: &Arc<Fanout>) {
        if let Some(frame) = f.frame(self.legacy) {
            self.conn.push(frame.clone());
        }
    }
}

struct Member {
    peer: Peer,
    /// While a join's history is being read, live messages wait here, so the client gets
    /// `joined` first and then exactly the messages after its history.
    joining: Option<Vec<Arc<Fanout>>>,
    /// Posts up to this one reached the member with its join (history or the buffer above).
    since: u64,
}

/// A broadcast waiting in a room's outbox for the flusher's pass.
struct Post {
    seq: u64,
    fanout: Arc<Fanout>,
    skip: Skip,
}

/// Who does not get a post.
enum Skip {
    /// A chat message: not back to its sender if the sender speaks the demo protocol.
    DemoSender(Nickname),
    /// An event about this user (presence, typing): none of its connections.
    Nick(Nickname),
}

/// A member the flusher sends posts to: the room's members that are not joining, copied
/// when they change.
struct Recipient {
    /// The connection's id, copied: a pass walks the ids without touching each `Conn`.
    id: ConnId,
    conn: Arc<Conn>,
    legacy: bool,
    nick: Nickname,
    since: u64,
}

impl Recipient {
    /// The frame this member gets for `post`, if any.
    fn frame<'a>(&self, post: &'a Post) -> Option<&'a Bytes> {
        let skipped = post.seq <= self.since
            || match &post.skip {
                Skip::DemoSender(n) => self.legacy && *n == self.nick,
                Skip::Nick(n) => *n == self.nick,
            };
        if skipped {
            None
        } else {
            post.fanout.frame(self.legacy)
        }
    }
}

enum Targets {
    /// Every room member; a demo-protocol sender does not get its own message back.
    Room { sender: Nickname },
    /// The two ends of a direct conversation.
    Users(Vec<Peer>),
}

struct Delivery {
    fanout: Arc<Fanout>,
    targets: Targets,
}

impl Delivery {
    /// A room message, to every member of the room.
    fn room(msg: ChatMessage) -> Delivery {
        let sender = msg.sender.clone();
        Delivery {
            fanout: Fanout::event(ServerMessage::Message(msg)),
            targets: Targets::Room { sender },
        }
    }
}

#[derive(Default)]
struct RoomState {
    /// Change only through `add_member` and `remove_member`, which keep `nicks` up to date.
    members: HashMap<ConnId, Member>,
    /// The members' nicknames in order, each with its number of connections in the room: a
    /// join lists the first few and a presence check looks one up, with no pass over a room
    /// of thousands (10k typed joins took 5.3 s when each sorted every member's nickname).
    nicks: BTreeMap<Nickname, u32>,
    /// Highest id assigned.
    assigned: MessageId,
    /// Highest id settled (delivered, or failed to store) in order.
    settled: MessageId,
    /// Completed appends waiting for lower ids; `None` for a failed one.
    pending: BTreeMap<MessageId, Option<Delivery>>,
    /// Cluster mode: a task is fetching a gap from the shared history.
    filling: bool,
    /// Members still joining (their live messages are buffered, not posted to them).
    joining: usize,
    /// Broadcasts for the flusher's next pass, in order.
    outbox: Vec<Post>,
    /// Sequence number of the last post.
    posted: u64,
    /// The room is handed to the flusher and has not run yet.
    flushing: bool,
    /// The members posts go to, as of the last change of members (`None`: to be rebuilt).
    targets: Option<Arc<Vec<Recipient>>>,
    /// The room itself and the flusher, to hand the room over when something is posted.
    job: Option<(Weak<Room>, Arc<Flusher>)>,
}

impl RoomState {
    fn add_member(&mut self, member: Member) {
        let nick = member.peer.nick.clone();
        if let Some(old) = self.members.insert(member.peer.conn.id, member) {
            self.forget_nick(&old.peer.nick);
        }
        *self.nicks.entry(nick).or_insert(0) += 1;
    }

    fn remove_member(&mut self, id: ConnId) -> Option<Member> {
        let gone = self.members.remove(&id)?;
        self.forget_nick(&gone.peer.nick);
        Some(gone)
    }

    fn forget_nick(&mut self, nick: &Nickname) {
        if let Some(n) = self.nicks.get_mut(nick) {
            *n -= 1;
            if *n == 0 {
                self.nicks.remove(nick);
            }
        }
    }

    /// Whether a member other than connection `except` goes by `nick`.
    fn has_nick(&self, nick: &Nickname, except: ConnId) -> bool {
        let mine = self
            .members
            .get(&except)
            .is_some_and(|m| m.peer.nick == *nick);
        self.nicks.get(nick).copied().unwrap_or(0) > u32::from(mine)
    }

    /// The first `limit` distinct nicknames of the members, in order.
    fn nicks(&self, limit: usize) -> Vec<Nickname> {
        self.nicks.keys().take(limit).cloned().collect()
    }

    fn broadcast_except(&mut self, f: &Arc<Fanout>, except_nick: &Nickname, queue_cap: usize) {
        if self.joining > 0 {
            for m in self.members.values_mut() {
                if m.peer.nick != *except_nick {
                    m.buffer(f, queue_cap);
                }
            }
        }
        self.post(f.clone(), Skip::Nick(except_nick.clone()));
    }

    /// Queues a broadcast for the flusher's next pass, and hands the room over if needed.
    fn post(&mut self, fanout: Arc<Fanout>, skip: Skip) {
        self.posted += 1;
        self.outbox.push(Post {
            seq: self.posted,
            fanout,
            skip,
        });
        if self.flushing {
            return;
        }
        if let Some((room, flusher)) = &self.job {
            if let Some(room) = room.upgrade() {
                self.flushing = true;
                let key = Arc::as_ptr(&room) as usize / std::mem::size_of::<Room>().max(1);
                flusher.schedule_job(key, room);
            }
        }
    }

    /// The members posts go to, rebuilt after members changed, in connection order: sockets
    /// opened one after another sit near each other in memory
    /// (ours and the kernel's), so a pass over 10k members misses the caches less than in
    /// the member map's random order.
    fn targets(&mut self) -> Arc<Vec<Recipient>> {
        let members = &self.members;
        self.targets
            .get_or_insert_with(|| {
                let mut v: Vec<Recipient> = members
                    .values()
                    .filter(|m| m.joining.is_none())
                    .map(|m| Recipient {
                        id: m.peer.conn.id,
                        conn: m.peer.conn.clone(),
                        legacy: m.peer.legacy,
                        nick: m.peer.nick.clone(),
                        since: m.since,
                    })
                    .collect();
                v.sort_unstable_by_key(|r| r.id);
                Arc::new(v)
            })
            .clone()
    }

    fn settle(&mut self, id: MessageId, delivery: Option<Delivery>, queue_cap: usize) {
        self.pending.insert(id, delivery);
        self.drain(queue_cap);
    }

    /// Delivers pending messages while the next id in order is there. A run of several
    /// (one group commit's worth, under load) reaches each member in one queue operation.
    fn drain(&mut self, queue_cap: usize) {
        let mut ready = Vec::new();
        while let Some(next) = self.pending.remove(&(self.settled + 1)) {
            self.settled += 1;
            ready.extend(next);
        }
        let Some(first) = ready.first() else { return };
        if let Targets::Users(_) = first.targets {
            for d in &ready {
                match &d.targets {
                    Targets::Users(peers) => peers.iter().for_each(|p| p.deliver(&d.fanout)),
                    Targets::Room { .. } => self.deliver_room(std::slice::from_ref(d), queue_cap),
                }
            }
            return;
        }
        self.deliver_room(&ready, queue_cap);
    }

    /// Room messages, in order, to every member (not back to a demo-protocol sender).
    fn deliver_room(&mut self, ready: &[Delivery], queue_cap: usize) {
        if self.joining > 0 {
            for m in self.members.values_mut() {
                for d in ready {
                    let own =
                        matches!(&d.targets, Targets::Room { sender } if *sender == m.peer.nick);
                    if !(m.peer.legacy && own) {
                        m.buffer(&d.fanout, queue_cap);
                    }
                }
            }
        }
        for d in ready {
            match &d.targets {
                Targets::Room { sender } => {
                    self.post(d.fanout.clone(), Skip::DemoSender(sender.clone()));
                }
                Targets::Users(peers) => peers.iter().for_each(|p| p.deliver(&d.fanout)),
            }
        }
    }
}

impl Member {
    /// While joining: keeps a live event for after the history.
    fn buffer(&mut self, f: &Arc<Fanout>, queue_cap: usize) {
        match &mut self.joining {
            Some(_) if f.frame(self.peer.legacy).is_none() => {}
            Some(buf) if buf.len() >= queue_cap => self.peer.conn.close(CloseReason::SlowConsumer),
            Some(buf) => buf.push(f.clone()),
            None => {}
        }
    }
}

/// A room, or a direct conversation: the unit of ordering.
pub struct Room {
    key: String,
    state: Mutex<RoomState>,
    /// The flusher's side of the fan-out; locked before `state` when both are.
    cycle: Mutex<Cycle>,
}

/// One protocol's frames of a pass, concatenated once: `ranges[i]` is where post `i` sits in
/// `buf` (`None`: that post has no frame for this protocol).
struct Concat {
    buf: Bytes,
    ranges: Vec<Option<std::ops::Range<usize>>>,
}

impl Concat {
    fn new(posts: &[Post], legacy: bool) -> Concat {
        let frames: Vec<Option<&Bytes>> = posts.iter().map(|p| p.fanout.frame(legacy)).collect();
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
const CYCLE_STEP: usize = if cfg!(test) { 3 } else { 256 };

/// A room's fan-out in progress, touched by the flusher only. A cycle visits the members in
/// connection order, a step of `CYCLE_STEP` members at a time, and each step sends what was
/// posted up to its start: a post made while a cycle runs reaches the members after the
/// cursor in this cycle, and those before it in the next. Under load (a pass to 10k members
/// outlasts the time between messages) a message then waits at most one cycle for any member,
/// not the rest of the current pass and then the whole next one.
#[derive(Default)]
struct Cycle {
    /// Posts some member has not been sent yet, in order.
    log: Vec<Post>,
    /// What the last complete cycle sent: `(first connection id, seq sent up to)`, by id,
    /// the first from id 0 (members at or after the cursor are there).
    prev: Vec<(ConnId, u64)>,
    /// The same for the steps of the cycle under way (members before the cursor); empty
    /// between cycles.
    cur: Vec<(ConnId, u64)>,
    /// The first connection id the next step visits.
    cursor: ConnId,
}

impl Cycle {
    /// The lowest seq sent to every member by the last complete cycle.
    fn floor(&self) -> u64 {
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
            frames.clear();
            due.clear();
            for p in &posts[from..] {
                let f = t.frame(p);
                due.push(f.is_some());
                frames.extend(f);
            }
            if frames.len() < 2 {
                if !frames.is_empty() {
                    t.conn.send_batch(&frames, None);
                }
                continue;
            }
            let c =
                concat[usize::from(t.legacy)].get_or_insert_with(|| Concat::new(posts, t.legacy));
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

/// Settles an assigned id even if the publishing task is cancelled mid-way, so one dropped
/// future can never stall a room's deliveries.
struct Slot {
    room: Arc<Room>,
    id: MessageId,
    queue_cap: usize,
    done: bool,
}

impl Slot {
    /// Records the outcome without delivering yet; the returned guard delivers what is ready.
    /// Sends completing together (one group commit) then leave in one run per receiver.
    fn record(mut self, delivery: Option<Delivery>) -> Drain {
        self.done = true;
        lock(&self.room.state).pending.insert(self.id, delivery);
        Drain {
            room: self.room.clone(),
            queue_cap: self.queue_cap,
        }
    }
}

/// Delivers a room's pending messages that are next in order, when dropped.
struct Drain {
    room: Arc<Room>,
    queue_cap: usize,
}

impl Drop for Drain {
    fn drop(&mut self) {
        lock(&self.room.state).drain(self.queue_cap);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.room.state).settle(self.id, None, self.queue_cap);
        }
    }
}

/// What a successful send returns to its sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckInfo {
    pub id: MessageId,
    pub ts: Timestamp,
    pub duplicate: bool,
}

/// A send under way: done already, or waiting for the store (see `Hub::begin_publish`).
pub enum Publishing {
    Done(AckInfo),
    Storing(Pin<Box<dyn Future<Output = Result<AckInfo, RequestError>> + Send>>),
}

pub enum Target {
    Room(RoomName),
    User(Nickname),
}

/// A resolved target: a room the sender is in, or a connected user and who gets the copies.
enum Dest {
    Room(RoomName),
    User(Nickname, Vec<Peer>),
}

#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    NickTaken,
    /// The cluster could not be asked (Redis unavailable).
    Unavailable,
}

struct UserEntry {
    peer: Peer,
    resume_token: String,
}

type InflightKey = (Nickname, ClientMsgId);
type InflightResult = Option<Result<AckInfo, ()>>;

/// The open WebSocket connections, and whether all of them were asked to close (shutdown):
/// one registered after that is closed at once, so none slips between the two.
#[derive(Default)]
struct Conns {
    open: HashMap<ConnId, Arc<Conn>>,
    closing_all: Option<CloseReason>,
}

/// The chat hub shared by every connection.
pub struct Hub {
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
    conns: Mutex<Conns>,
    users: Mutex<HashMap<Nickname, UserEntry>>,
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    inflight: Mutex<HashMap<InflightKey, watch::Receiver<InflightResult>>>,
    next_conn: AtomicU64,
    flusher: Arc<Flusher>,
    cluster: Option<Cluster>,
}

/// Removes an in-flight idempotency entry however the send ends.
struct InflightGuard {
    hub: Arc<Hub>,
    key: Option<InflightKey>,
    tx: watch::Sender<InflightResult>,
}

impl InflightGuard {
    fn finish(self, result: Result<AckInfo, ()>) {
        self.tx.send_replace(Some(result));
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        if self.tx.borrow().is_none() {
            self.tx.send_replace(Some(Err(())));
        }
        if let Some(key) = self.key.take() {
            lock(&self.hub.inflight).remove(&key);
        }
    }
}

impl Hub {
    pub fn new(config: Arc<Config>, store: Arc<dyn Store>, metrics: Arc<Metrics>) -> Arc<Hub> {
        Hub::build(config, store, metrics, None, Flusher::start())
    }

    /// A hub that is one node of a cluster: history, ids, users and fan-out go through Redis.
    pub fn with_cluster(config: Arc<Config>, cluster: Cluster, metrics: Arc<Metrics>) -> Arc<Hub> {
        let store = Arc::new(cluster.clone());
        Hub::build(config, store, metrics, Some(cluster), Flusher::start())
    }

    fn build(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        cluster: Option<Cluster>,
        flusher: Arc<Flusher>,
    ) -> Arc<Hub> {
        // Weak: the flusher's tasks outlive the hub until the runtime stops, and the store
        // must close (its writer flushes and exits) when the hub is dropped.
        let weak = Arc::downgrade(&store);
        flusher.when_idle(move || {
            if let Some(store) = weak.upgrade() {
                store.deliveries_idle();
            }
        });
        Arc::new(Hub {
            config,
            metrics,
            store,
            conns: Mutex::default(),
            users: Mutex::default(),
            rooms: Mutex::default(),
            inflight: Mutex::default(),
            next_conn: AtomicU64::new(1),
            flusher,
            cluster,
        })
    }

    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Registers a new WebSocket connection (so shutdown can reach it).
    pub fn open_conn(&self, sock: TcpStream) -> Arc<Conn> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let bounds = Bounds {
            frames: self.config.outbound_queue,
            bytes: self.config.outbound_queue_bytes,
            stall: self.config.outbound_stall,
        };
        let conn = Arc::new(Conn::new(
            id,
            sock,
            bounds,
            self.flusher.clone(),
            self.metrics.clone(),
        ));
        let mut conns = lock(&self.conns);
        if let Some(reason) = conns.closing_all {
            // Its handshake was under way when shutdown began: it closes as soon as it runs.
            conn.close(reason);
        }
        conns.open.insert(id, conn.clone());
        conn
    }

    pub fn close_conn(&self, id: ConnId) {
        lock(&self.conns).open.remove(&id);
    }

    /// Asks every open connection, and every one registered from now on, to close with
    /// `reason` (shutdown).
    pub fn close_all(&self, reason: CloseReason) {
        let mut conns = lock(&self.conns);
        conns.closing_all = Some(reason);
        for c in conns.open.values() {
            c.close(reason);
        }
    }

    pub fn open_connections(&self) -> usize {
        lock(&self.conns).open.len()
    }

    /// Claims `nick` for `conn`. A matching `resume_token` takes over the user's own older
    /// session (closed with 4005), on this node or another; anything else on a taken nickname
    /// is refused.
    pub async fn register(
        &self,
        conn: &Arc<Conn>,
        nick: Nickname,
        legacy: bool,
        resume_token: Option<&str>,
    ) -> Result<(Peer, String), RegisterError> {
        let peer = Peer {
            conn: conn.clone(),
            nick: nick.clone(),
            legacy,
        };
        let token = random_hex();
        {
            let mut users = lock(&self.users);
            if let Some(existing) = users.get_mut(&nick) {
                let owns = resume_token.is_some_and(|t| t == existing.resume_token);
                if !owns || existing.peer.conn.id == conn.id {
                    return Err(RegisterError::NickTaken);
                }
                existing.peer.conn.close(CloseReason::Replaced);
                existing.peer = peer.clone();
                return Ok((peer, existing.resume_token.clone()));
            }
            // Reserved here first, so two local connections cannot both claim it below.
            users.insert(
                nick.clone(),
                UserEntry {
                    peer: peer.clone(),
                    resume_token: token.clone(),
                },
            );
        }
        let Some(cluster) = &self.cluster else {
            return Ok((peer, token));
        };
        let claimed = cluster.claim(&nick, &token, resume_token).await;
        let mut users = lock(&self.users);
        let ours = users.get(&nick).is_some_and(|e| e.peer.conn.id == conn.id);
        match claimed {
            Ok(Claim::New) if ours => Ok((peer, token)),
            Ok(Claim::TakenOver { token: kept, .. }) if ours => {
                if let Some(e) = users.get_mut(&nick) {
                    e.resume_token = kept.clone();
                }
                Ok((peer, kept))
            }
            other => {
                if ours {
                    users.remove(&nick);
                }
                match other {
                    Err(e) => {
                        tracing::warn!(cause = %e, "nickname claim failed");
                        Err(RegisterError::Unavailable)
                    }
                    _ => Err(RegisterError::NickTaken),
                }
            }
        }
    }

    /// Forgets a user's session, unless another connection has taken it over.
    pub fn unregister(&self, peer: &Peer) {
        let mut users = lock(&self.users);
        if users
            .get(&peer.nick)
            .is_some_and(|e| e.peer.conn.id == peer.conn.id)
        {
            users.remove(&peer.nick);
            if let Some(c) = self.cluster.clone() {
                let nick = peer.nick.clone();
                tokio::spawn(async move {
                    if let Err(e) = c.release(&nick).await {
                        tracing::warn!(cause = %e, "nickname release failed");
                    }
                });
            }
        }
    }

    pub fn user(&self, nick: &Nickname) -> Option<Peer> {
        lock(&self.users).get(nick).map(|e| e.peer.clone())
    }

    async fn room(&self, key: &str, is_room: bool) -> Result<Arc<Room>, RequestError> {
        if let Some(r) = lock(&self.rooms).get(key) {
            return Ok(r.clone());
        }
        if is_room && lock(&self.rooms).len() >= self.config.max_rooms {
            return Err(RequestError::TooManyRooms(self.config.max_rooms));
        }
        let last = self.store_call(self.store.last_id(key).await)?;
        let mut rooms = lock(&self.rooms);
        let room = rooms.entry(key.to_string()).or_insert_with(|| {
            Arc::new_cyclic(|me| Room {
                key: key.to_string(),
                state: Mutex::new(RoomState {
                    assigned: last,
                    settled: last,
                    job: Some((me.clone(), self.flusher.clone())),
                    ..Default::default()
                }),
                cycle: Mutex::default(),
            })
        });
        Ok(room.clone())
    }

    fn existing_room(&self, key: &str) -> Option<Arc<Room>> {
        lock(&self.rooms).get(key).cloned()
    }

    fn store_call<T>(&self, r: Result<T, StoreError>) -> Result<T, RequestError> {
        r.map_err(|e| {
            Metrics::inc(&self.metrics.store_errors);
            tracing::warn!(cause = %e, "store operation failed");
            RequestError::Store(e)
        })
    }

    fn page_limit(&self, limit: Option<u32>) -> usize {
        let max = self.config.history_page.max(1);
        limit.map_or(max, |l| l.clamp(1, max.max(200))) as usize
    }

    /// Joins `peer` to `room`: replies `joined` (members, and history: the latest page, or
    /// exactly the messages after `after`), then live messages; tells the others.
    pub async fn join(
        &self,
        peer: &Peer,
        room_name: &RoomName,
        after: Option<MessageId>,
    ) -> Result<(), RequestError> {
        let room = self.room(room_name.as_str(), true).await?;
        let cap = self.config.outbound_queue;
        let watermark = {
            let mut st = lock(&room.state);
            if !st.members.contains_key(&peer.conn.id) {
                let local_presence = self.cluster.is_none();
                let small = st.members.len() < self.config.presence_limit;
                if local_presence && small && !peer.legacy && !st.has_nick(&peer.nick, peer.conn.id)
                {
                    let ev = Fanout::event(ServerMessage::Presence {
                        room: room_name.clone(),
                        nick: peer.nick.clone(),
                        state: PresenceState::Joined,
                    });
                    st.broadcast_except(&ev, &peer.nick, cap);
                }
                st.add_member(Member {
                    peer: peer.clone(),
                    joining: Some(Vec::new()),
                    since: 0,
                });
                st.joining += 1;
            } else if let Some(m) = st.members.get_mut(&peer.conn.id) {
                if m.joining.is_none() {
                    m.joining = Some(Vec::new());
                    st.joining += 1;
                    st.targets = None;
                }
            }
            st.settled
        };
        if let Some(c) = &self.cluster {
            if let Err(e) = self.store_call(
                c.join(room_name, &peer.nick, self.config.presence_limit)
                    .await,
            ) {
                self.leave(peer, room_name);
                return Err(e);
            }
        }
        if peer.legacy {
            self.finish_join(&room, peer, None);
            return Ok(());
        }
        let page = match after {
            Some(a) => {
                self.store
                    .after(&room.key, a, watermark, self.page_limit(None).max(500))
                    .await
            }
            None => {
                self.store
                    .before(&room.key, watermark + 1, self.config.history_page as usize)
                    .await
            }
        };
        let page = match self.store_call(page) {
            Ok(p) => p,
            Err(e) => {
                self.leave(peer, room_name);
                return Err(e);
            }
        };
        let limit = self.config.presence_limit;
        let members = match &self.cluster {
            Some(c) => match self.store_call(c.members(room_name).await) {
                Ok(m) => m.into_iter().take(limit).collect(),
                Err(e) => {
                    self.leave(peer, room_name);
                    return Err(e);
                }
            },
            None => lock(&room.state).nicks(limit),
        };
        let joined = ServerMessage::Joined {
            room: room_name.clone(),
            members,
            history: page
                .messages
                .iter()
                .filter_map(StoredMessage::to_chat)
                .collect(),
            has_more: page.has_more,
        };
        self.finish_join(&room, peer, Some(joined));
        Ok(())
    }

    fn finish_join(&self, room: &Room, peer: &Peer, joined: Option<ServerMessage>) {
        let mut st = lock(&room.state);
        let posted = st.posted;
        let Some(m) = st.members.get_mut(&peer.conn.id) else {
            return;
        };
        if let Some(j) = joined {
            peer.conn.reply(&j);
        }
        let Some(buffered) = m.joining.take() else {
            return;
        };
        for f in buffered {
            peer.deliver(&f);
        }
        // Posts so far reached it with the join; it gets the next ones from the flusher.
        m.since = posted;
        st.joining -= 1;
        st.targets = None;
    }

    /// Removes `peer` from a room and tells the others. Returns whether it was a member.
    pub fn leave(&self, peer: &Peer, room_name: &RoomName) -> bool {
        let Some(room) = self.existing_room(room_name.as_str()) else {
            return false;
        };
        let mut st = lock(&room.state);
        let Some(gone) = st.remove_member(peer.conn.id) else {
            return false;
        };
        if gone.joining.is_some() {
            st.joining -= 1;
        }
        st.targets = None;
        if let Some(c) = self.cluster.clone() {
            if !st.has_nick(&peer.nick, peer.conn.id) {
                let (room, nick) = (room_name.clone(), peer.nick.clone());
                tokio::spawn(async move {
                    if let Err(e) = c.leave(&room, &nick).await {
                        tracing::warn!(cause = %e, "cluster leave failed");
                    }
                });
            }
        } else if !peer.legacy
            && st.members.len() < self.config.presence_limit
            && !st.has_nick(&peer.nick, peer.conn.id)
        {
            let ev = Fanout::event(ServerMessage::Presence {
                room: room_name.clone(),
                nick: peer.nick.clone(),
                state: PresenceState::Left,
            });
            st.broadcast_except(&ev, &peer.nick, self.config.outbound_queue);
        }
        true
    }

    /// Relays a typing event to the room's other members.
    pub fn typing(&self, peer: &Peer, room_name: &RoomName) -> Result<(), RequestError> {
        let room = self
            .existing_room(room_name.as_str())
            .ok_or_else(|| RequestError::NotInRoom(room_name.to_string()))?;
        let mut st = lock(&room.state);
        if !st.members.contains_key(&peer.conn.id) {
            return Err(RequestError::NotInRoom(room_name.to_string()));
        }
        if let Some(c) = self.cluster.clone() {
            let (room, nick) = (room_name.clone(), peer.nick.clone());
            tokio::spawn(async move {
                let _ = c.typing(&room, &nick).await;
            });
            return Ok(());
        }
        let ev = Fanout::event(ServerMessage::Typing {
            room: room_name.clone(),
            nick: peer.nick.clone(),
            expires_in_ms: self.config.typing_ttl.as_millis().min(u32::MAX as u128) as u32,
        });
        st.broadcast_except(&ev, &peer.nick, self.config.outbound_queue);
        Ok(())
    }

    pub async fn list_rooms(&self) -> Result<Vec<RoomInfo>, RequestError> {
        if let Some(c) = &self.cluster {
            return self.store_call(c.rooms().await);
        }
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let mut out: Vec<RoomInfo> = rooms
            .iter()
            .filter_map(|r| {
                let name = RoomName::new(r.key.as_str()).ok()?;
                let members = lock(&r.state).nicks.len() as u32;
                Some(RoomInfo { name, members })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// A page of a room's history (older than `before`, newer than `after`, or the latest).
    pub async fn history(
        &self,
        room_name: &RoomName,
        before: Option<MessageId>,
        after: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<(Vec<ChatMessage>, bool), RequestError> {
        let room = self.room(room_name.as_str(), true).await?;
        let watermark = lock(&room.state).settled;
        let limit = self.page_limit(limit);
        let page = match after {
            Some(a) => self.store.after(&room.key, a, watermark, limit).await,
            None => {
                let b = before.unwrap_or(MessageId::MAX).min(watermark + 1);
                self.store.before(&room.key, b, limit).await
            }
        };
        let page = self.store_call(page)?;
        Ok((
            page.messages
                .iter()
                .filter_map(StoredMessage::to_chat)
                .collect(),
            page.has_more,
        ))
    }

    /// Sends a message and waits until it is stored (and delivered, in order).
    pub async fn publish(
        self: &Arc<Self>,
        from: &Peer,
        target: Target,
        text: MessageText,
        client_id: Option<ClientMsgId>,
    ) -> Result<AckInfo, RequestError> {
        match self.begin_publish(from, target, text, client_id).await? {
            Publishing::Done(ack) => Ok(ack),
            Publishing::Storing(rest) => rest.await,
        }
    }

    /// Sends a message: resolves the target, assigns the id and hands the message to the
    /// store. What is left (waiting for the store, then delivering and acking) comes back as
    /// a future, so a connection can read its next message meanwhile: a sender's messages
    /// then share group commits instead of waiting for one commit each. Ids are assigned
    /// here, so a sender's messages keep their order. With a `client_id`, a resend of an id
    /// already stored (or being stored right now by an earlier connection) returns the
    /// original ack and stores and delivers nothing.
    pub async fn begin_publish(
        self: &Arc<Self>,
        from: &Peer,
        target: Target,
        text: MessageText,
        client_id: Option<ClientMsgId>,
    ) -> Result<Publishing, RequestError> {
        // Resolve the target first: sending needs membership, or a connected recipient.
        let (room, dest) = match target {
            Target::Room(name) => {
                let room = self
                    .existing_room(name.as_str())
                    .filter(|r| lock(&r.state).members.contains_key(&from.conn.id))
                    .ok_or_else(|| RequestError::NotInRoom(name.to_string()))?;
                (room, Dest::Room(name))
            }
            Target::User(to) if self.cluster.is_some() => {
                return self
                    .publish_direct_cluster(from, to, text, client_id)
                    .await
                    .map(Publishing::Done);
            }
            Target::User(to) => {
                let peer = self
                    .user(&to)
                    .ok_or_else(|| RequestError::UnknownUser(to.to_string()))?;
                let room = self.room(&dm_channel(&from.nick, &to), false).await?;
                let mut peers = vec![peer];
                if to != from.nick {
                    peers.push(from.clone());
                }
                (room, Dest::User(to, peers))
            }
        };

        let guard = match &client_id {
            Some(cid) => match self.begin_idempotent(&from.nick, cid).await {
                Ok(guard) => Some(guard),
                Err(ack) => return Ok(Publishing::Done(ack)),
            },
            None => None,
        };
        if let Some(c) = &self.cluster {
            // The id comes from Redis; delivery comes back through the bus, in id order.
            let ts = now_ms();
            let r = c
                .publish_message(&room.key, &from.nick, &text, ts, client_id.as_ref(), None)
                .await;
            return self.cluster_ack(r, ts, guard).map(Publishing::Done);
        }

        let (id, ts) = {
            let mut st = lock(&room.state);
            st.assigned += 1;
            (st.assigned, now_ms())
        };
        let slot = Slot {
            room: room.clone(),
            id,
            queue_cap: self.config.outbound_queue,
            done: false,
        };
        let stored = StoredMessage {
            channel: room.key.clone(),
            id,
            sender: from.nick.clone(),
            text,
            ts,
            client_id,
        };
        let delivery = match dest {
            Dest::Room(room) => Delivery::room(ChatMessage {
                id,
                room,
                sender: stored.sender.clone(),
                text: stored.text.clone(),
                ts,
            }),
            Dest::User(to, peers) => {
                let event = ServerMessage::Direct(DirectMessage {
                    id,
                    from: stored.sender.clone(),
                    to,
                    text: stored.text.clone(),
                    ts,
                });
                Delivery {
                    fanout: Fanout::event(event),
                    targets: Targets::Users(peers),
                }
            }
        };
        // The store takes the message now, in id order (the memory store stores it at once).
        let store = self.store.clone();
        let mut append = Box::pin(async move { store.append_marked(stored).await });
        // Announced before the store sees the message: until it is posted, the flusher does
        // not count as idle (the store may put work off until then; see `deliveries_idle`).
        let coming = self.flusher.coming();
        let first = append.as_mut().poll(&mut Context::from_waker(
            futures_util::task::noop_waker_ref(),
        ));
        let hub = self.clone();
        // Stored (where a crash of this process cannot lose it): the room delivers it, in id
        // order. The ack waits until it is durable (see `after_delivery`).
        let finish =
            move |r: Result<(Appended, u64), StoreError>| -> (Result<(AckInfo, u64), RequestError>, Drain) {
                match hub.store_call(r) {
                    Ok((Appended::Stored, mark)) => {
                        Metrics::inc(&hub.metrics.messages_stored);
                        let ack = AckInfo {
                            id,
                            ts,
                            duplicate: false,
                        };
                        (Ok((ack, mark)), slot.record(Some(delivery)))
                    }
                    Ok((Appended::Duplicate(original), mark)) => {
                        // Stored before (perhaps before a restart): this id stays a hole.
                        let ack = AckInfo {
                            id: original.id,
                            ts: original.ts,
                            duplicate: true,
                        };
                        (Ok((ack, mark)), slot.record(None))
                    }
                    Err(e) => (Err(e), slot.record(None)),
                }
            };
        let hub = self.clone();
        let store = self.store.clone();
        // After delivery: waits until the store has the message on disk, then settles what a
        // racing resend of the same client id gets, and returns the ack.
        let after_delivery = move |result: Result<(AckInfo, u64), RequestError>| async move {
            let result = match result {
                Ok((ack, mark)) => match store.wait_durable(mark).await {
                    Ok(()) => Ok(ack),
                    Err(e) => hub.store_call(Err(e)),
                },
                Err(e) => Err(e),
            };
            if let (Some(g), Ok(ack)) = (guard, &result) {
                g.finish(Ok(AckInfo {
                    duplicate: true,
                    ..*ack
                }));
            }
            result
        };
        match first {
            Poll::Ready(r) => {
                let (result, drain) = finish(r);
                drop(drain);
                drop(coming);
                let mut rest = Box::pin(after_delivery(result));
                match rest.as_mut().poll(&mut Context::from_waker(
                    futures_util::task::noop_waker_ref(),
                )) {
                    Poll::Ready(r) => r.map(Publishing::Done),
                    Poll::Pending => Ok(Publishing::Storing(rest)),
                }
            }
            Poll::Pending => {
                // The flusher's next pass waits (briefly) for this post.
                Ok(Publishing::Storing(Box::pin(async move {
                    let (result, drain) = finish(append.await);
                    // The other sends of this group commit were woken with this one: let them
                    // record their outcome first, so the room delivers them all in one run.
                    tokio::task::yield_now().await;
                    drop(drain);
                    drop(coming);
                    after_delivery(result).await
                })))
            }
        }
    }

    fn cluster_ack(
        &self,
        r: Result<Published, StoreError>,
        ts: Timestamp,
        guard: Option<InflightGuard>,
    ) -> Result<AckInfo, RequestError> {
        let ack = match self.store_call(r)? {
            Published::Stored(id) => {
                Metrics::inc(&self.metrics.messages_stored);
                AckInfo {
                    id,
                    ts,
                    duplicate: false,
                }
            }
            Published::Duplicate(orig) => AckInfo {
                id: orig.id,
                ts: orig.ts,
                duplicate: true,
            },
        };
        if let Some(g) = guard {
            g.finish(Ok(AckInfo {
                duplicate: true,
                ..ack
            }));
        }
        Ok(ack)
    }

    async fn publish_direct_cluster(
        self: &Arc<Self>,
        from: &Peer,
        to: Nickname,
        text: MessageText,
        client_id: Option<ClientMsgId>,
    ) -> Result<AckInfo, RequestError> {
        let Some(c) = &self.cluster else {
            return Err(RequestError::UnknownUser(to.to_string()));
        };
        let online = self.user(&to).is_some() || self.store_call(c.user_online(&to).await)?;
        if !online {
            return Err(RequestError::UnknownUser(to.to_string()));
        }
        let guard = match &client_id {
            Some(cid) => match self.begin_idempotent(&from.nick, cid).await {
                Ok(g) => Some(g),
                Err(ack) => return Ok(ack),
            },
            None => None,
        };
        let ts = now_ms();
        let ch = dm_channel(&from.nick, &to);
        let r = c
            .publish_message(&ch, &from.nick, &text, ts, client_id.as_ref(), Some(&to))
            .await;
        self.cluster_ack(r, ts, guard)
    }

    /// Handles one event from the cluster bus: delivers to this node's members.
    pub fn on_bus(self: &Arc<Self>, ev: BusEvent) {
        let cap = self.config.outbound_queue;
        match ev {
            BusEvent::Message {
                ch,
                s,
                t,
                ts,
                to,
                id,
            } => {
                let (Ok(sender), Ok(text)) = (Nickname::new(s), MessageText::new(t)) else {
                    return;
                };
                if !to.is_empty() {
                    let Ok(to) = Nickname::new(to) else { return };
                    let ev = ServerMessage::Direct(DirectMessage {
                        id,
                        from: sender.clone(),
                        to: to.clone(),
                        text: text.clone(),
                        ts,
                    });
                    let f = Fanout::event(ev);
                    let mut targets = vec![to.clone()];
                    if sender != to {
                        targets.push(sender);
                    }
                    for nick in targets {
                        if let Some(p) = self.user(&nick) {
                            p.deliver(&f);
                        }
                    }
                    return;
                }
                let (Some(room), Ok(room_name)) = (self.existing_room(&ch), RoomName::new(ch))
                else {
                    return;
                };
                let delivery = Delivery::room(ChatMessage {
                    id,
                    room: room_name,
                    sender,
                    text,
                    ts,
                });
                let gap = {
                    let mut st = lock(&room.state);
                    if id <= st.settled {
                        return;
                    }
                    st.assigned = st.assigned.max(id);
                    st.settle(id, Some(delivery), cap);
                    let gap = !st.pending.is_empty() && !st.filling;
                    if gap {
                        st.filling = true;
                    }
                    gap
                };
                if gap {
                    tokio::spawn(self.clone().fill_gap(room, 0));
                }
            }
            BusEvent::Presence { room, nick, joined } => {
                let (Ok(room_name), Ok(nick)) = (RoomName::new(room), Nickname::new(nick)) else {
                    return;
                };
                let Some(room) = self.existing_room(room_name.as_str()) else {
                    return;
                };
                let state = if joined {
                    PresenceState::Joined
                } else {
                    PresenceState::Left
                };
                let ev = Fanout::event(ServerMessage::Presence {
                    room: room_name,
                    nick: nick.clone(),
                    state,
                });
                let mut st = lock(&room.state);
                if st.members.len() <= self.config.presence_limit {
                    st.broadcast_except(&ev, &nick, cap);
                }
            }
            BusEvent::Typing { room, nick } => {
                let (Ok(room_name), Ok(nick)) = (RoomName::new(room), Nickname::new(nick)) else {
                    return;
                };
                let Some(room) = self.existing_room(room_name.as_str()) else {
                    return;
                };
                let expires_in_ms = self.config.typing_ttl.as_millis().min(u32::MAX as u128) as u32;
                let ev = Fanout::event(ServerMessage::Typing {
                    room: room_name,
                    nick: nick.clone(),
                    expires_in_ms,
                });
                lock(&room.state).broadcast_except(&ev, &nick, cap);
            }
            BusEvent::Kick { nick, node } => {
                if self.cluster.as_ref().is_some_and(|c| c.node == node) {
                    if let Some(p) = Nickname::new(nick).ok().and_then(|n| self.user(&n)) {
                        p.conn.close(CloseReason::Replaced);
                    }
                }
            }
        }
    }

    /// Fetches the messages a room missed on the bus (ids are contiguous, so a jump is a gap)
    /// from the shared history, up to the first pending id or `target`, and delivers them in
    /// order. Ids trimmed from history before this node saw them are skipped.
    async fn fill_gap(self: Arc<Self>, room: Arc<Room>, target: MessageId) {
        let cap = self.config.outbound_queue;
        let Ok(name) = RoomName::new(room.key.as_str()) else {
            return;
        };
        loop {
            let (from, upto) = {
                let mut st = lock(&room.state);
                let before_pending = st.pending.keys().next().map_or(0, |f| f.saturating_sub(1));
                let upto = target.max(before_pending);
                if upto <= st.settled {
                    st.filling = false;
                    return;
                }
                (st.settled, upto)
            };
            let page = self.store.after(&room.key, from, upto, 1000).await;
            let mut st = lock(&room.state);
            match page {
                Ok(p) => {
                    let settled = st.settled;
                    for m in p.messages.iter().filter(|m| m.id > settled) {
                        let d = Delivery::room(ChatMessage {
                            id: m.id,
                            room: name.clone(),
                            sender: m.sender.clone(),
                            text: m.text.clone(),
                            ts: m.ts,
                        });
                        st.settle(m.id, Some(d), cap);
                    }
                    if !p.has_more && st.settled < upto {
                        tracing::warn!(room = %name, from = st.settled, upto, "messages no longer in history");
                        for id in st.settled + 1..=upto {
                            st.pending.entry(id).or_insert(None);
                        }
                        st.drain(cap);
                    }
                }
                Err(e) => {
                    tracing::warn!(cause = %e, "gap fill failed; the next message retries");
                    st.filling = false;
                    return;
                }
            }
        }
    }

    /// After the bus reconnects: catch every loaded room up with the shared history.
    pub async fn catch_up(self: &Arc<Self>) {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        for room in rooms {
            if room.key.starts_with("dm:") {
                continue;
            }
            let Ok(last) = self.store.last_id(&room.key).await else {
                continue;
            };
            {
                let mut st = lock(&room.state);
                if last <= st.settled || st.filling {
                    continue;
                }
                st.filling = true;
            }
            tokio::spawn(self.clone().fill_gap(room, last));
        }
    }

    /// Either a guard making this the only send of `cid` in flight, or the ack of a concurrent
    /// send of the same id that has just finished. (Sends finished earlier, even before a
    /// restart, are recognised by the store's `append`.)
    async fn begin_idempotent(
        self: &Arc<Self>,
        nick: &Nickname,
        cid: &ClientMsgId,
    ) -> Result<InflightGuard, AckInfo> {
        let key = (nick.clone(), cid.clone());
        loop {
            let waiting = {
                let mut inflight = lock(&self.inflight);
                match inflight.get(&key) {
                    Some(rx) => Ok(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        inflight.insert(key.clone(), rx);
                        Err(tx)
                    }
                }
            };
            match waiting {
                Ok(mut rx) => {
                    let done = rx.wait_for(|v| v.is_some()).await.ok().and_then(|v| *v);
                    if let Some(Ok(ack)) = done {
                        return Err(ack);
                    }
                    // The earlier attempt failed: try again as the leader.
                }
                Err(tx) => {
                    return Ok(InflightGuard {
                        hub: self.clone(),
                        key: Some(key.clone()),
                        tx,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    /// A hub whose flusher never runs: what each connection was handed stays in its queue.
    fn hub() -> Arc<Hub> {
        Hub::build(
            Arc::new(Config::default()),
            Arc::new(MemoryStore::new(100)),
            Arc::new(Metrics::default()),
            None,
            Flusher::paused(),
        )
    }

    /// A connection over a real loopback socket (the client end is kept open, unread).
    async fn conn(hub: &Hub) -> (Arc<Conn>, TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = TcpStream::connect(l.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = l.accept().await.expect("accept");
        (hub.open_conn(server), client)
    }

    async fn user(hub: &Hub, nick: &str, legacy: bool) -> (Peer, TcpStream) {
        let (c, client) = conn(hub).await;
        let (p, _) = hub
            .register(&c, Nickname::new(nick).expect("nick"), legacy, None)
            .await
            .expect("register");
        hub.join(&p, &RoomName::default_room(), None)
            .await
            .expect("join");
        (p, client)
    }

    /// The text of every frame `client` has been sent so far.
    async fn texts(client: &mut TcpStream) -> Vec<String> {
        crate::outbound::tests::frames_so_far(client)
            .await
            .into_iter()
            .map(|(op, payload)| {
                assert_eq!(op, 1, "a text frame");
                String::from_utf8(payload).expect("utf-8")
            })
            .collect()
    }

    /// Which of `texts` each client got, in order (by the `text` field).
    async fn got(clients: &mut [TcpStream], texts_sent: &[&str]) -> Vec<Vec<String>> {
        let mut all = Vec::new();
        for c in clients.iter_mut() {
            let frames = texts(c).await;
            all.push(
                frames
                    .iter()
                    .filter_map(|f| {
                        texts_sent
                            .iter()
                            .find(|t| f.contains(&format!(r#""text":"{t}""#)))
                            .map(|t| t.to_string())
                    })
                    .collect(),
            );
        }
        all
    }

    /// A room keeps its members' nicknames counted per connection: the member list of
    /// `joined`, the presence checks and the room list's counts read it, and it follows every
    /// join and leave, including a nickname on two connections (a resume, while the old
    /// connection is still in the room).
    #[tokio::test]
    async fn a_room_counts_each_nickname_over_its_connections() {
        let hub = hub();
        let mut st = RoomState::default();
        let member = |peer: &Peer| Member {
            peer: peer.clone(),
            joining: None,
            since: 0,
        };
        let mut peers = Vec::new();
        for nick in ["carol", "alice", "bob", "alice"] {
            let (c, _client) = conn(&hub).await;
            peers.push(Peer {
                conn: c,
                nick: Nickname::new(nick).expect("nick"),
                legacy: false,
            });
        }
        let names = |st: &RoomState, limit| -> Vec<String> {
            st.nicks(limit).iter().map(|n| n.to_string()).collect()
        };
        for p in &peers {
            st.add_member(member(p));
        }
        assert_eq!(names(&st, 10), ["alice", "bob", "carol"]);
        assert_eq!(names(&st, 2), ["alice", "bob"], "the first ones, in order");
        assert_eq!(st.nicks.len(), 3, "what the room list counts");
        let (alice1, alice2, bob) = (&peers[1], &peers[3], &peers[2]);
        assert!(
            st.has_nick(&alice1.nick, alice1.conn.id),
            "alice's other connection"
        );
        assert!(
            !st.has_nick(&bob.nick, bob.conn.id),
            "bob has one connection"
        );
        // Added again (no second count), then one of alice's connections leaves.
        st.add_member(member(bob));
        assert!(!st.has_nick(&bob.nick, bob.conn.id));
        assert!(st.remove_member(alice1.conn.id).is_some());
        assert!(st.remove_member(alice1.conn.id).is_none(), "already gone");
        assert_eq!(
            names(&st, 10),
            ["alice", "bob", "carol"],
            "alice is still in"
        );
        assert!(!st.has_nick(&alice2.nick, alice2.conn.id));
        assert!(
            st.has_nick(&alice2.nick, alice1.conn.id),
            "seen from a non-member"
        );
        st.remove_member(alice2.conn.id);
        st.remove_member(bob.conn.id);
        assert_eq!(names(&st, 10), ["carol"]);
        assert!(!st.has_nick(&alice2.nick, alice1.conn.id));
    }

    /// The SQLite store puts an early answer's fsync off until the flusher reports that it
    /// went idle: without that report a send's ack would wait for the store's deadline (an
    /// hour here).
    #[tokio::test]
    async fn the_flusher_going_idle_lets_the_store_fsync_so_a_send_is_acked() {
        let dir = std::env::temp_dir().join(format!("chat-hub-idle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let keep = crate::store::Retention {
            per_channel: 0,
            max_age: None,
        };
        let hour = std::time::Duration::from_secs(3600);
        let store = crate::store::SqliteStore::open_with(&dir, keep, true, hour).expect("open");
        let hub = Hub::build(
            Arc::new(Config::default()),
            Arc::new(store),
            Arc::new(Metrics::default()),
            None,
            Flusher::start(),
        );
        let (alice, _a) = user(&hub, "alice", false).await;
        let (_bob, mut b) = user(&hub, "bob", false).await;
        let text = MessageText::new("hello").expect("text");
        let ack = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            hub.publish(&alice, Target::Room(RoomName::default_room()), text, None),
        )
        .await
        .expect("acked once the flusher went idle")
        .expect("publish");
        assert!(!ack.duplicate);
        assert!(texts(&mut b)
            .await
            .iter()
            .any(|t| t.contains(r#""text":"hello""#)));
        drop(hub);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_post_made_during_a_cycle_reaches_the_members_after_the_cursor_in_that_cycle() {
        let hub = hub();
        let mut peers = Vec::new();
        let mut clients = Vec::new();
        for i in 0..7 {
            let (p, c) = user(&hub, &format!("u{i}"), false).await;
            peers.push(p);
            clients.push(c);
        }
        hub.flusher.run_pass();
        for c in &mut clients {
            texts(c).await;
        }
        let room = hub.existing_room("general").expect("room");
        let say = |text: &'static str| {
            let (hub, peer) = (&hub, &peers[0]);
            async move {
                let text = MessageText::new(text).expect("text");
                hub.publish(peer, Target::Room(RoomName::default_room()), text, None)
                    .await
                    .expect("publish");
            }
        };
        let s = |v: &[&str]| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        say("a").await;
        assert!(room.run(), "a step of 3 members, 7 to go");
        assert_eq!(
            got(&mut clients, &["a", "b"]).await,
            [
                s(&["a"]),
                s(&["a"]),
                s(&["a"]),
                vec![],
                vec![],
                vec![],
                vec![]
            ]
        );
        // Posted while the cycle runs: the next steps take it along.
        say("b").await;
        assert!(room.run());
        assert!(room.run(), "the first step's members still lack b");
        assert_eq!(
            got(&mut clients, &["a", "b"]).await,
            [
                vec![],
                vec![],
                vec![],
                s(&["a", "b"]),
                s(&["a", "b"]),
                s(&["a", "b"]),
                s(&["a", "b"])
            ]
        );
        assert!(room.run());
        assert_eq!(
            got(&mut clients, &["a", "b"]).await,
            [
                s(&["b"]),
                s(&["b"]),
                s(&["b"]),
                vec![],
                vec![],
                vec![],
                vec![]
            ]
        );
        assert!(room.run());
        assert!(!room.run(), "everyone has everything: the cycle ends");
        assert!(lock(&room.cycle).log.is_empty(), "sent posts are let go");
        assert!(!lock(&room.state).flushing);
        assert_eq!(
            got(&mut clients, &["a", "b"]).await,
            vec![Vec::<String>::new(); 7]
        );
        // The next post starts a new cycle and reaches everyone once.
        say("c").await;
        while room.run() {}
        assert_eq!(got(&mut clients, &["c"]).await, vec![s(&["c"]); 7]);
    }

    #[tokio::test]
    async fn a_broadcast_is_posted_once_and_each_member_gets_its_protocols_form() {
        let hub = hub();
        let mut peers = Vec::new();
        let mut clients = Vec::new();
        for (i, legacy) in [false, false, true, true].into_iter().enumerate() {
            let (p, c) = user(&hub, &format!("u{i}"), legacy).await;
            peers.push(p);
            clients.push(c);
        }
        hub.flusher.run_pass();
        for c in &mut clients {
            texts(c).await;
        }
        for (from, text) in [(0, "hi"), (2, "yo"), (0, "ok")] {
            let text = MessageText::new(text).expect("text");
            hub.publish(
                &peers[from],
                Target::Room(RoomName::default_room()),
                text,
                None,
            )
            .await
            .expect("publish");
        }
        let room = hub.existing_room("general").expect("room");
        assert_eq!(
            lock(&room.state).outbox.len(),
            3,
            "one post per message, whatever the room's size"
        );
        hub.flusher.run_pass();
        assert!(lock(&room.state).outbox.is_empty());
        let mut got = Vec::new();
        for c in &mut clients {
            got.push(texts(c).await);
        }
        for typed in &got[..2] {
            assert_eq!(typed.len(), 3, "{typed:?}");
            assert!(
                typed[0].starts_with(r#"{"type":"message""#) && typed[0].contains(r#""text":"hi""#)
            );
            assert!(typed[1].contains(r#""sender":"u2""#) && typed[1].contains(r#""text":"yo""#));
            assert!(typed[2].contains(r#""text":"ok""#));
        }
        // A demo-protocol sender does not get its own message back: it is sent the pieces of
        // the pass's buffer around it.
        assert_eq!(
            got[2],
            vec![
                r#"{"sender":"u0","msg":"hi"}"#,
                r#"{"sender":"u0","msg":"ok"}"#
            ]
        );
        assert_eq!(
            got[3],
            vec![
                r#"{"sender":"u0","msg":"hi"}"#,
                r#"{"sender":"u2","msg":"yo"}"#,
                r#"{"sender":"u0","msg":"ok"}"#
            ]
        );
    }

    #[test]
    fn each_form_is_encoded_on_first_use_only() {
        let f = Fanout::event(ServerMessage::Message(ChatMessage {
            id: 7,
            room: RoomName::default_room(),
            sender: Nickname::new("ann").expect("nick"),
            text: MessageText::new("say \"hi\"").expect("text"),
            ts: 1,
        }));
        let demo = f.legacy().expect("a chat message has a demo form");
        assert_eq!(&demo[2..], br#"{"sender":"ann","msg":"say \"hi\""}"#);
        assert!(
            f.typed.get().is_none(),
            "no typed receiver asked: not encoded"
        );
        assert!(std::str::from_utf8(&f.typed()[2..])
            .expect("utf-8")
            .starts_with(r#"{"type":"message","id":7"#));
        let ev = Fanout::event(ServerMessage::Typing {
            room: RoomName::default_room(),
            nick: Nickname::new("ann").expect("nick"),
            expires_in_ms: 1,
        });
        assert!(ev.legacy().is_none(), "demo users get chat messages only");
    }

    #[tokio::test]
    async fn a_member_who_joins_while_posts_wait_gets_each_message_once() {
        let hub = hub();
        let (a, mut a_client) = user(&hub, "a", false).await;
        let say = |text: &'static str| {
            hub.publish(
                &a,
                Target::Room(RoomName::default_room()),
                MessageText::new(text).expect("text"),
                None,
            )
        };
        say("one").await.expect("publish");
        // Posted, not yet sent, when b joins: b gets "one" in its history only.
        let (_b, mut b_client) = user(&hub, "b", false).await;
        say("two").await.expect("publish");
        hub.flusher.run_pass();
        let count = |got: &[String], text: &str| {
            got.iter()
                .filter(|t| t.contains(&format!(r#""text":"{text}""#)))
                .count()
        };
        let got_a = texts(&mut a_client).await;
        assert_eq!((count(&got_a, "one"), count(&got_a, "two")), (1, 1));
        let got_b = texts(&mut b_client).await;
        assert!(got_b[0].starts_with(r#"{"type":"joined""#), "{got_b:?}");
        assert_eq!(
            (count(&got_b, "one"), count(&got_b, "two")),
            (1, 1),
            "{got_b:?}"
        );
        assert!(got_b.last().is_some_and(|t| t.contains(r#""text":"two""#)));
    }

    #[tokio::test]
    async fn a_cancelled_publish_does_not_stall_the_room() {
        let hub = hub();
        let room = hub.room("general", true).await.expect("room");
        {
            let id = {
                let mut st = lock(&room.state);
                st.assigned += 1;
                st.assigned
            };
            let _slot = Slot {
                room: room.clone(),
                id,
                queue_cap: 8,
                done: false,
            };
            // Dropped here without settling, as a cancelled task would.
        }
        let (p, mut client) = user(&hub, "a", false).await;
        let ack = hub
            .publish(
                &p,
                Target::Room(RoomName::default_room()),
                MessageText::new("x").expect("t"),
                None,
            )
            .await;
        assert_eq!(ack.expect("ack").id, 2);
        hub.flusher.run_pass();
        let got = texts(&mut client).await;
        assert!(got.last().expect("a frame").contains("\"id\":2"), "{got:?}");
    }
}
