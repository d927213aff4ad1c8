//! Joining, leaving, typing, listing rooms and reading history.

use super::joined::{Joined, Listing};
use super::page::{self, Keep};
use super::room::{Member, Room};
use super::room_table::Creator;
use super::users::Peer;
use super::Hub;
use crate::broker::{Change, Event};
use crate::error::RequestError;
use crate::limits::IpKey;
use crate::nick_key::NickKey;
use crate::store::Page;
use crate::util::lock;
use futures_util::future::BoxFuture;
use shared::{ChatMessage, MessageId, Nickname, RoomInfo, RoomName};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Most rooms in one page of the listing (fewer when their names pass the byte budget).
const ROOMS_PAGE: usize = 1000;
/// How long a room above the presence limit shares one member listing among its joins.
pub const LISTING_TTL: Duration = Duration::from_secs(1);

impl Hub {
    pub(super) fn page_limit(&self, limit: Option<u32>) -> usize {
        let max = self.config.history_page.max(1);
        limit.map_or(max, |l| l.clamp(1, max.max(200))) as usize
    }

    /// Joins `peer` (connected from `addr`) to `room`: replies `joined` (members, and
    /// history: the latest page, or exactly the messages after `after`), then live messages;
    /// tells the others. A room that does not exist is made, owned by `peer` (public, or
    /// invite-only as `create` says); with `create`, the room must not exist.
    pub async fn join(
        &self,
        peer: &Peer,
        room_name: &RoomName,
        after: Option<MessageId>,
        addr: Option<IpKey>,
        create: Option<bool>,
    ) -> Result<(), RequestError> {
        // (The demo's users join only the default room, which exists; a ban there holds.)
        let mut standing = self.standing(peer, room_name).await?;
        standing.may_read(room_name)?;
        if !peer.demo && (!standing.exists || create.is_some()) {
            // A room made here is answered with the rules it was made with.
            if let Some(rules) = self
                .make_room(peer, room_name, addr, &standing, create)
                .await?
            {
                standing.owner = rules.owner.is_some();
                standing.rules = Some(rules);
            }
        }
        let (room, watermark) = loop {
            let creator = Creator { peer, addr };
            let room = self.room(room_name.as_str(), Some(creator)).await?;
            let mut st = lock(&room.state);
            if st.closed {
                // Released between the lookup and now: the next lookup makes it anew.
                continue;
            }
            if st.members.contains_key(&peer.conn.id) {
                st.start_joining(peer.conn.id);
            } else {
                st.add_member(Member {
                    peer: peer.clone(),
                    joining: Some(Vec::new()),
                    since: 0,
                });
            }
            let settled = st.settled;
            drop(st);
            break (room, settled);
        };
        match self.store_call(self.presence.join(room_name, &peer.nick).await) {
            Ok(Some(size)) if !peer.demo && size <= self.config.presence_limit => {
                self.broker.publish(Event::Presence {
                    room: room_name.to_string(),
                    nick: peer.nick.to_string(),
                    joined: true,
                    g: peer.guest(),
                });
            }
            Ok(_) => {}
            Err(e) => {
                self.leave(peer, room_name);
                return Err(e);
            }
        }
        if peer.demo {
            self.finish_join(&room, peer, None);
            return Ok(());
        }
        let page = match after {
            // Nothing settled in the room yet: no stored message has an id up to the
            // watermark, so there is no page to read (a new room, joined by its first crowd).
            _ if watermark == 0 => Ok(Page::default()),
            // A client back from a short drop that missed nothing: nothing to read either.
            Some(a) if a >= watermark => Ok(Page::default()),
            Some(a) => {
                self.history
                    .after(&room.key, a, watermark, self.page_limit(None).max(500))
                    .await
            }
            None => {
                self.history
                    .before(&room.key, watermark + 1, self.config.history_page as usize)
                    .await
            }
        };
        let page = match self.store_call(page) {
            Ok(p) => p,
            Err(e) => {
                self.leave(peer, room_name);
                return Err(e);
            }
        };
        let listing = match self.member_listing(&room, room_name).await {
            Ok(listing) => listing,
            Err(e) => {
                self.leave(peer, room_name);
                return Err(e);
            }
        };
        let read = match self.remember_room(peer, room_name, watermark).await {
            Ok(read) => read,
            Err(e) => {
                self.leave(peer, room_name);
                return Err(e);
            }
        };
        let owner = self.owner_name(standing.rules).await;
        // The members take their share of the budget first (at most `presence_limit` names).
        let budget = self.page_budget().saturating_sub(listing.json_len());
        let (history, has_more) = page::fit(page, budget, Keep::for_history(after));
        let joined = Joined {
            room: room_name,
            listing: &listing,
            history,
            has_more,
            invite_only: standing.invite_only(),
            owner,
            muted_until: standing.muted,
            read,
        };
        self.finish_join(&room, peer, Some(joined.to_json()));
        Ok(())
    }

