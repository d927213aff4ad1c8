//! `--redis-durable`: Redis must write every command to its append-only file and fsync it
//! before answering, or an ack could name a message that a Redis host crash loses.

use super::Cluster;
use crate::error::StoreError;
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

/// Asks Redis (`CONFIG GET`) how it persists; refuses anything but `appendonly yes` with
/// `appendfsync always`. (`WAITAOF` would say it per write, but needs Redis 7.2.)
pub(super) async fn check(conn: &ConnectionManager) -> Result<(), StoreError> {
    let appendonly = setting(conn, "appendonly").await?;
    let appendfsync = setting(conn, "appendfsync").await?;
    if appendonly == "yes" && appendfsync == "always" {
        return Ok(());
    }
    Err(StoreError::Unavailable(format!(
        "--redis-durable: Redis runs with appendonly {appendonly:?} and appendfsync \
         {appendfsync:?}; it needs `appendonly yes` and `appendfsync always` (CONFIG SET them, \
         or start redis-server with --appendonly yes --appendfsync always)"
    )))
}

async fn setting(conn: &ConnectionManager, name: &str) -> Result<String, StoreError> {
    let got: HashMap<String, String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(&mut conn.clone())
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "--redis-durable: cannot read Redis's `{name}` (CONFIG GET): {e}"
            ))
        })?;
    Ok(got.get(name).cloned().unwrap_or_default())
}

impl Cluster {
    /// With `--redis-durable`, checks again (Redis may have been restarted, or reconfigured
    /// with `CONFIG SET`); appends are refused until Redis fsyncs every write again.
    pub(super) async fn recheck_durability(&self) {
        let Some(ok) = &self.durable else { return };
        match check(&self.conn()).await {
            Ok(()) => {
                if !ok.swap(true, Ordering::Relaxed) {
                    tracing::info!("Redis fsyncs every write again; accepting sends");
                }
            }
            Err(e) => {
                if ok.swap(false, Ordering::Relaxed) {
                    tracing::error!(cause = %e, "refusing sends until Redis fsyncs every write");
                }
            }
        }
    }

    /// `Err` with the reason while `--redis-durable` is set and Redis does not fsync every
    /// write.
    pub(super) fn durability(&self) -> Result<(), StoreError> {
        match &self.durable {
            Some(ok) if !ok.load(Ordering::Relaxed) => Err(StoreError::Unavailable(
                "--redis-durable: Redis no longer runs with appendonly yes and appendfsync \
                 always"
                    .into(),
            )),
            _ => Ok(()),
        }
    }
}
