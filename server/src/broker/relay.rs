//! [`Relay`]: a long-polling session's requests that land on another node go to the node
//! that holds the session, and its answer comes back, so a cluster needs no sticky sessions.
//! `crate::cluster` carries them over Redis; a node on its own has no relay.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// One request of a session, as the node holding it should act on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Forwarded {
    pub session: String,
    pub op: Op,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Op {
    /// `GET`: the messages after `ack`, waiting at most `wait_ms` (when the client set it)
    /// besides the server's poll wait.
    #[serde(rename = "get")]
    Get {
        ack: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_ms: Option<u64>,
    },
    /// `POST`: the body's messages (checked for size and UTF-8 where it arrived).
    #[serde(rename = "post")]
    Post { body: String },
    /// `DELETE`: the session ends (1000).
    #[serde(rename = "delete")]
    Delete,
    /// A body over the size limit arrived: the session closes (1009).
    #[serde(rename = "too_big")]
    TooBig,
    /// A body that is not UTF-8 arrived: the session closes (1007).
    #[serde(rename = "not_utf8")]
    NotUtf8,
}

/// The answer of the node holding the session: what the client gets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<u16>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
}

/// What serves the requests forwarded to this node.
#[async_trait]
pub trait RelayHandler: Send + Sync {
    async fn handle(&self, req: Forwarded) -> Reply;
}

#[async_trait]
pub trait Relay: Send + Sync {
    /// Sends `req` to `node` and waits for its answer; `None` when no node by that name
    /// listens, or it did not answer `within`.
    async fn forward(&self, node: &str, req: Forwarded, within: Duration) -> Option<Reply>;
    /// Starts serving requests forwarded to this node with `handler`.
    fn serve(&self, handler: Arc<dyn RelayHandler>);
}
