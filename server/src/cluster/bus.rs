//! The bus (`chat:bus` pub/sub) and the shared message log: one Lua script assigns a
//! channel's next id, appends to its stream, records the client id and publishes, atomically,
//! so every node sees a channel's messages in id order.

use super::{dedup_key, log_key, node_key, seq_key, unavailable, Cluster, BUS, DEDUP_TTL_SECS};
use crate::broker::{Broker, Event, EventHandler, Outgoing, Published, SharedLog};
use crate::error::StoreError;
use crate::store::StoredAck;
use crate::util::lock;
use async_trait::async_trait;
use futures_util::future::{BoxFuture, FutureExt};
use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// How long `/readyz` waits for Redis to answer: a load balancer's probe should not hang.
const READY_PING_TIMEOUT: Duration = Duration::from_millis(1000);

const PUBLISH_LUA: &str = r"
local cid = ARGV[5]
if cid ~= '' then
  local prev = redis.call('HGET', KEYS[3], cid)
  if prev then return {0, prev} end
end
local id = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], id .. '-0', 's', ARGV[2], 't', ARGV[3], 'ts', ARGV[4], 'c', cid)
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

/// Publishes this node's events in the order they were queued.
pub(super) async fn publisher(mut conn: ConnectionManager, mut queue: mpsc::Receiver<Event>) {
    while let Some(ev) = queue.recv().await {
        if let Err(e) = publish_now(&mut conn, &ev).await {
            tracing::warn!(cause = %e, "publishing a cluster event failed");
        }
    }
}

/// Hands each bus event to `handler`; when the subscription breaks (Redis restarted, say),
/// subscribes again with backoff and has the handler catch up from history first.
async fn subscriber(cluster: Weak<Cluster>, handler: Arc<dyn EventHandler>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(c) = cluster.upgrade() else { return };
        let subscribed = c.subscribe().await;
        drop(c);
        match subscribed {
            Ok(pubsub) => {
                backoff = Duration::from_millis(100);
                handler.on_reconnect().await;
                let mut stream = pubsub.into_on_message();
                while let Some(msg) = stream.next().await {
                    let Ok(payload) = msg.get_payload::<String>() else {
                        continue;
                    };
                    match serde_json::from_str::<Event>(&payload) {
                        Ok(ev) => handler.on_event(ev),
                        Err(e) => tracing::warn!(cause = %e, "unreadable bus event"),
                    }
                }
                tracing::warn!("cluster bus subscription lost");
            }
            Err(e) => tracing::warn!(cause = %e, "cannot subscribe to the cluster bus"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

impl Cluster {
    /// A pub/sub subscription to the bus (subscribed again by the caller when it ends).
    async fn subscribe(&self) -> Result<redis::aio::PubSub, StoreError> {
        let client = redis::Client::open(self.url.as_str()).map_err(unavailable)?;
        let mut ps = tokio::time::timeout(Duration::from_secs(3), client.get_async_pubsub())
            .await
            .map_err(|_| StoreError::Unavailable("redis pubsub connect timed out".into()))?
            .map_err(unavailable)?;
        ps.subscribe(BUS).await.map_err(unavailable)?;
        Ok(ps)
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
    /// A PING, asked anew on each call: cheap, and never stale. The connection manager
    /// reconnects on its own, so a Redis that comes back is seen at the next call.
    async fn ready(&self) -> Result<(), String> {
        let mut conn = self.conn.clone();
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
        let Outgoing {
            channel,
            sender,
            text,
            ts,
            client_id,
            to,
        } = msg;
        // The bus payload minus its id, which the script appends (it is known only there).
        let head = serde_json::to_string(&Event::Message {
            ch: channel.into(),
            s: sender.to_string(),
            t: text.to_string(),
            ts,
            to: to.map(|t| t.to_string()).unwrap_or_default(),
            id: 0,
        })
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let head = head.strip_suffix("0}").unwrap_or(&head).to_string();
        let (flag, value): (i64, String) = Script::new(PUBLISH_LUA)
            .key(seq_key(channel))
            .key(log_key(channel))
            .key(dedup_key(sender.as_str()))
            .arg(channel)
            .arg(sender.as_str())
            .arg(text.as_str())
            .arg(ts)
            .arg(client_id.map(|c| c.as_str()).unwrap_or(""))
            .arg(self.maxlen)
            .arg(head)
            .arg(DEDUP_TTL_SECS)
            .arg(BUS)
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
