//! The bus (`chat:bus` pub/sub) and the shared message log: one Lua script assigns a
//! channel's next id, appends to its stream, records the client id and publishes, atomically,
//! so every node sees a channel's messages in id order.

use super::{
    dedup_key, edit_entries_key, log_key, node_key, seq_key, unavailable, Cluster, BUS,
    DEDUP_TTL_SECS,
};
use crate::broker::{Broker, Event, EventHandler, Outgoing, Published, SharedLog};
use crate::error::StoreError;
use crate::store::StoredAck;
use crate::util::lock;
use async_trait::async_trait;
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, PubSub};
use redis::{AsyncCommands, Script};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long `/readyz` waits for Redis to answer: a load balancer's probe should not hang.
const READY_PING_TIMEOUT: Duration = Duration::from_millis(1000);
/// How often a node publishes its heartbeat on the bus.
const BEAT_EVERY: Duration = Duration::from_secs(1);
/// A subscription that carried none of this node's heartbeats, and nothing else, for this
/// long is dead.
const ECHO_TIMEOUT: Duration = Duration::from_secs(3);
/// A subscription that carries events but none of this node's heartbeats for this long is
/// dead too (its publishing connection, say). Until then a late echo is taken for a busy
/// node working through a backlog, which a reconnect and a catch-up would only make longer.
const BACKLOG_TIMEOUT: Duration = Duration::from_secs(10);

/// Appends a message and publishes it. A message with meta (an edit's or deletion's target
/// `g`, flags `f`, mentions `m`) has those as fields of its entry too, and an edit's entry
/// is listed under its target in `chat:editof:<channel>` (for a deletion to remove it).
const PUBLISH_LUA: &str = r"
local cid = ARGV[5]
if cid ~= '' then
  local prev = redis.call('HGET', KEYS[3], cid)
  if prev then return {0, prev} end
end
local id = redis.call('INCR', KEYS[1])
if ARGV[11] == '' and ARGV[12] == '0' and ARGV[13] == '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], id .. '-0', 's', ARGV[2], 't', ARGV[3], 'ts', ARGV[4], 'c', cid, 'a', ARGV[10])
else
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], id .. '-0', 's', ARGV[2], 't', ARGV[3], 'ts', ARGV[4], 'c', cid, 'a', ARGV[10], 'g', ARGV[11], 'f', ARGV[12], 'm', ARGV[13])
  if ARGV[11] ~= '' and ARGV[12] == '1' then redis.call('ZADD', KEYS[4], ARGV[11], id .. '-0') end
end
if cid ~= '' then
  redis.call('HSET', KEYS[3], cid, ARGV[1] .. '|' .. id .. '|' .. ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
redis.call('PUBLISH', ARGV[9], ARGV[7] .. id .. '}')
return {1, tostring(id)}
";

/// Publishes one event now.
pub(super) async fn publish_now(
    conn: &mut ConnectionManager,
    ev: &Event,
) -> Result<(), StoreError> {
    let payload = serde_json::to_string(ev).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    conn.publish::<_, _, ()>(BUS, payload)
        .await
        .map_err(unavailable)
}

/// Publishes this node's events in the order they were queued, each on the command
/// connection of the moment.
pub(super) async fn publisher(cluster: Weak<Cluster>, mut queue: mpsc::Receiver<Event>) {
    while let Some(ev) = queue.recv().await {
        let Some(mut conn) = cluster.upgrade().map(|c| c.conn()) else {
            return;
        };
        if let Err(e) = publish_now(&mut conn, &ev).await {
            tracing::warn!(cause = %e, "publishing a cluster event failed");
        }
    }
}

/// Hands each bus event to `handler`. When the subscription breaks (Redis restarted, the
/// client was killed) or goes silent (this node's heartbeat stops coming back), opens new
/// connections with backoff, subscribes again, and has the handler re-assert this node's
/// users and catch up from history before it counts as up again.
async fn subscriber(cluster: Weak<Cluster>, handler: Arc<dyn EventHandler>) {
    let mut backoff = Duration::from_millis(100);
    let mut fresh = true;
    loop {
        let Some(c) = cluster.upgrade() else { return };
        c.bus_up.store(false, Ordering::Relaxed);
        match recover(&c, fresh, handler.as_ref()).await {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                c.bus_up.store(true, Ordering::Relaxed);
                drop(c);
                let why = listen(&cluster, pubsub, handler.as_ref()).await;
                tracing::warn!(cause = why, "cluster bus lost; reconnecting");
            }
            Err(e) => tracing::warn!(cause = %e, "cannot recover the cluster bus"),
        }
        fresh = false;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Brings the bus back: a new command connection (the old one may be as silent as the
/// subscription was; not on the first run, just opened), a new subscription, this node's
/// heartbeat key, then the handler's re-assertion and catch-up. Events that arrive meanwhile
/// wait in the subscription.
async fn recover(
    c: &Cluster,
    fresh: bool,
    handler: &dyn EventHandler,
) -> Result<PubSub, StoreError> {
    if !fresh {
        c.reconnect().await?;
    }
    let pubsub = c.subscribe_bus().await?;
    c.heartbeat().await?;
    c.recheck_durability().await;
    handler.on_reconnect().await?;
    Ok(pubsub)
}

/// Delivers bus events until the subscription ends or stops carrying this node's heartbeat
/// (published every [`BEAT_EVERY`], through the same connections as messages); says why.
async fn listen(
    cluster: &Weak<Cluster>,
    pubsub: PubSub,
    handler: &dyn EventHandler,
) -> &'static str {
    let mut stream = pubsub.into_on_message();
    let mut tick = tokio::time::interval(BEAT_EVERY);
    let (mut echoed, mut heard) = (Instant::now(), Instant::now());
    loop {
        let Some(c) = cluster.upgrade() else {
            return "the node is closing";
        };
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else {
                    return "the subscription closed";
                };
                heard = Instant::now();
                let Ok(payload) = msg.get_payload::<String>() else {
                    continue;
                };
                match serde_json::from_str::<Event>(&payload) {
                    Ok(Event::Beat { node }) => {
                        if node == c.node {
                            echoed = Instant::now();
                        }
                    }
                    Ok(ev) => handler.on_event(ev),
                    Err(e) => tracing::warn!(cause = %e, "unreadable bus event"),
                }
            }
            _ = tick.tick() => {
                let silent = echoed.elapsed().min(heard.elapsed()) > ECHO_TIMEOUT;
                if silent || echoed.elapsed() > BACKLOG_TIMEOUT {
                    return "this node's heartbeat did not come back";
                }
                let (mut conn, beat) = (c.conn(), Event::Beat { node: c.node.clone() });
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(BEAT_EVERY, publish_now(&mut conn, &beat)).await;
                });
            }
            () = c.lapsed.notified() => return "this node's heartbeat key had lapsed",
        }
    }
}