    /// Ends a join: the `joined` reply (none for the demo's users), then what was posted to
    /// the room meanwhile.
    fn finish_join(&self, room: &Room, peer: &Peer, joined: Option<String>) {
        let mut st = lock(&room.state);
        if !st.members.contains_key(&peer.conn.id) {
            return;
        }
        if let Some(j) = joined {
            peer.conn.reply_page_json(&j);
        }
        // Posts so far reached it with the join; it gets the next ones from the flusher.
        let posted = st.posted;
        for f in st.finish_joining(peer.conn.id, posted).unwrap_or_default() {
            peer.deliver(&f);
        }
    }

    /// The members a `joined` lists (the first `presence_limit`, by name) and which of them
    /// are guests. A room above the limit lists only part of its members and sends no
    /// presence events, so its listing is made at most once per [`LISTING_TTL`] and shared by
    /// the joins meanwhile: a crowd joining at once (the reconnect storm after a restart) would
    /// otherwise work out hundreds of names and guest flags again for each of its members.
    async fn member_listing(
        &self,
        room: &Room,
        name: &RoomName,
    ) -> Result<Arc<Listing>, RequestError> {
        if let Some((made, l)) = &lock(&room.state).listing {
            if made.elapsed() < LISTING_TTL {
                return Ok(l.clone());
            }
        }
        let limit = self.config.presence_limit;
        let mut members = self.store_call(self.presence.members(name, limit + 1).await)?;
        let above = members.len() > limit;
        members.truncate(limit);
        let guests = self.guests_among(&members).await;
        let listing = Arc::new(Listing::new(&members, &guests));
        if above {
            lock(&room.state).listing = Some((Instant::now(), listing.clone()));
        }
        Ok(listing)
    }

    /// Which of `names` are guests: those connected here are known; the others are guests
    /// unless an account holds their name. A backend that cannot answer marks nobody.
    async fn guests_among(&self, names: &[Nickname]) -> Vec<Nickname> {
        let mut unknown = Vec::new();
        let mut guests = Vec::new();
        {
            let users = lock(&self.users);
            for n in names {
                match users.get(&NickKey::of(n)) {
                    Some(e) if e.account().is_none() => guests.push(n.clone()),
                    Some(_) => {}
                    None => unknown.push(n),
                }
            }
        }
        if unknown.is_empty() {
            return guests;
        }
        let keys: Vec<NickKey> = unknown.iter().map(|n| NickKey::of(n)).collect();
        let Ok(registered) = self.auth.accounts().registered(&keys).await else {
            return guests;
        };
        let registered: std::collections::HashSet<NickKey> = registered.into_iter().collect();
        guests.extend(
            unknown
                .into_iter()
                .zip(keys)
                .filter(|(_, k)| !registered.contains(k))
                .map(|(n, _)| n.clone()),
        );
        guests
    }

    /// Removes `peer` from a room and tells the others. Returns whether it was a member.
    pub fn leave(&self, peer: &Peer, room_name: &RoomName) -> bool {
        let Some(room) = self.existing_room(room_name.as_str()) else {
            return false;
        };
        let last_here = {
            let mut st = lock(&room.state);
            if st.remove_member(peer.conn.id).is_none() {
                return false;
            }
            !st.has_nick(&peer.nick, peer.conn.id)
        };
        self.release_if_idle(&room);
        if last_here {
            let left = self.presence.leave(room_name, &peer.nick);
            self.after_leave(left, room_name, peer);
        }
        true
    }

