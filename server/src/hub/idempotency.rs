//! Idempotent sends: one send of a client id in flight at a time.

use super::publish::AckInfo;
use super::Hub;
use crate::util::lock;
use shared::{ClientMsgId, Nickname};
use std::sync::Arc;
use tokio::sync::watch;

/// By the sender's account, or a guest's nickname as registered, like the store's record of
/// finished sends. (Not by its uniqueness key: computing that costs microseconds, and this
/// runs on every send.)
pub(crate) type InflightKey = (Nickname, Option<u64>, ClientMsgId);
pub(crate) type InflightResult = Option<Result<AckInfo, ()>>;

/// Removes an in-flight idempotency entry however the send ends.
pub(crate) struct InflightGuard {
    pub(crate) hub: Arc<Hub>,
    pub(crate) key: Option<InflightKey>,
    pub(crate) tx: watch::Sender<InflightResult>,
}

impl InflightGuard {
    pub(crate) fn finish(self, result: Result<AckInfo, ()>) {
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
    /// Either a guard making this the only send of `cid` in flight, or the ack of a concurrent
    /// send of the same id that has just finished. (Sends finished earlier, even before a
    /// restart, are recognised by the store's `append`.)
    pub(super) async fn begin_idempotent(
        self: &Arc<Self>,
        nick: &Nickname,
        account: Option<u64>,
        cid: &ClientMsgId,
    ) -> Result<InflightGuard, AckInfo> {
        let key = (nick.clone(), account, cid.clone());
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
