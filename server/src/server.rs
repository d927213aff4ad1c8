//! The accept loop: one port for the WebSocket endpoints, long polling, `/healthz`, `/readyz` and files (`/metrics` has its own listener).

use crate::admission::Refused;
use crate::auth::accounts::sqlite::SqliteAccounts;
use crate::cluster::Cluster;
use crate::config::{Config, StoreKind};
use crate::conversations::sqlite::SqliteConversations;
use crate::error::StoreError;
use crate::http::{self, Edge};
use crate::hub::{Backends, Hub, Log};
use crate::metrics::Metrics;
use crate::store;
use shared::CloseReason;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long a cluster node waits for its first subscription to the bus before it serves.
const BUS_WAIT: Duration = Duration::from_secs(5);

/// Checks the configuration and opens the configured backends (the store and its data
/// directory's lock, or the cluster): everything that can refuse the start. `main` prints the
/// address only after this, so whoever waits for that line finds the server ready, and a
/// second server on the same data directory has already exited.
pub async fn open(config: Config) -> anyhow::Result<Arc<Hub>> {
    http::HostPolicy::new(config.listen, &config.allowed_hosts)
        .map_err(|e| anyhow::anyhow!("--allowed-hosts: {e}"))?;
    crate::auth::Auth::jwt_verifier(&config)?;
    let config = Arc::new(config);
    let counters = Arc::new(Metrics::default());
    let hub = match &config.redis {
        Some(url) => {
            let cluster =
                Cluster::connect(url, config.retention_per_room, config.redis_durable).await?;
            tracing::info!(node = %cluster.node, redis = %url, "joined the cluster");
            let backends = Backends {
                history: cluster.clone(),
                log: Log::Shared(cluster.clone()),
                broker: cluster.clone(),
                registry: cluster.clone(),
                presence: cluster.clone(),
                accounts: Arc::new(cluster.accounts()),
                conversations: Arc::new(cluster.conversations()),
                rewrites: cluster.clone(),
            };
            let hub = Hub::with_backends(config.clone(), backends, counters);
            // Served only once the node hears the other nodes (or /readyz says it does not).
            if !cluster.bus_up_within(BUS_WAIT).await {
                tracing::warn!("the cluster bus is not up yet; serving, but not ready");
            }
            hub
        }
        None => {
            let store = store::open(&config, &counters.timings).await?;
            let mut backends = Backends::single(store);
            if config.store == StoreKind::Sqlite {
                // Beside the messages, in the database the store has just opened (and migrated).
                backends.accounts = Arc::new(SqliteAccounts::open(&config.data_dir)?);
                backends.conversations = Arc::new(SqliteConversations::open(&config.data_dir)?);
            }
            Hub::with_backends(config.clone(), backends, counters)
        }
    };
    Ok(hub)
}

/// Serves `listener` with `hub` (and `/metrics` on `metrics`) until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let scrapes = metrics.map(|m| tokio::spawn(http::serve_metrics(m, hub.clone())));
    let served = serve(listener, hub, shutdown).await;
    if let Some(task) = scrapes {
        task.abort();
    }
    served?;
    Ok(())
}

/// Serves `listener` with `hub` until `shutdown` resolves; then stops accepting, closes every
/// client with 1001, waits for them up to the configured grace, and flushes the store and
/// leaves the cluster. If the store stops for good first, every client is closed with 1011
/// instead and the error says why: a process that can store nothing should exit, so that a
/// supervisor restarts it, rather than accept sends it can only refuse.
pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StoreError> {
    let edge = match Edge::new(hub.clone()) {
        Ok(edge) => {
            let edge = Arc::new(edge);
            edge.serve_relay();
            edge
        }
        Err(e) => {
            tracing::error!(cause = %e, "bad --allowed-hosts; not serving");
            return Ok(());
        }
    };
    tracing::info!("{}", edge.assets.describe());
    tracing::info!("{}", edge.hosts.describe());
    // Every connection and session holds a clone of `done_tx`; `recv()` ends when all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    let store_failed = hub.store_failed();
    tokio::pin!(store_failed);
    let mut failure = None;
    loop {
        tokio::select! {
            // Shutdown first: its first poll installs the signal handlers (`shutdown::signal`),
            // which must happen before any request is answered, or a SIGTERM right after the
            // first answer would kill the process instead of stopping it.
            biased;
            _ = &mut shutdown => break,
            reason = &mut store_failed => {
                tracing::error!(cause = %reason, "the store stopped for good; closing every client and exiting");
                failure = Some(reason);
                break;
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    Metrics::inc(&hub.metrics.connections_total);
                    match edge.gate.accept(peer, &done_tx) {
                        Ok(admission) => {
                            tokio::spawn(http::serve_connection(stream, edge.clone(), admission));
                        }
                        Err(refused) => {
                            tokio::spawn(reject(stream, refused));
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::error!(cause = %e, "failed to accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    edge.close_http();
    drop(edge);
    tracing::info!(open = hub.open_connections(), "shutting down");
    hub.close_all(match failure {
        Some(_) => CloseReason::InternalError,
        None => CloseReason::GoingAway,
    });
    drop(done_tx);
    if tokio::time::timeout(hub.config.shutdown_grace, done_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!(
            open = hub.open_connections(),
            "shutdown grace over; exiting anyway"
        );
    }
    hub.shutdown().await;
    match failure {
        Some(reason) => Err(StoreError::Unavailable(format!(
            "the store stopped for good: {reason}"
        ))),
        None => Ok(()),
    }
}

/// Turns a connection away before any HTTP is read: a fixed answer, written within a second
/// (a refused client gets no more of the server's time than that).
async fn reject(mut stream: TcpStream, refused: Refused) {
    let status = refused.status();
    let body = refused.message();
    let resp = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(resp.as_bytes())).await;
    let _ = stream.shutdown().await;
}
