//! Outages between the nodes and Redis, with a real redis-server: a bus connection that goes
//! silent without a FIN (a TCP proxy in the test stops forwarding), Redis stopped (SIGSTOP)
//! past the node TTL, the pub/sub clients killed, Redis restarted. After each: nothing acked
//! is lost, every node delivers, and no nickname is held twice.

mod common;

use common::cluster::*;
use common::*;
use shared::{ErrorCode, ServerMessage};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy in front of Redis that can go silent the way a dropped NAT mapping does: its
/// connections stop forwarding, both ways, and stay open (no FIN, no RST).
struct Proxy {
    port: u16,
    /// Connections opened before the current generation forward nothing.
    generation: Arc<AtomicU64>,
    /// Every connection, new ones too, forwards nothing.
    silent: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(redis_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let generation = Arc::new(AtomicU64::new(0));
        let silent = Arc::new(AtomicBool::new(false));
        let (g, s) = (generation.clone(), silent.clone());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", redis_port)).await else {
                    continue;
                };
                let born = g.load(Ordering::SeqCst);
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(forward(ri, wo, g.clone(), s.clone(), born));
                tokio::spawn(forward(ro, wi, g.clone(), s.clone(), born));
            }
        });
        Proxy {
            port,
            generation,
            silent,
            task,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Every connection open now goes silent for good; new ones forward (unless `silent`).
    fn drop_connections(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Nothing gets through, on any connection, until `heal`.
    fn black_hole(&self) {
        self.silent.store(true, Ordering::SeqCst);
    }

    /// New connections forward again; those opened before stay silent.
    fn heal(&self) {
        self.drop_connections();
        self.silent.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to` until either closes; once the connection is stale (opened before the
/// current generation) or the proxy is silent, holds both open and forwards nothing, forever.
async fn forward(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    generation: Arc<AtomicU64>,
    silent: Arc<AtomicBool>,
    born: u64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if generation.load(Ordering::SeqCst) != born || silent.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `/readyz` of `node`: its status code.
async fn readyz(node: &Node) -> u16 {
    let addr = node.addr.clone();
    tokio::task::spawn_blocking(move || http_get(&addr, "/readyz").0)
        .await
        .expect("join")
}

/// Waits until `/readyz` of `node` answers `status`.
async fn wait_readyz(node: &Node, status: u16, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while readyz(node).await != status {
        assert!(Instant::now() < deadline, "{what}: /readyz never {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sends `t`; its id if acked, `None` if refused (the store was unavailable).
async fn send(c: &mut Client, t: &str) -> Option<u64> {
    c.say("general", t).await;
    match c
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
        .await
    {
        ServerMessage::Ack { id, .. } => Some(id),
        ServerMessage::Error { code, .. } => {
            assert_eq!(code, ErrorCode::StoreUnavailable);
            None
        }
        _ => unreachable!(),
    }
}

/// Sends `t` until it is acked (the cluster may still be recovering); its id.
async fn send_acked(c: &mut Client, t: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(id) = send(c, t).await {
            return id;
        }
        assert!(Instant::now() < deadline, "`{t}` never acked");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads `c`'s messages until each of `texts` arrived; their ids.
async fn receive_all(c: &mut Client, texts: &[String]) -> Vec<u64> {
    let mut want: BTreeSet<&str> = texts.iter().map(String::as_str).collect();
    let mut ids = Vec::new();
    while !want.is_empty() {
        let m = next_message(c).await;
        if want.remove(m.text.as_str()) {
            ids.push(m.id);
        }
    }
    ids
}

/// A new client on `node` joins `general` from the start: the ids in history, and members.
async fn history(node: &Node, reader: &str) -> (Vec<u64>, Vec<String>) {
    let (mut c, _) = node.connect(reader).await;
    match c.join("general", Some(0)).await {
        ServerMessage::Joined {
            history, members, ..
        } => (
            history.iter().map(|m| m.id).collect(),
            members.iter().map(|n| n.to_string()).collect(),
        ),
        other => panic!("{other:?}"),
    }
}

/// `nick` cannot be claimed on `node`: another node's user holds it.
async fn assert_taken(node: &Node, nick: &str) {
    let mut c = Client::open(&node.url()).await;
    match c.hello(nick).await {
        ServerMessage::Error { code, .. } => assert_eq!(code, ErrorCode::NickTaken, "{nick}"),
        other => panic!("{nick} was claimed twice: {other:?}"),
    }
}

/// After an outage: both nodes ready again, each one's user's name refused on the other,
/// messages both ways, and every acked id in history, once.
async fn assert_recovered(a: &Node, b: &Node, alice: &mut Client, bob: &mut Client, acked: &[u64]) {
    wait_readyz(a, 200, Duration::from_secs(20), "node A").await;
    wait_readyz(b, 200, Duration::from_secs(20), "node B").await;
    assert_taken(b, "alice").await;
    assert_taken(a, "bob").await;
    // (A sender's wait for its ack skips the messages it receives meanwhile.)
    let from_a = send_acked(alice, "after, from A").await;
    assert_eq!(receive_all(bob, &["after, from A".into()]).await, [from_a]);
    let from_b = send_acked(bob, "after, from B").await;
    assert_eq!(
        receive_all(alice, &["after, from B".into()]).await,
        [from_b]
    );
    for (i, node) in [a, b].into_iter().enumerate() {
        let (ids, members) = history(node, &format!("reader{i}")).await;
        for id in acked.iter().chain([&from_a, &from_b]) {
            assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "acked {id}");
        }
        for user in ["alice", "bob"] {
            assert!(members.iter().any(|m| m == user), "{user} in {members:?}");
        }
    }
}

/// Node A's connections to Redis go silent (no FIN): A notices within seconds (its bus
/// heartbeat stops coming back; `/readyz` says so), reconnects, and delivers what node B's
/// users sent meanwhile, from history; nothing acked is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bus_connection_that_goes_silent_is_noticed_and_replaced() {
    let redis = Redis::start("silent");
    let proxy = Proxy::start(redis.port).await;
    let a = Node::start_at(&proxy.url(), &[]);
    let b = Node::start(&redis);
    let mut alice = a.join("alice", "general").await;
    let mut bob = b.join("bob", "general").await;
    let mut acked = vec![send_acked(&mut alice, "before").await];
    receive_all(&mut bob, &["before".into()]).await;

    proxy.drop_connections();
    let mut texts = Vec::new();
    for i in 0..5 {
        let t = format!("during {i}");
        acked.push(send_acked(&mut bob, &t).await);
        texts.push(t);
    }
    wait_readyz(&a, 503, Duration::from_secs(8), "silent bus").await;
    wait_readyz(&a, 200, Duration::from_secs(15), "replaced bus").await;
    let got = receive_all(&mut alice, &texts).await;
    assert_eq!(got, acked[1..], "in order, each once");
    assert_recovered(&a, &b, &mut alice, &mut bob, &acked).await;
}

/// Established connections to 127.0.0.1:`port`, from /proc/net/tcp: each one's timer (2: the
/// keepalive timer) and the clock ticks (1/100 s) until it fires.
fn connections_to(port: u16) -> Vec<(u8, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let parse = |line: &str| -> Option<(u8, u64)> {
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when ...
        let f: Vec<&str> = line.split_whitespace().collect();
        let remote_port = u16::from_str_radix(f.get(2)?.rsplit(':').next()?, 16).ok()?;
        if remote_port != port || *f.get(3)? != "01" {
            return None;
        }
        let (timer, when) = f.get(5)?.split_once(':')?;
        Some((
            u8::from_str_radix(timer, 16).ok()?,
            u64::from_str_radix(when, 16).ok()?,
        ))
    };
    table.lines().skip(1).filter_map(parse).collect()
}

/// Every connection a node holds to Redis (commands and pub/sub alike) has TCP keepalive due
/// within 5 s, not the kernel's 2 hours: a Redis that vanished without a FIN is seen at the
/// kernel even on a connection with nothing to send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_to_redis_probes_a_silent_peer_within_5s() {
    let redis = Redis::start("keepalive");
    let node = Node::start(&redis);
    let _alice = node.join("alice", "general").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let conns = connections_to(redis.port);
        if conns.len() >= 2 && conns.iter().all(|&(timer, when)| timer == 2 && when <= 500) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections to redis (timer, ticks until it fires): {conns:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Node A is cut off past the node TTL: node B removes A's users, and one of B's takes
/// alice's name. When A is back it re-asserts its users: alice's session on A ends (4001,
/// the name is B's now), bob's name is A's again, and messages flow both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_past_its_ttl_reasserts_its_users_when_back() {
    let redis = Redis::start("cutoff");
    let proxy = Proxy::start(redis.port).await;
    let a = Node::start_at(&proxy.url(), &[]);
    let b = Node::start(&redis);
    let mut alice_a = a.join("alice", "general").await;
    let mut bob = a.join("bob", "general").await;
    let mut carol = b.join("carol", "general").await;
    let mut acked = vec![send_acked(&mut bob, "before").await];
    receive_all(&mut carol, &["before".into()]).await;

    proxy.black_hole();
    // B reaps A (its heartbeat key expires after 6 s): alice's name is free on B.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut alice_b = loop {
        let mut c = Client::open(&b.url()).await;
        if let ServerMessage::Welcome { .. } = c.hello("alice").await {
            break c;
        }
        assert!(Instant::now() < deadline, "A's users never reaped");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    acked.push(send_acked(&mut carol, "while A is away").await);
    proxy.heal();

    assert_eq!(
        alice_a.expect_close_within(Duration::from_secs(15)).await,
        4001
    );
    wait_readyz(&a, 200, Duration::from_secs(15), "node A").await;
    assert_taken(&b, "bob").await;
    assert_taken(&a, "alice").await;
    receive_all(&mut bob, &["while A is away".into()]).await;
    let from_a = send_acked(&mut bob, "after, from A").await;
    receive_all(&mut carol, &["after, from A".into()]).await;
    alice_b.join("general", None).await;
    let from_b = send_acked(&mut alice_b, "after, from B").await;
    receive_all(&mut bob, &["after, from B".into()]).await;
    let (ids, members) = history(&a, "reader").await;
    for id in acked.iter().chain([&from_a, &from_b]) {
        assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "acked {id}");
    }
    for user in ["alice", "bob", "carol"] {
        assert!(members.iter().any(|m| m == user), "{user} in {members:?}");
    }
}

/// Redis stopped (SIGSTOP) for `pause`, longer than the node TTL, then resumed.
async fn redis_stopped_for(pause: Duration, tag: &str) {
    let redis = Redis::start(tag);
    let a = Node::start(&redis);
    let b = Node::start(&redis);
    let mut alice = a.join("alice", "general").await;
    let mut bob = b.join("bob", "general").await;
    let mut acked = vec![send_acked(&mut alice, "before").await];
    receive_all(&mut bob, &["before".into()]).await;

    redis.signal("STOP");
    let resume = Instant::now() + pause;
    // A send while Redis hangs is refused in time, not acked.
    assert_eq!(send(&mut alice, "while stopped").await, None);
    wait_readyz(&b, 503, Duration::from_secs(8), "Redis stopped").await;
    tokio::time::sleep(resume.saturating_duration_since(Instant::now())).await;
    redis.signal("CONT");
    if let Some(id) = send(&mut bob, "just after").await {
        acked.push(id);
    }
    assert_recovered(&a, &b, &mut alice, &mut bob, &acked).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_for_10s_loses_nothing_and_no_name_is_held_twice() {
    redis_stopped_for(Duration::from_secs(10), "stop10").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_for_30s_loses_nothing_and_no_name_is_held_twice() {
    redis_stopped_for(Duration::from_secs(30), "stop30").await;
}

/// `CLIENT KILL TYPE pubsub` ends every node's subscription at once: each subscribes again
/// and catches up on what was sent in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_pubsub_clients_resubscribe_and_catch_up() {
    let redis = Redis::start("pubsubkill");
    let a = Node::start(&redis);
    let b = Node::start(&redis);
    let mut alice = a.join("alice", "general").await;
    let mut bob = b.join("bob", "general").await;
    let mut acked = vec![send_acked(&mut alice, "before").await];
    receive_all(&mut bob, &["before".into()]).await;

    let killed = redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert_eq!(
        killed.trim(),
        "4",
        "both nodes' subscriptions: the bus and the long-polling relay"
    );
    let mut texts = Vec::new();
    for i in 0..5 {
        let t = format!("right after {i}");
        acked.push(send_acked(&mut bob, &t).await);
        texts.push(t);
    }
    assert_eq!(receive_all(&mut alice, &texts).await, acked[1..]);
    assert_recovered(&a, &b, &mut alice, &mut bob, &acked).await;
}

/// Redis down for longer than the node TTL, then started again on its port (AOF, so it
/// keeps its data, but every node key has expired): the nodes reconnect and re-assert their
/// users, and while they do, neither user's name can be claimed on the other node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_restart_every_node_delivers_and_no_name_is_held_twice() {
    let mut redis = Redis::start("restart2");
    let a = Node::start(&redis);
    let b = Node::start(&redis);
    let mut alice = a.join("alice", "general").await;
    let mut bob = b.join("bob", "general").await;
    let mut acked = vec![send_acked(&mut alice, "before").await];
    receive_all(&mut bob, &["before".into()]).await;
    acked.push(send_acked(&mut bob, "before, from B").await);
    receive_all(&mut alice, &["before, from B".into()]).await;

    redis.kill();
    tokio::time::sleep(Duration::from_secs(8)).await;
    redis.start_again();
    let until = Instant::now() + Duration::from_secs(8);
    while Instant::now() < until {
        for (node, nick) in [(&b, "alice"), (&a, "bob")] {
            let mut c = Client::open(&node.url()).await;
            if let ServerMessage::Welcome { .. } = c.hello(nick).await {
                panic!("{nick} claimed on a second node while the first was recovering");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_recovered(&a, &b, &mut alice, &mut bob, &acked).await;
}

/// The rules that keep names single through an outage, on `Cluster` itself against a real
/// Redis: after a cluster-wide outage (no `chat:pulse`, every node key gone), no node hands
/// out another's name or reaps it, before its first heartbeat and in the grace that starts;
/// a node cut off alone is reaped, its name can be taken, and when it comes back its
/// re-assertion reports the name as lost rather than taking it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_survive_a_cluster_wide_outage_and_not_a_lone_nodes() {
    use server::broker::{Broker, Claim, Registry};
    use server::cluster::Cluster;
    use server::nick_key::NickKey;

    let redis = Redis::start("grace");
    let a = Cluster::connect(&redis.url(), 100, false).await.expect("a");
    let b = Cluster::connect(&redis.url(), 100, false).await.expect("b");
    // Stop both nodes' own heartbeats (this drops their keys): the test moves time by hand.
    a.close().await;
    b.close().await;
    let alice = nick("alice");
    let key = NickKey::of(&alice);
    assert_eq!(
        a.claim(&key, &alice, "t1", None).await.expect("redis"),
        Claim::New
    );
    let holder = || redis.cli(&["HGET", "chat:users", key.as_str()]);

    // A cluster-wide outage: every key expired.
    redis.cli(&["DEL", "chat:pulse", "chat:grace"]);
    assert_eq!(
        b.claim(&key, &alice, "t2", None).await.expect("redis"),
        Claim::Taken
    );
    assert!(
        b.heartbeat().await.expect("heartbeat"),
        "b's key had lapsed"
    );
    assert_eq!(
        b.reap_dead_nodes().await.expect("redis"),
        0,
        "nobody reaped in the grace"
    );
    assert_eq!(
        b.claim(&key, &alice, "t2", None).await.expect("redis"),
        Claim::Taken
    );
    assert!(a.heartbeat().await.expect("redis"), "a's key had lapsed");
    let lost = a.reassert(vec![(key.clone(), "t1".into())]).await;
    assert_eq!(lost.expect("redis"), vec![]);
    assert!(holder().starts_with(&a.node), "{}", holder());

    // Node A alone is cut off: its key lapses while B's pulse goes on.
    redis.cli(&["DEL", "chat:grace", &format!("chat:node:{}", a.node)]);
    assert!(!b.heartbeat().await.expect("redis"), "b's key was fresh");
    b.reap_dead_nodes().await.expect("reap");
    assert_eq!(
        b.claim(&key, &alice, "t2", None).await.expect("redis"),
        Claim::New
    );
    assert!(a.heartbeat().await.expect("redis"), "a's key had lapsed");
    let lost = a.reassert(vec![(key.clone(), "t1".into())]).await;
    assert_eq!(
        lost.expect("redis"),
        vec![key.clone()],
        "the newer claim wins"
    );
    assert!(holder().starts_with(&b.node), "{}", holder());
}