    /// Announces a leave once presence has it: at once when it answers at once (a node on
    /// its own), else from a task.
    fn after_leave(&self, mut left: BoxFuture<'static, Change>, room_name: &RoomName, peer: &Peer) {
        let (broker, limit, demo) = (self.broker.clone(), self.config.presence_limit, peer.demo);
        let ev = Event::Presence {
            room: room_name.to_string(),
            nick: peer.nick.to_string(),
            joined: false,
            g: peer.guest(),
        };
        let announce = move |r: Change| match r {
            Ok(Some(size)) if !demo && size < limit => broker.publish(ev),
            Ok(_) => {}
            Err(e) => tracing::warn!(cause = %e, "presence leave failed"),
        };
        let noop = futures_util::task::noop_waker_ref();
        match left.as_mut().poll(&mut Context::from_waker(noop)) {
            Poll::Ready(r) => announce(r),
            Poll::Pending => {
                tokio::spawn(async move { announce(left.await) });
            }
        }
    }

    /// Relays a typing event to the room's other members (not a muted user's).
    pub fn typing(&self, peer: &Peer, room_name: &RoomName) -> Result<(), RequestError> {
        let Some(room) = self.existing_room(room_name.as_str()) else {
            return Err(RequestError::NotInRoom(room_name.to_string()));
        };
        {
            let st = lock(&room.state);
            if !st.members.contains_key(&peer.conn.id) {
                return Err(RequestError::NotInRoom(room_name.to_string()));
            }
            Hub::check_muted(&st.sanctions, peer, room_name.as_str())?;
        }
        self.broker.publish(Event::Typing {
            room: room_name.to_string(),
            nick: peer.nick.to_string(),
        });
        Ok(())
    }

    /// A page of the room listing: rooms named after `after`, within the page budget. An
    /// invite-only room is listed only to its members and the admins.
    pub async fn list_rooms(
        &self,
        peer: &Peer,
        after: Option<RoomName>,
    ) -> Result<(Vec<RoomInfo>, bool), RequestError> {
        let (mut rooms, more) = self.store_call(self.presence.rooms(after, ROOMS_PAGE).await)?;
        if !self.is_admin(peer) {
            let names: Vec<String> = rooms.iter().map(|r| r.name.to_string()).collect();
            let private = self.store_call(self.conversations.invite_only_among(&names).await)?;
            for name in private {
                let member = match peer.account() {
                    Some(a) => self.store_call(self.conversations.has(a, &name).await)?,
                    None => false,
                };
                if !member {
                    rooms.retain(|r| r.name.as_str() != name);
                }
            }
        }
        let cut = page::cut(&mut rooms, self.page_budget(), Keep::Oldest);
        Ok((rooms, more || cut))
    }

    /// The byte budget of one page reply (see `page`).
    pub(super) fn page_budget(&self) -> usize {
        page::budget(self.config.outbound_queue_bytes)
    }

    /// A page of a room's history (older than `before`, newer than `after`, or the latest),
    /// for a user who may read the room.
    pub async fn history(
        &self,
        peer: &Peer,
        room_name: &RoomName,
        before: Option<MessageId>,
        after: Option<MessageId>,
        limit: Option<u32>,
    ) -> Result<(Vec<ChatMessage>, bool), RequestError> {
        if !peer.demo {
            self.standing(peer, room_name).await?.may_read(room_name)?;
        }
        // Reading creates nothing: a room in memory bounds the page at what it has settled
        // (appended messages not yet delivered stay out); without one, nothing is in flight
        // here and the store has it all.
        let key = room_name.as_str();
        let watermark = self
            .existing_room(key)
            .map_or(MessageId::MAX, |room| lock(&room.state).settled);
        let page = self.page_of(key, before, after, limit, watermark).await?;
        Ok(page::fit(
            page,
            self.page_budget(),
            Keep::for_history(after),
        ))
    }
}
