//! After an outage of the cluster backend (the bus was down, or this node looked dead to the
//! others, which may then have removed its users and memberships): write them again, then
//! catch up on the messages this node missed.

use super::Hub;
use crate::broker::Event;
use crate::error::StoreError;
use crate::nick_key::NickKey;
use crate::util::lock;
use shared::{CloseReason, RoomName};
use std::collections::HashSet;
use std::sync::Arc;

impl Hub {
    /// Re-claims this node's users (a nickname another node claimed meanwhile ends its
    /// session here with 4001: a name is never held twice), records their memberships again (telling
    /// the rooms of those that had been removed), then fills every room's gap from history.
    pub(super) async fn recover(self: &Arc<Self>) -> Result<(), StoreError> {
        // Only guests claim names in the registry: an account's name is its own everywhere.
        let users: Vec<(NickKey, String)> = lock(&self.users)
            .iter()
            .filter(|(_, e)| e.claimed && e.account().is_none())
            .map(|(key, e)| (key.clone(), e.resume_token()))
            .collect();
        let lost: HashSet<NickKey> = self.registry.reassert(users).await?.into_iter().collect();
        for key in &lost {
            let peer = lock(&self.users).get(key).and_then(|e| e.first().cloned());
            if let Some(p) = peer {
                tracing::warn!(nick = %p.nick, "nickname claimed on another node during an outage");
                p.conn.close(CloseReason::NickTaken);
            }
        }
        let rooms: Vec<_> = lock(&self.rooms).values().cloned().collect();
        let mut memberships = Vec::new();
        for room in rooms {
            // A direct conversation has no presence.
            let name = match RoomName::new(room.key.as_str()) {
                Ok(name) if !room.key.starts_with("dm:") => name,
                _ => continue,
            };
            let st = lock(&room.state);
            for nick in st.nicks.keys() {
                if !lost.contains(&NickKey::of(nick)) {
                    memberships.push((name.clone(), nick.clone()));
                }
            }
        }
        for (room, nick, size) in self.presence.reassert(memberships).await? {
            let peer = self.user(&nick);
            let demo = peer.as_ref().is_none_or(|p| p.demo);
            let g = peer.as_ref().is_none_or(|p| p.guest());
            if !demo && size <= self.config.presence_limit {
                self.broker.publish(Event::Presence {
                    room: room.to_string(),
                    nick: nick.to_string(),
                    joined: true,
                    g,
                });
            }
        }
        self.catch_up().await;
        Ok(())
    }
}
