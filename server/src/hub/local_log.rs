//! The message log of a node on its own: ids are assigned here, under the room's lock, and
//! the journal keeps the messages. The hot path of a send.

use super::broadcast::Fanout;
use super::publish::{AckInfo, Dest, MessageLog, Outbound, Publishing};
use super::room::{Delivery, Drain, PendingId, Room, Targets};
use super::Hub;
use crate::error::{RequestError, StoreError};
use crate::metrics::Metrics;
use crate::outbound::Flusher;
use crate::store::{dm_channel, Appended, Journal, StoredMessage};
use crate::util::{lock, now_ms};
use async_trait::async_trait;
use shared::{ChatMessage, ServerMessage};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

pub(super) struct LocalLog {
    journal: Arc<dyn Journal>,
}

impl LocalLog {
    pub(super) fn new(journal: Arc<dyn Journal>, flusher: &Flusher) -> LocalLog {
        // Weak: the flusher's tasks outlive the hub until the runtime stops, and the journal
        // must close (its writer flushes and exits) when the hub is dropped.
        let weak = Arc::downgrade(&journal);
        flusher.when_idle(move || {
            if let Some(journal) = weak.upgrade() {
                journal.deliveries_idle();
            }
        });
        LocalLog { journal }
    }
}

#[async_trait]
impl MessageLog for LocalLog {
    /// Assigns the id under the room's lock and hands the message to the journal. What is
    /// left (waiting for the journal, then delivering and acking) comes back as a future, so
    /// a connection reads its next message meanwhile and a sender's messages share group
    /// commits.
    async fn begin(&self, hub: &Arc<Hub>, send: Outbound<'_>) -> Result<Publishing, RequestError> {
        let Outbound {
            from,
            dest,
            text,
            client_id,
            guard,
            meta,
        } = send;
        let (room, id, ts) = loop {
            let room: Arc<Room> = match &dest {
                Dest::Room(room, _) => room.clone(),
                Dest::User(to, _) => hub.room(&dm_channel(&from.nick, to), None).await?,
            };
            let mut st = lock(&room.state);
            if st.closed {
                // Released since it was looked up: a direct conversation is made anew (its
                // ids continuing from the store); a room was left by everyone, sender included.
                match &dest {
                    Dest::Room(_, name) => return Err(RequestError::NotInRoom(name.to_string())),
                    Dest::User(..) => continue,
                }
            }
            st.assigned += 1;
            let id = st.assigned;
            drop(st);
            break (room, id, now_ms());
        };
        // A direct conversation has no members: it leaves memory once this message is through.
        let release = matches!(dest, Dest::User(..)).then(|| (hub.clone(), room.clone()));
        let pending = PendingId {
            room: room.clone(),
            id,
            queue_cap: hub.config.outbound_queue,
            done: false,
        };
        let stored = StoredMessage {
            channel: room.key.clone(),
            id,
            sender: from.nick.clone(),
            text,
            ts,
            client_id,
            author: from.account(),
            meta,
        };
        let delivery = match dest {
            Dest::Room(_, room) => Delivery::room(ChatMessage {
                id,
                room,
                sender: stored.sender.clone(),
                text: stored.text.clone(),
                ts,
                guest: stored.author.is_none(),
                target: stored.meta.target,
                edited: stored.meta.edited,
                deleted: stored.meta.deleted,
                mentions: stored.meta.mentions.clone(),
            }),
            Dest::User(to, peers) => Delivery {
                fanout: Fanout::event(ServerMessage::Direct(stored.to_direct(to))),
                targets: Targets::Users(peers),
            },
        };
        // The store takes the message now, in id order (the memory store stores it at once).
        let journal = self.journal.clone();
        let mut append = Box::pin(async move { journal.append_marked(stored).await });
        // Announced before the store sees the message: until it is posted, the flusher does
        // not count as idle (the store may put work off until then; see `deliveries_idle`).
        let coming = hub.flusher.coming();
        let first = append.as_mut().poll(&mut Context::from_waker(
            futures_util::task::noop_waker_ref(),
        ));
        let owner = hub.clone();
        // Stored (where a crash of this process cannot lose it): the room delivers it, in id
        // order. The ack waits until it is durable (see `after_delivery`).
        let finish =
            move |r: Result<(Appended, u64), StoreError>| -> (Result<(AckInfo, u64), RequestError>, Drain) {
                match owner.store_call(r) {
                    Ok((Appended::Stored, mark)) => {
                        Metrics::inc(&owner.metrics.messages_stored);
                        let ack = AckInfo {
                            id,
                            ts,
                            duplicate: false,
                        };
                        (Ok((ack, mark)), pending.record(Some(delivery)))
                    }
                    Ok((Appended::Duplicate(original), mark)) => {
                        // Stored before (perhaps before a restart): this id stays a hole.
                        let ack = AckInfo {
                            id: original.id,
                            ts: original.ts,
                            duplicate: true,
                        };
                        (Ok((ack, mark)), pending.record(None))
                    }
                    Err(e) => (Err(e), pending.record(None)),
                }
            };
        let hub = hub.clone();
        let journal = self.journal.clone();
        // After delivery: waits until the store has the message on disk, then settles what a
        // racing resend of the same client id gets, and returns the ack.
        let after_delivery = move |result: Result<(AckInfo, u64), RequestError>| async move {
            let result = match result {
                Ok((ack, mark)) => match journal.wait_durable(mark).await {
                    Ok(()) => Ok(ack),
                    Err(e) => hub.store_call(Err(e)),
                },
                Err(e) => Err(e),
            };
            if let (Some(g), Ok(ack)) = (guard, &result) {
                g.finish(Ok(AckInfo {
                    duplicate: true,
                    ..*ack
                }));
            }
            result
        };
        match first {
            Poll::Ready(r) => {
                let (result, drain) = finish(r);
                drop(drain);
                drop(coming);
                if let Some((hub, room)) = release {
                    hub.release_if_idle(&room);
                }
                let mut rest = Box::pin(after_delivery(result));
                match rest.as_mut().poll(&mut Context::from_waker(
                    futures_util::task::noop_waker_ref(),
                )) {
                    Poll::Ready(r) => r.map(Publishing::Done),
                    Poll::Pending => Ok(Publishing::Storing(rest)),
                }
            }
            Poll::Pending => {
                // The flusher's next pass waits (briefly) for this post.
                Ok(Publishing::Storing(Box::pin(async move {
                    let (result, drain) = finish(append.await);
                    // The other sends of this group commit were woken with this one: let them
                    // record their outcome first, so the room delivers them all in one run.
                    tokio::task::yield_now().await;
                    drop(drain);
                    drop(coming);
                    if let Some((hub, room)) = release {
                        hub.release_if_idle(&room);
                    }
                    after_delivery(result).await
                })))
            }
        }
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.journal.flush().await
    }

    async fn ready(&self) -> Result<(), String> {
        self.journal.ready().await
    }

    async fn failed(&self) -> String {
        self.journal.failed().await
    }
}
