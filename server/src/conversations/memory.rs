//! [`Conversations`] in memory: for `--store memory` and tests. Gone at a restart, like the
//! memory store's messages.

use super::{
    Added, Conversations, RoomRules, Sanction, SanctionKind, MAX_CONVERSATIONS, MAX_GUEST_BANS,
    MAX_SANCTIONS_PER_ROOM,
};
use crate::auth::AccountId;
use crate::error::StoreError;
use crate::util::lock;
use async_trait::async_trait;
use shared::{MessageId, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// One entry of an account's conversations.
#[derive(Clone, Copy)]
struct Entry {
    read: MessageId,
    active: Timestamp,
    muted: bool,
}

#[derive(Default)]
struct Tables {
    rules: HashMap<String, RoomRules>,
    convs: HashMap<AccountId, BTreeMap<String, Entry>>,
    sanctions: HashMap<String, BTreeMap<(String, SanctionKind), Timestamp>>,
    guest_names: HashMap<String, Timestamp>,
    guest_addrs: HashMap<String, Timestamp>,
}

#[derive(Default)]
pub struct MemoryConversations {
    t: Mutex<Tables>,
}

impl MemoryConversations {
    pub fn new() -> MemoryConversations {
        MemoryConversations::default()
    }
}

fn is_dm(channel: &str) -> bool {
    channel.starts_with("dm:")
}

#[async_trait]
impl Conversations for MemoryConversations {
    async fn rules(&self, room: &str) -> Result<Option<RoomRules>, StoreError> {
        Ok(lock(&self.t).rules.get(room).copied())
    }

    async fn create_room(&self, room: &str, rules: RoomRules) -> Result<bool, StoreError> {
        let mut t = lock(&self.t);
        if t.rules.contains_key(room) {
            return Ok(false);
        }
        t.rules.insert(room.to_string(), rules);
        Ok(true)
    }

    async fn set_rules(&self, room: &str, rules: RoomRules) -> Result<(), StoreError> {
        lock(&self.t).rules.insert(room.to_string(), rules);
        Ok(())
    }

    async fn invite_only_among(&self, rooms: &[String]) -> Result<Vec<String>, StoreError> {
        let t = lock(&self.t);
        Ok(rooms
            .iter()
            .filter(|r| t.rules.get(r.as_str()).is_some_and(|x| x.invite_only))
            .cloned()
            .collect())
    }

    async fn add(
        &self,
        account: AccountId,
        channel: &str,
        read: MessageId,
        now: Timestamp,
    ) -> Result<Added, StoreError> {
        let mut t = lock(&self.t);
        let convs = t.convs.entry(account).or_default();
        if let Some(e) = convs.get_mut(channel) {
            e.active = now;
            return Ok(Added::Existing);
        }
        if convs.len() >= MAX_CONVERSATIONS {
            if !is_dm(channel) {
                return Ok(Added::Full);
            }
            let oldest = convs
                .iter()
                .filter(|(c, _)| is_dm(c))
                .min_by_key(|(c, e)| (e.active, c.to_string()))
                .map(|(c, _)| c.clone());
            match oldest {
                Some(c) => {
                    convs.remove(&c);
                }
                None => return Ok(Added::Full),
            }
        }
        convs.insert(
            channel.to_string(),
            Entry {
                read,
                active: now,
                muted: false,
            },
        );
        Ok(Added::New)
    }

    async fn remove(&self, account: AccountId, channel: &str) -> Result<bool, StoreError> {
        let mut t = lock(&self.t);
        Ok(t.convs
            .get_mut(&account)
            .is_some_and(|c| c.remove(channel).is_some()))
    }

    async fn has(&self, account: AccountId, channel: &str) -> Result<bool, StoreError> {
        let t = lock(&self.t);
        Ok(t.convs
            .get(&account)
            .is_some_and(|c| c.contains_key(channel)))
    }

    async fn mark_read(
        &self,
        account: AccountId,
        channel: &str,
        id: MessageId,
    ) -> Result<Option<MessageId>, StoreError> {
        let mut t = lock(&self.t);
        let Some(e) = t.convs.get_mut(&account).and_then(|c| c.get_mut(channel)) else {
            return Ok(None);
        };
        e.read = e.read.max(id);
        Ok(Some(e.read))
    }

    async fn set_muted(
        &self,
        account: AccountId,
        channel: &str,
        muted: bool,
    ) -> Result<bool, StoreError> {
        let mut t = lock(&self.t);
        let Some(e) = t.convs.get_mut(&account).and_then(|c| c.get_mut(channel)) else {
            return Ok(false);
        };
        e.muted = muted;
        Ok(true)
    }

    async fn muted(&self, account: AccountId) -> Result<Vec<String>, StoreError> {
        let t = lock(&self.t);
        Ok(t.convs.get(&account).map_or_else(Vec::new, |c| {
            c.iter()
                .filter(|(_, e)| e.muted)
                .map(|(c, _)| c.clone())
                .collect()
        }))
    }

    async fn list(
        &self,
        account: AccountId,
        limit: usize,
    ) -> Result<Vec<(String, MessageId)>, StoreError> {
        let t = lock(&self.t);
        let Some(convs) = t.convs.get(&account) else {
            return Ok(Vec::new());
        };
        let mut all: Vec<(&String, &Entry)> = convs.iter().collect();
        all.sort_by(|a, b| b.1.active.cmp(&a.1.active).then(a.0.cmp(b.0)));
        Ok(all
            .into_iter()
            .take(limit)
            .map(|(c, e)| (c.clone(), e.read))
            .collect())
    }

    async fn read_mark(
        &self,
        account: AccountId,
        channel: &str,
    ) -> Result<Option<MessageId>, StoreError> {
        let t = lock(&self.t);
        Ok(t.convs
            .get(&account)
            .and_then(|c| c.get(channel))
            .map(|e| e.read))
    }

    async fn sanction(&self, room: &str, s: Sanction, now: Timestamp) -> Result<bool, StoreError> {
        let mut t = lock(&self.t);
        let room = t.sanctions.entry(room.to_string()).or_default();
        room.retain(|_, until| *until > now);
        let key = (s.subject, s.kind);
        if !room.contains_key(&key) && room.len() >= MAX_SANCTIONS_PER_ROOM {
            return Ok(false);
        }
        room.insert(key, s.until);
        Ok(true)
    }

    async fn lift(
        &self,
        room: &str,
        subject: &str,
        kind: SanctionKind,
    ) -> Result<bool, StoreError> {
        let mut t = lock(&self.t);
        Ok(t.sanctions
            .get_mut(room)
            .is_some_and(|r| r.remove(&(subject.to_string(), kind)).is_some()))
    }

    async fn sanctions(&self, room: &str, now: Timestamp) -> Result<Vec<Sanction>, StoreError> {
        let t = lock(&self.t);
        Ok(t.sanctions
            .get(room)
            .map(|r| {
                r.iter()
                    .filter(|(_, until)| **until > now)
                    .map(|((subject, kind), until)| Sanction {
                        subject: subject.clone(),
                        kind: *kind,
                        until: *until,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn ban_guest(
        &self,
        name_key: &str,
        addr: Option<&str>,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut t = lock(&self.t);
        t.guest_names.retain(|_, u| *u > now);
        t.guest_addrs.retain(|_, u| *u > now);
        if t.guest_names.len() + t.guest_addrs.len() + 2 > MAX_GUEST_BANS {
            return Ok(false);
        }
        t.guest_names.insert(name_key.to_string(), until);
        if let Some(a) = addr {
            t.guest_addrs.insert(a.to_string(), until);
        }
        Ok(true)
    }

    async fn guest_banned(
        &self,
        name_key: &str,
        addr: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let t = lock(&self.t);
        let name = t.guest_names.get(name_key).is_some_and(|u| *u > now);
        let addr = addr.is_some_and(|a| t.guest_addrs.get(a).is_some_and(|u| *u > now));
        Ok(name || addr)
    }
}
