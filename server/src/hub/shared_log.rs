//! The message log shared by several nodes: it assigns the id, keeps the message and
//! publishes it to every node, whose hub delivers it from the event (`event.rs`).

use super::idempotency::InflightGuard;
use super::publish::{AckInfo, Dest, MessageLog, Outbound, Publishing};
use super::Hub;
use crate::broker::{Outgoing, Published, SharedLog};
use crate::error::{RequestError, StoreError};
use crate::metrics::Metrics;
use crate::store::dm_channel;
use crate::util::now_ms;
use async_trait::async_trait;
use std::sync::Arc;

pub(super) struct SharedLogRef(pub(super) Arc<dyn SharedLog>);

#[async_trait]
impl MessageLog for SharedLogRef {
    async fn begin(&self, hub: &Arc<Hub>, send: Outbound<'_>) -> Result<Publishing, RequestError> {
        let ts = now_ms();
        let (channel, to) = match &send.dest {
            Dest::Room(room, _) => (room.key.clone(), None),
            Dest::User(to, _) => (dm_channel(&send.from.nick, to), Some(to)),
        };
        let r = self
            .0
            .append(Outgoing {
                channel: &channel,
                sender: &send.from.nick,
                text: &send.text,
                ts,
                client_id: send.client_id.as_ref(),
                to,
                author: send.from.account(),
                meta: &send.meta,
            })
            .await;
        ack(hub, r, ts, send.guard).map(Publishing::Done)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn ready(&self) -> Result<(), String> {
        self.0.ready().await
    }

    /// Redis coming back is normal (the connection reconnects): not a reason to exit. Redis
    /// coming back without the history (its epoch gone) is.
    async fn failed(&self) -> String {
        self.0.lost().await
    }
}

fn ack(
    hub: &Hub,
    r: Result<Published, StoreError>,
    ts: shared::Timestamp,
    guard: Option<InflightGuard>,
) -> Result<AckInfo, RequestError> {
    let ack = match hub.store_call(r)? {
        Published::Stored(id) => {
            Metrics::inc(&hub.metrics.messages_stored);
            AckInfo {
                id,
                ts,
                duplicate: false,
            }
        }
        Published::Duplicate(orig) => AckInfo {
            id: orig.id,
            ts: orig.ts,
            duplicate: true,
        },
    };
    if let Some(g) = guard {
        g.finish(Ok(AckInfo {
            duplicate: true,
            ..ack
        }));
    }
    Ok(ack)
}
