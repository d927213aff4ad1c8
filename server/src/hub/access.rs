//! Who may do what in a room: its rules (invite-only or public, its owner), the server's
//! admins, and the room's bans and mutes. A room's sanctions are loaded with the room into
//! memory, so a send checks a mute without asking the backend.

use super::room_table::Creator;
use super::users::Peer;
use super::Hub;
use crate::conversations::{subject, RoomRules, Sanction, SanctionKind, Subject};
use crate::error::RequestError;
use crate::limits::IpKey;
use crate::nick_key::NickKey;
use crate::util::{lock, now_ms};
use shared::{Action, Nickname, RoomName, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;

/// The bans and mutes of a room in force, by subject, with when each ends.
#[derive(Debug, Default)]
pub(crate) struct Sanctions {
    bans: HashMap<Subject, Timestamp>,
    mutes: HashMap<Subject, Timestamp>,
}

impl Sanctions {
    /// `None` when there are none (the common case: nothing to check).
    pub(crate) fn from_list(list: Vec<Sanction>) -> Option<Box<Sanctions>> {
        if list.is_empty() {
            return None;
        }
        let mut s = Sanctions::default();
        for x in list {
            match x.kind {
                SanctionKind::Ban => s.bans.insert(x.subject, x.until),
                SanctionKind::Mute => s.mutes.insert(x.subject, x.until),
            };
        }
        Some(Box::new(s))
    }

    /// Until when `peer` is banned, if it is at `now`.
    pub(crate) fn banned(&self, peer: &Peer, now: Timestamp) -> Option<Timestamp> {
        until(&self.bans, peer, now)
    }

    /// Until when `peer` is muted, if it is at `now`.
    pub(crate) fn muted(&self, peer: &Peer, now: Timestamp) -> Option<Timestamp> {
        until(&self.mutes, peer, now)
    }
}

fn until(map: &HashMap<Subject, Timestamp>, peer: &Peer, now: Timestamp) -> Option<Timestamp> {
    if map.is_empty() {
        return None;
    }
    map.get(&peer_subject(peer)).copied().filter(|&u| u > now)
}

/// The subject a sanction on `peer` names: its account, or a guest's name.
pub(crate) fn peer_subject(peer: &Peer) -> Subject {
    subject(peer.account(), NickKey::of(&peer.nick).as_str())
}

/// What a user is in a room.
#[derive(Debug, Default)]
pub struct Standing {
    pub rules: Option<RoomRules>,
    /// The room exists: it has rules, history, members, or is the default room.
    pub exists: bool,
    pub admin: bool,
    pub owner: bool,
    /// Listed among the user's conversations (for an invite-only room: invited). Only asked
    /// of an invite-only room.
    pub member: bool,
    pub banned: Option<Timestamp>,
    pub muted: Option<Timestamp>,
}

impl Standing {
    pub fn invite_only(&self) -> bool {
        self.rules.is_some_and(|r| r.invite_only)
    }

    /// An owner or an admin: may moderate the room.
    pub fn moderator(&self) -> bool {
        self.admin || self.owner
    }

    /// Whether the user may see the room at all (join it, read its history, find it listed).
    pub fn may_read(&self, room: &RoomName) -> Result<(), RequestError> {
        if self.banned.is_some() && !self.admin {
            return Err(RequestError::Banned(room.to_string()));
        }
        if self.invite_only() && !(self.member || self.moderator()) {
            return Err(RequestError::NotInvited(room.to_string()));
        }
        Ok(())
    }
}

impl Hub {
    /// Whether `peer` is one of the server's admins (`--admin`): a signed-in account only.
    pub fn is_admin(&self, peer: &Peer) -> bool {
        peer.account().is_some() && self.admins.contains(&NickKey::of(&peer.nick))
    }

    /// What `peer` is in `room`.
    pub async fn standing(&self, peer: &Peer, room: &RoomName) -> Result<Standing, RequestError> {
        let key = room.as_str();
        let rules = self.store_call(self.conversations.rules(key).await)?;
        let admin = self.is_admin(peer);
        let owner = rules.is_some_and(|r| r.owner.is_some() && r.owner == peer.account());
        let member = match (rules, peer.account()) {
            (Some(r), Some(a)) if r.invite_only => {
                self.store_call(self.conversations.has(a, key).await)?
            }
            _ => false,
        };
        let now = now_ms();
        let loaded = self.existing_room(key);
        let (banned, muted) = match &loaded {
            Some(room) => {
                let st = lock(&room.state);
                match &st.sanctions {
                    Some(s) => (s.banned(peer, now), s.muted(peer, now)),
                    None => (None, None),
                }
            }
            None => match Sanctions::from_list(self.load_sanctions(key).await?) {
                Some(s) => (s.banned(peer, now), s.muted(peer, now)),
                None => (None, None),
            },
        };
        let exists = rules.is_some()
            || key == shared::DEFAULT_ROOM
            || loaded.is_some()
            || self.store_call(self.history.last_id(key).await)? > 0;
        Ok(Standing {
            rules,
            exists,
            admin,
            owner,
            member,
            banned,
            muted,
        })
    }

    /// The sanctions of `key` in force now, from the backend.
    pub(super) async fn load_sanctions(&self, key: &str) -> Result<Vec<Sanction>, RequestError> {
        self.store_call(self.conversations.sanctions(key, now_ms()).await)
    }

    /// Reads a room's sanctions again into the room in memory (after a change, on any node).
    pub(super) fn reload_sanctions(self: &Arc<Self>, key: String) {
        if self.existing_room(&key).is_none() {
            return;
        }
        let hub = self.clone();
        tokio::spawn(async move {
            let Ok(list) = hub.load_sanctions(&key).await else {
                return;
            };
            if let Some(room) = hub.existing_room(&key) {
                lock(&room.state).sanctions = Sanctions::from_list(list);
            }
        });
    }

    /// Applies an announced ban or mute (or its lifting) of `subject` to the room in memory
    /// at once, so a rejoin or a send right after the announcement is judged by it; the
    /// reload that follows reads the backend's state.
    pub(super) fn apply_sanction(
        &self,
        key: &str,
        subject: &str,
        action: Action,
        until: Timestamp,
    ) {
        let Some(room) = self.existing_room(key) else {
            return;
        };
        let mut st = lock(&room.state);
        let s = st.sanctions.get_or_insert_with(Box::default);
        match action {
            Action::Ban => s.bans.insert(subject.to_string(), until),
            Action::Mute => s.mutes.insert(subject.to_string(), until),
            Action::Unban => s.bans.remove(subject),
            Action::Unmute => s.mutes.remove(subject),
            _ => None,
        };
    }

    /// Refuses a send or typing from a muted `peer` (the room's lock is held by the caller).
    pub(super) fn check_muted(
        sanctions: &Option<Box<Sanctions>>,
        peer: &Peer,
        room: &str,
    ) -> Result<(), RequestError> {
        match sanctions {
            Some(s) if s.muted(peer, now_ms()).is_some() => {
                Err(RequestError::Muted(room.to_string()))
            }
            _ => Ok(()),
        }
    }
}

impl Hub {
    /// Makes `room` if it does not exist: owned by `peer`, public or invite-only as `create`
    /// says (no `create`: a plain join of a new room makes it public). With `create`, a room
    /// that exists is refused. Guests make rooms only with `--guests-create-rooms`, and never
    /// invite-only ones (membership is an account's). The rules it made the room with, if it
    /// made it.
    pub(super) async fn make_room(
        &self,
        peer: &Peer,
        room: &RoomName,
        addr: Option<IpKey>,
        standing: &Standing,
        create: Option<bool>,
    ) -> Result<Option<RoomRules>, RequestError> {
        if standing.exists {
            return match create {
                Some(_) => Err(RequestError::RoomExists(room.to_string())),
                None => Ok(None),
            };
        }
        let invite_only = create.unwrap_or(false);
        if peer.guest() {
            if !self.config.guests_create_rooms {
                return Err(RequestError::GuestsCannotCreateRooms(room.to_string()));
            }
            if invite_only {
                return Err(RequestError::NotSignedIn(
                    "an invite-only room needs an account: sign in",
                ));
            }
        }
        // Charged to the creator (and its address) like any new room, before anything is
        // written.
        self.room(room.as_str(), Some(Creator { peer, addr }))
            .await?;
        let rules = RoomRules {
            invite_only,
            owner: peer.account(),
        };
        let made = self.store_call(self.conversations.create_room(room.as_str(), rules).await)?;
        if !made && create.is_some() {
            return Err(RequestError::RoomExists(room.to_string()));
        }
        Ok(made.then_some(rules))
    }

    /// The name of a room's owner (none: the admins', or the account is gone).
    pub(super) async fn owner_name(&self, rules: Option<RoomRules>) -> Option<Nickname> {
        let id = rules?.owner?;
        match self.auth.accounts().by_id(id).await {
            Ok(account) => account.map(|a| a.name),
            Err(e) => {
                tracing::warn!(cause = %e, "owner lookup failed");
                None
            }
        }
    }
}
