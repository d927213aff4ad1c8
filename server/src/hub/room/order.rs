//! A room's order: ids settle in order even when appends complete out of order, and what is
//! next in order is delivered (posted to the room, or handed to the users of a direct message).

use super::fanout::{HashedNick, Skip};
use super::{Room, RoomState};
use crate::hub::broadcast::Fanout;
use crate::hub::users::Peer;
use crate::util::lock;
use shared::{ChatMessage, MessageId, Nickname, ServerMessage};
use std::sync::Arc;

pub(crate) enum Targets {
    /// Every room member; a demo-protocol sender does not get its own message back.
    Room { sender: Nickname },
    /// The two ends of a direct conversation.
    Users(Vec<Peer>),
}

pub(crate) struct Delivery {
    pub(crate) fanout: Arc<Fanout>,
    pub(crate) targets: Targets,
}

impl Delivery {
    /// A room message, to every member of the room.
    pub(crate) fn room(msg: ChatMessage) -> Delivery {
        let sender = msg.sender.clone();
        Delivery {
            fanout: Fanout::event(ServerMessage::Message(msg)),
            targets: Targets::Room { sender },
        }
    }
}

impl RoomState {
    pub(crate) fn settle(&mut self, id: MessageId, delivery: Option<Delivery>, queue_cap: usize) {
        self.pending.insert(id, delivery);
        self.drain(queue_cap);
    }

    /// Delivers pending messages while the next id in order is there. A run of several
    /// (one group commit's worth, under load) reaches each member in one queue operation.
    pub(crate) fn drain(&mut self, queue_cap: usize) {
        let mut ready = Vec::new();
        while let Some(next) = self.pending.remove(&(self.settled + 1)) {
            self.settled += 1;
            ready.extend(next);
        }
        let Some(first) = ready.first() else { return };
        if let Targets::Users(_) = first.targets {
            for d in &ready {
                match &d.targets {
                    Targets::Users(peers) => peers.iter().for_each(|p| p.deliver(&d.fanout)),
                    Targets::Room { .. } => self.deliver_room(std::slice::from_ref(d), queue_cap),
                }
            }
            return;
        }
        self.deliver_room(&ready, queue_cap);
    }

    /// Room messages, in order, to every member (not back to a demo-protocol sender).
    pub(crate) fn deliver_room(&mut self, ready: &[Delivery], queue_cap: usize) {
        if self.joining > 0 {
            for m in self.members.values_mut() {
                for d in ready {
                    let own =
                        matches!(&d.targets, Targets::Room { sender } if *sender == m.peer.nick);
                    if !(m.peer.demo && own) {
                        m.buffer(&d.fanout, queue_cap);
                    }
                }
            }
        }
        for d in ready {
            match &d.targets {
                Targets::Room { sender } => {
                    self.post(d.fanout.clone(), Skip::DemoSender(HashedNick::new(sender)));
                }
                Targets::Users(peers) => peers.iter().for_each(|p| p.deliver(&d.fanout)),
            }
        }
    }
}

/// Settles an assigned id even if the publishing task is cancelled mid-way, so one dropped
/// future can never stall a room's deliveries.
pub(crate) struct PendingId {
    pub(crate) room: Arc<Room>,
    pub(crate) id: MessageId,
    pub(crate) queue_cap: usize,
    pub(crate) done: bool,
}

impl PendingId {
    /// Records the outcome without delivering yet; the returned guard delivers what is ready.
    /// Sends completing together (one group commit) then leave in one run per receiver.
    pub(crate) fn record(mut self, delivery: Option<Delivery>) -> Drain {
        self.done = true;
        lock(&self.room.state).pending.insert(self.id, delivery);
        Drain {
            room: self.room.clone(),
            queue_cap: self.queue_cap,
        }
    }
}

/// Delivers a room's pending messages that are next in order, when dropped.
pub(crate) struct Drain {
    pub(crate) room: Arc<Room>,
    pub(crate) queue_cap: usize,
}

impl Drop for Drain {
    fn drop(&mut self) {
        lock(&self.room.state).drain(self.queue_cap);
    }
}

impl Drop for PendingId {
    fn drop(&mut self) {
        if !self.done {
            lock(&self.room.state).settle(self.id, None, self.queue_cap);
        }
    }
}
