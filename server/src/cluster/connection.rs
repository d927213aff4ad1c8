//! Connections to Redis. The command connection is a connection manager: it reconnects by
//! itself when Redis closes or resets it, but a connection that just goes silent (a NAT or
//! firewall that dropped it without a FIN, a hung Redis) only times out, command after
//! command, and is never replaced. The bus notices that (its heartbeat does not come back)
//! and has [`Cluster::reconnect`] open a new one. TCP keepalive and a user timeout end such a
//! connection at the kernel too, once the peer stops acknowledging.

use super::{unavailable, Cluster, BUS};
use crate::error::StoreError;
use crate::util::lock;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSub};
use redis::io::tcp::{socket2::TcpKeepalive, TcpSettings};
use redis::IntoConnectionInfo;
use std::time::Duration;

/// How long opening a connection (and its first answer) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keepalive probes after 5 s of silence, every 2 s, 3 of them: a vanished peer is seen in
/// about 11 s even with nothing to send; data unacknowledged for 10 s ends it too.
fn tcp_settings() -> TcpSettings {
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(2))
        .with_retries(3);
    TcpSettings::default()
        .set_keepalive(keepalive)
        .set_user_timeout(Duration::from_secs(10))
}

/// The client every connection to Redis is opened from, with the TCP settings above.
pub(super) fn client(url: &str) -> Result<redis::Client, StoreError> {
    let bad = |e: redis::RedisError| StoreError::Unavailable(format!("bad redis url {url}: {e}"));
    let info = url
        .into_connection_info()
        .map_err(bad)?
        .set_tcp_settings(tcp_settings());
    redis::Client::open(info).map_err(bad)
}

/// A new command connection.
pub(super) async fn open(
    client: &redis::Client,
    url: &str,
) -> Result<ConnectionManager, StoreError> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        client.get_connection_manager_with_config(config),
    )
    .await
    .map_err(|_| StoreError::Unavailable(format!("redis at {url} did not answer")))?
    .map_err(|e| StoreError::Unavailable(format!("cannot connect to redis at {url}: {e}")))
}

impl Cluster {
    /// The command connection (a cheap clone; commands on it are multiplexed).
    pub(super) fn conn(&self) -> ConnectionManager {
        lock(&self.conn).clone()
    }

    /// Replaces the command connection with a new one; commands still waiting on the old one
    /// fail. On an error the old one stays.
    pub(super) async fn reconnect(&self) -> Result<(), StoreError> {
        let fresh = open(&self.client, &self.url).await?;
        *lock(&self.conn) = fresh;
        Ok(())
    }

    /// A new pub/sub connection, subscribed to the bus. (Its silence is the bus heartbeat's
    /// to notice; keepalive ends it at the kernel too.)
    pub(super) async fn subscribe_bus(&self) -> Result<PubSub, StoreError> {
        let mut ps = tokio::time::timeout(CONNECT_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| StoreError::Unavailable("redis pubsub connect timed out".into()))?
            .map_err(unavailable)?;
        tokio::time::timeout(CONNECT_TIMEOUT, ps.subscribe(BUS))
            .await
            .map_err(|_| StoreError::Unavailable("redis SUBSCRIBE timed out".into()))?
            .map_err(unavailable)?;
        Ok(ps)
    }
}
