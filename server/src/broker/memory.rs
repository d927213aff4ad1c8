//! The seams for a node on its own: events go straight back to this node's hub, and names and
//! memberships live in this process.

use super::{Broker, Change, Claim, Event, EventHandler, Presence, Registry, Restored};
use crate::error::StoreError;
use crate::nick_key::NickKey;
use crate::util::{lock, random_hex};
use async_trait::async_trait;
use futures_util::future::{ready, BoxFuture, FutureExt};
use shared::{Nickname, RoomInfo, RoomName};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

/// Hands each event to this node's hub, at once.
pub struct LocalBroker {
    node: String,
    handler: OnceLock<Arc<dyn EventHandler>>,
}

impl Default for LocalBroker {
    fn default() -> Self {
        LocalBroker {
            node: random_hex(),
            handler: OnceLock::new(),
        }
    }
}

impl Broker for LocalBroker {
    fn node(&self) -> &str {
        &self.node
    }

    fn subscribe(&self, handler: Arc<dyn EventHandler>) {
        let _ = self.handler.set(handler);
    }

    fn publish(&self, ev: Event) {
        if let Some(h) = self.handler.get() {
            h.on_event(ev);
        }
    }

    fn close(&self) -> BoxFuture<'static, ()> {
        ready(()).boxed()
    }
}

/// A node on its own: no other node holds a name (this node's own users are the hub's).
pub struct LocalRegistry;

#[async_trait]
impl Registry for LocalRegistry {
    async fn claim(
        &self,
        _key: &NickKey,
        _nick: &Nickname,
        _token: &str,
        _resume: Option<&str>,
    ) -> Result<Claim, StoreError> {
        Ok(Claim::New)
    }

    fn release(&self, _key: &NickKey) {}

    async fn online(&self, _key: &NickKey) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// Nothing to write again: no outage removes what this process holds.
    async fn reassert(&self, _users: Vec<(NickKey, String)>) -> Result<Vec<NickKey>, StoreError> {
        Ok(Vec::new())
    }
}

/// Room memberships of this node's users, by name.
#[derive(Default)]
pub struct LocalPresence {
    /// Only rooms someone is in: the last to leave removes the entry.
    rooms: Mutex<BTreeMap<RoomName, BTreeSet<Nickname>>>,
}

impl Presence for LocalPresence {
    fn join(&self, room: &RoomName, nick: &Nickname) -> BoxFuture<'static, Change> {
        let mut rooms = lock(&self.rooms);
        let members = rooms.entry(room.clone()).or_default();
        let added = members.insert(nick.clone());
        ready(Ok(added.then_some(members.len()))).boxed()
    }

    fn leave(&self, room: &RoomName, nick: &Nickname) -> BoxFuture<'static, Change> {
        let mut rooms = lock(&self.rooms);
        let changed = rooms
            .get_mut(room)
            .and_then(|m| m.remove(nick).then_some(m.len()));
        if changed == Some(0) {
            rooms.remove(room);
        }
        ready(Ok(changed)).boxed()
    }

    fn members(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Nickname>, StoreError>> {
        let rooms = lock(&self.rooms);
        let names = rooms
            .get(room)
            .map(|m| m.iter().take(limit).cloned().collect())
            .unwrap_or_default();
        ready(Ok(names)).boxed()
    }

    fn rooms(
        &self,
        after: Option<RoomName>,
        limit: usize,
    ) -> BoxFuture<'static, Result<(Vec<RoomInfo>, bool), StoreError>> {
        use std::ops::Bound::{Excluded, Unbounded};
        let rooms = lock(&self.rooms);
        let from = after.map_or(Unbounded, Excluded);
        let mut out: Vec<RoomInfo> = rooms
            .range((from, Unbounded))
            .take(limit + 1)
            .map(|(name, m)| RoomInfo {
                name: name.clone(),
                members: m.len() as u32,
            })
            .collect();
        let more = out.len() > limit;
        out.truncate(limit);
        ready(Ok((out, more))).boxed()
    }

    /// Nothing to write again: no outage removes what this process holds.
    fn reassert(&self, _memberships: Vec<(RoomName, Nickname)>) -> BoxFuture<'static, Restored> {
        ready(Ok(Vec::new())).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(n: &str) -> Nickname {
        Nickname::new(n).expect("nick")
    }

    #[tokio::test]
    async fn presence_reports_changes_only() {
        let p = LocalPresence::default();
        let room = RoomName::default_room();
        assert_eq!(p.join(&room, &nick("a")).await.ok(), Some(Some(1)));
        assert_eq!(
            p.join(&room, &nick("a")).await.ok(),
            Some(None),
            "already there"
        );
        assert_eq!(p.join(&room, &nick("b")).await.ok(), Some(Some(2)));
        assert_eq!(p.leave(&room, &nick("a")).await.ok(), Some(Some(1)));
        assert_eq!(
            p.leave(&room, &nick("a")).await.ok(),
            Some(None),
            "already gone"
        );
        let members = p.members(&room, 10).await.expect("members");
        assert_eq!(members, vec![nick("b")]);
    }
}
