use super::room::{Member, PendingId, RoomState};
use super::*;
use crate::outbound::Job;
use crate::store::MemoryStore;
use shared::{ChatMessage, MessageText, Nickname, RoomName, ServerMessage};
use std::sync::Arc;

/// A hub whose flusher never runs: what each connection was handed stays in its queue.
fn hub() -> Arc<Hub> {
    Hub::build(
        Arc::new(Config::default()),
        Backends::single(Arc::new(MemoryStore::new(100))),
        Arc::new(Metrics::default()),
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

async fn user(hub: &Hub, nick: &str, demo: bool) -> (Peer, TcpStream) {
    let (c, client) = conn(hub).await;
    let (p, _) = hub
        .register(&c, Nickname::new(nick).expect("nick"), demo, None, None)
        .await
        .expect("register");
    hub.join(&p, &RoomName::default_room(), None, None, None)
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
        peers.push(Peer::new(
            c,
            Nickname::new(nick).expect("nick"),
            false,
            None,
        ));
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

/// The flusher's member list, edited in place as members finish joining, join again and
/// leave, is the list made anew from the members; a change while the flusher holds the list
/// (a pass under way) drops it rather than touch the pass's copy.
#[tokio::test]
async fn the_flushers_member_list_follows_joins_and_leaves() {
    let hub = hub();
    let mut st = RoomState::default();
    let mut peers = Vec::new();
    let mut clients = Vec::new();
    for i in 0..6 {
        let (c, client) = conn(&hub).await;
        let nick = Nickname::new(format!("u{i}")).expect("nick");
        peers.push(Peer::new(c, nick, i % 2 == 0, None));
        clients.push(client);
    }
    let listed = |st: &RoomState| -> Option<Vec<(u64, u64)>> {
        let t = st.targets.as_ref()?;
        Some(t.iter().map(|r| (r.id, r.since)).collect())
    };
    let expected = |st: &RoomState| -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = (st.members.values())
            .filter(|m| m.joining.is_none())
            .map(|m| (m.peer.conn.id, m.since))
            .collect();
        v.sort_unstable();
        v
    };
    let finish = |st: &mut RoomState, p: &Peer, since: u64| {
        st.finish_joining(p.conn.id, since).expect("joining");
    };
    assert!(st.targets().is_empty());
    for p in &peers[..5] {
        st.add_member(Member {
            peer: p.clone(),
            joining: Some(Vec::new()),
            since: 0,
        });
    }
    assert_eq!(listed(&st), Some(vec![]), "joining members get no posts");
    for (i, since) in [(3, 7), (1, 2), (0, 9), (2, 4)] {
        finish(&mut st, &peers[i], since);
    }
    assert_eq!(listed(&st), Some(expected(&st)));
    assert_eq!(listed(&st).map(|v| v.len()), Some(4));
    // 3 joins again (its history is read anew), 0 leaves, 4 leaves while still joining, and
    // 5 comes in already joined.
    st.start_joining(peers[3].conn.id);
    assert!(st.remove_member(peers[0].conn.id).is_some());
    assert!(st.remove_member(peers[4].conn.id).is_some());
    st.add_member(Member {
        peer: peers[5].clone(),
        joining: None,
        since: 5,
    });
    let edited = listed(&st).expect("kept");
    assert_eq!(edited, expected(&st));
    let ids: Vec<u64> = edited.iter().map(|t| t.0).collect();
    let want = [&peers[1], &peers[2], &peers[5]].map(|p| p.conn.id);
    assert_eq!(ids, want, "in connection order");
    st.targets = None;
    assert_eq!(
        st.targets()
            .iter()
            .map(|r| (r.id, r.since))
            .collect::<Vec<_>>(),
        edited,
        "the same as made anew"
    );
    // A pass holds the list: 1 leaves; the pass keeps its copy, the room makes a new one.
    let held = st.targets();
    assert!(st.remove_member(peers[1].conn.id).is_some());
    assert!(st.targets.is_none(), "dropped, not edited under the pass");
    assert_eq!(held.len(), 3);
    assert_eq!(
        st.targets().iter().map(|r| r.id).collect::<Vec<_>>(),
        [peers[2].conn.id, peers[5].conn.id]
    );
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
        every: std::time::Duration::from_secs(30),
    };
    let hour = std::time::Duration::from_secs(3600);
    let waits = crate::store::sqlite::SyncWaits {
        defer_max: hour,
        ..Default::default()
    };
    let store = crate::store::SqliteStore::open_with(&dir, keep, true, waits).expect("open");
    let hub = Hub::build(
        Arc::new(Config::default()),
        Backends::single(Arc::new(store)),
        Arc::new(Metrics::default()),
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
    for (i, demo) in [false, false, true, true].into_iter().enumerate() {
        let (p, c) = user(&hub, &format!("u{i}"), demo).await;
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
            r#"{"sender":"u0 (guest)","msg":"hi"}"#,
            r#"{"sender":"u0 (guest)","msg":"ok"}"#
        ]
    );
    assert_eq!(
        got[3],
        vec![
            r#"{"sender":"u0 (guest)","msg":"hi"}"#,
            r#"{"sender":"u2 (guest)","msg":"yo"}"#,
            r#"{"sender":"u0 (guest)","msg":"ok"}"#
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
        guest: false,
        target: None,
        edited: false,
        deleted: false,
        mentions: Vec::new(),
    }));
    let demo = f.demo().expect("a chat message has a demo form");
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
    assert!(ev.demo().is_none(), "demo users get chat messages only");
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
    let room = hub.room("general", None).await.expect("room");
    {
        let id = {
            let mut st = lock(&room.state);
            st.assigned += 1;
            st.assigned
        };
        let _pending = PendingId {
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

/// A room released while a join holds it (looked up, not yet locked) is not joined: the join
/// looks again and makes it anew, its ids continuing from the store; and a room with a
/// message on its way is not released.
#[tokio::test]
async fn a_released_room_is_made_anew_and_a_busy_one_stays() {
    let store = Arc::new(MemoryStore::new(100));
    let hub = Hub::with_backends(
        Arc::new(Config::default()),
        Backends::single(store.clone()),
        Arc::new(Metrics::default()),
    );
    let stored = crate::store::StoredMessage {
        channel: "general".into(),
        id: 7,
        sender: Nickname::new("old").expect("nick"),
        text: MessageText::new("from before").expect("text"),
        ts: 0,
        client_id: None,
        author: None,
        meta: Default::default(),
    };
    crate::store::Journal::append_marked(&*store, stored)
        .await
        .expect("append");
    let (alice, _c) = user(&hub, "alice", false).await;
    let general = hub.existing_room("general").expect("room");
    assert_eq!(lock(&general.state).assigned, 7);
    // A message assigned and not yet settled: busy.
    lock(&general.state).assigned += 1;
    assert!(hub.leave(&alice, &RoomName::default_room()));
    assert!(!hub.release_if_idle(&general), "a message is on its way");
    assert_eq!(hub.rooms_held(), 1);
    lock(&general.state).assigned -= 1;
    // The flusher takes the leave's presence event through the room, then it is idle.
    let mut released = false;
    for _ in 0..100 {
        released = hub.release_if_idle(&general);
        if released {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(released);
    assert_eq!(hub.rooms_held(), 0);
    assert!(lock(&general.state).closed);
    hub.join(&alice, &RoomName::default_room(), None, None, None)
        .await
        .expect("join");
    let again = hub.existing_room("general").expect("room");
    assert!(!Arc::ptr_eq(&general, &again), "made anew");
    assert_eq!(
        lock(&again.state).assigned,
        7,
        "ids continue from the store"
    );
    assert!(
        lock(&general.state).members.is_empty(),
        "the old one got nobody"
    );
}

/// Seams that remember what a recovery wrote again, and report `lost` as claimed elsewhere.
struct Recorded {
    lost: Vec<NickKey>,
    users: Mutex<Vec<NickKey>>,
    memberships: Mutex<Vec<(RoomName, Nickname)>>,
    presence: crate::broker::memory::LocalPresence,
}

#[async_trait::async_trait]
impl Registry for Recorded {
    async fn claim(
        &self,
        _key: &NickKey,
        _nick: &Nickname,
        _token: &str,
        _resume: Option<&str>,
    ) -> Result<crate::broker::Claim, StoreError> {
        Ok(crate::broker::Claim::New)
    }
    fn release(&self, _key: &NickKey) {}
    async fn online(&self, _key: &NickKey) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn reassert(&self, users: Vec<(NickKey, String)>) -> Result<Vec<NickKey>, StoreError> {
        lock(&self.users).extend(users.into_iter().map(|(k, _)| k));
        Ok(self.lost.clone())
    }
}

impl Presence for Recorded {
    fn join(&self, room: &RoomName, nick: &Nickname) -> BoxFuture<'static, crate::broker::Change> {
        self.presence.join(room, nick)
    }
    fn leave(&self, room: &RoomName, nick: &Nickname) -> BoxFuture<'static, crate::broker::Change> {
        self.presence.leave(room, nick)
    }
    fn members(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Nickname>, StoreError>> {
        self.presence.members(room, limit)
    }
    fn rooms(
        &self,
        after: Option<RoomName>,
        limit: usize,
    ) -> BoxFuture<'static, Result<(Vec<shared::RoomInfo>, bool), StoreError>> {
        self.presence.rooms(after, limit)
    }
    fn reassert(
        &self,
        memberships: Vec<(RoomName, Nickname)>,
    ) -> BoxFuture<'static, crate::broker::Restored> {
        lock(&self.memberships).extend(memberships);
        Box::pin(std::future::ready(Ok(Vec::new())))
    }
}

/// After an outage the hub writes every user and membership again; a user whose name another
/// node claimed meanwhile is closed with 4001 and its memberships are not written.
#[tokio::test]
async fn recovery_reasserts_users_and_closes_those_claimed_elsewhere() {
    let alice = Nickname::new("alice").expect("nick");
    let seams = Arc::new(Recorded {
        lost: vec![NickKey::of(&alice)],
        users: Mutex::default(),
        memberships: Mutex::default(),
        presence: Default::default(),
    });
    let mut backends = Backends::single(Arc::new(MemoryStore::new(100)));
    backends.registry = seams.clone();
    backends.presence = seams.clone();
    let hub = Hub::build(
        Arc::new(Config::default()),
        backends,
        Arc::new(Metrics::default()),
        Flusher::paused(),
    );
    let (a, _ca) = user(&hub, "alice", false).await;
    let (b, _cb) = user(&hub, "bob", false).await;
    hub.recover().await.expect("recover");
    let mut users = lock(&seams.users).clone();
    users.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    assert_eq!(users, [NickKey::of(&alice), NickKey::of(&b.nick)]);
    assert_eq!(a.conn.close_reason(), Some(CloseReason::NickTaken));
    assert_eq!(b.conn.close_reason(), None);
    assert_eq!(
        *lock(&seams.memberships),
        [(RoomName::default_room(), b.nick.clone())]
    );
}