impl Cluster {
    /// Waits until the bus is up (subscribed, this node's users re-asserted), at most `within`.
    pub async fn bus_up_within(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.bus_up.load(Ordering::Relaxed) {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

impl Broker for Cluster {
    fn node(&self) -> &str {
        &self.node
    }

    fn subscribe(&self, handler: Arc<dyn EventHandler>) {
        let task = tokio::spawn(subscriber(self.me.clone(), handler));
        lock(&self.tasks).push(task);
    }

    fn relay(&self) -> Option<Arc<dyn crate::broker::relay::Relay>> {
        Some(self.relay.clone())
    }

    fn publish(&self, ev: Event) {
        if let Err(e) = self.events.try_send(ev) {
            tracing::warn!(cause = %e, "cluster event dropped");
        }
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        let mut conn = self.conn();
        let key = node_key(&self.node);
        async move {
            // Dropping the heartbeat lets the other nodes reap this node's users at once.
            let del = conn.del::<_, ()>(key);
            let _ = tokio::time::timeout(Duration::from_secs(1), del).await;
        }
        .boxed()
    }
}

#[async_trait]
impl SharedLog for Cluster {
    /// Not while the bus is down or this node has not re-asserted its users since; then a
    /// PING, asked anew on each call: cheap, and never stale. The connection manager
    /// reconnects on its own, so a Redis that comes back is seen at the next call.
    async fn lost(&self) -> String {
        let mut rx = self.lost.subscribe();
        let reason = rx
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|r| r.clone());
        match reason {
            Some(r) => r,
            None => std::future::pending().await,
        }
    }

    async fn ready(&self) -> Result<(), String> {
        if !self.bus_up.load(Ordering::Relaxed) {
            return Err("the cluster bus (redis pub/sub) is down; reconnecting".into());
        }
        self.durability().map_err(|e| e.to_string())?;
        let mut conn = self.conn();
        let cmd = redis::cmd("PING");
        let ping = cmd.query_async::<String>(&mut conn);
        match tokio::time::timeout(READY_PING_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("redis: {e}")),
            Err(_) => Err(format!(
                "redis did not answer a PING within {} ms",
                READY_PING_TIMEOUT.as_millis()
            )),
        }
    }

    async fn append(&self, msg: Outgoing<'_>) -> Result<Published, StoreError> {
        self.durability()?;
        let Outgoing {
            channel,
            sender,
            text,
            ts,
            client_id,
            to,
            author,
            meta,
        } = msg;
        // The bus payload minus its id, which the script appends (it is known only there).
        let head = serde_json::to_string(&Event::Message {
            ch: channel.into(),
            s: sender.to_string(),
            t: text.to_string(),
            ts,
            to: to.map(|t| t.to_string()).unwrap_or_default(),
            a: author.unwrap_or(0),
            g: meta.target.unwrap_or(0),
            f: meta.flags(),
            m: meta.mentions_text().unwrap_or_default(),
            id: 0,
        })
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let head = head.strip_suffix("0}").unwrap_or(&head).to_string();
        let (flag, value): (i64, String) = Script::new(PUBLISH_LUA)
            .key(seq_key(channel))
            .key(log_key(channel))
            // An account's client ids are its own, never a former guest's of the same name.
            .key(dedup_key(
                &author.map_or_else(|| sender.to_string(), |a| format!("#{a}")),
            ))
            .key(edit_entries_key(channel))
            .arg(channel)
            .arg(sender.as_str())
            .arg(text.as_str())
            .arg(ts)
            .arg(client_id.map(|c| c.as_str()).unwrap_or(""))
            .arg(self.maxlen)
            .arg(head)
            .arg(DEDUP_TTL_SECS)
            .arg(BUS)
            .arg(author.unwrap_or(0))
            .arg(meta.target.map(|g| g.to_string()).unwrap_or_default())
            .arg(meta.flags())
            .arg(meta.mentions_text().unwrap_or_default())
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if flag == 1 {
            let id = value
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("bad id {value}")))?;
            return Ok(Published::Stored(id));
        }
        let mut parts = value.rsplitn(3, '|');
        let ts = parts.next().and_then(|v| v.parse().ok());
        let id = parts.next().and_then(|v| v.parse().ok());
        let ch = parts.next();
        match (ch, id, ts) {
            (Some(_channel), Some(id), Some(ts)) => Ok(Published::Duplicate(StoredAck { id, ts })),
            _ => Err(StoreError::Corrupt(format!("bad dedup entry {value}"))),
        }
    }
}
