//! [`RedisRelay`]: long-polling requests between nodes over Redis pub/sub. Each node listens
//! on `chat:relay:<node>`; a request names the node to answer (its own channel) and a number
//! the answer carries back. A request published to a channel nobody listens on (the node is
//! gone) is known at once: PUBLISH counts no receiver.

use super::Cluster;
use crate::broker::relay::{Forwarded, Relay, RelayHandler, Reply};
use crate::util::lock;
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::oneshot;

/// Requests this node waits answers for at once; past it, a request is answered as lost.
const MAX_PENDING: usize = 65_536;

#[derive(Serialize, Deserialize)]
#[serde(tag = "k")]
enum Wire {
    #[serde(rename = "q")]
    Request {
        id: u64,
        from: String,
        req: Forwarded,
    },
    #[serde(rename = "a")]
    Answer { id: u64, reply: Reply },
}

fn channel(node: &str) -> String {
    format!("chat:relay:{node}")
}

pub struct RedisRelay {
    cluster: Weak<Cluster>,
    node: String,
    next: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
}

impl RedisRelay {
    pub(super) fn new(cluster: Weak<Cluster>, node: String) -> RedisRelay {
        RedisRelay {
            cluster,
            node,
            next: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
        }
    }

    async fn publish(&self, node: &str, wire: &Wire) -> Option<i64> {
        let payload = serde_json::to_string(wire).ok()?;
        let mut conn = self.cluster.upgrade()?.conn();
        conn.publish::<_, _, i64>(channel(node), payload).await.ok()
    }

    fn answered(&self, id: u64, reply: Reply) {
        if let Some(tx) = lock(&self.pending).remove(&id) {
            let _ = tx.send(reply);
        }
    }
}

#[async_trait]
impl Relay for RedisRelay {
    async fn forward(&self, node: &str, req: Forwarded, within: Duration) -> Option<Reply> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if pending.len() >= MAX_PENDING {
                return None;
            }
            pending.insert(id, tx);
        }
        let wire = Wire::Request {
            id,
            from: self.node.clone(),
            req,
        };
        let reply = match self.publish(node, &wire).await {
            Some(n) if n > 0 => tokio::time::timeout(within, rx)
                .await
                .ok()
                .and_then(Result::ok),
            _ => None,
        };
        lock(&self.pending).remove(&id);
        reply
    }

    fn serve(&self, handler: Arc<dyn RelayHandler>) {
        let Some(cluster) = self.cluster.upgrade() else {
            return;
        };
        let task = tokio::spawn(listen(self.cluster.clone(), handler));
        lock(&cluster.tasks).push(task);
    }
}

/// Serves this node's channel until the node closes, subscribing again after a break.
async fn listen(cluster: Weak<Cluster>, handler: Arc<dyn RelayHandler>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(c) = cluster.upgrade() else { return };
        let client = c.client.clone();
        let mine = channel(&c.node);
        drop(c);
        let subscribed = match client.get_async_pubsub().await {
            Ok(mut ps) => ps.subscribe(&mine).await.is_ok().then_some(ps),
            Err(_) => None,
        };
        let Some(ps) = subscribed else {
            tracing::warn!("cannot subscribe to the relay channel; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
            continue;
        };
        backoff = Duration::from_millis(100);
        let mut stream = ps.into_on_message();
        while let Some(msg) = stream.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            let Some(c) = cluster.upgrade() else { return };
            let relay = c.relay_bus();
            match serde_json::from_str::<Wire>(&payload) {
                Ok(Wire::Answer { id, reply }) => relay.answered(id, reply),
                Ok(Wire::Request { id, from, req }) => {
                    let handler = handler.clone();
                    tokio::spawn(async move {
                        let reply = handler.handle(req).await;
                        relay.publish(&from, &Wire::Answer { id, reply }).await;
                    });
                }
                Err(e) => tracing::warn!(cause = %e, "unreadable relay message"),
            }
        }
        tracing::warn!("the relay subscription closed; subscribing again");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}
