//! Users: the names held by connections. A guest holds its name with one connection (its
//! resume token lets it take the name back on a new one); a signed-in user holds its
//! account's name with any number of connections, on this node and others.

use super::broadcast::Fanout;
use super::Hub;
use crate::auth::token;
use crate::auth::AccountId;
use crate::broker::{Claim, Event};
use crate::limits::IpKey;
use crate::nick_key::{check_scripts, NickKey};
use crate::outbound::Conn;
use crate::util::{hex, lock, now_ms, random_hex, unhex};
use shared::{CloseReason, Nickname};
use std::sync::Arc;

/// A connection with the name it goes by.
#[derive(Clone)]
pub struct Peer {
    pub conn: Arc<Conn>,
    pub nick: Nickname,
    /// Speaks the demo protocol: receives only chat messages, as `{"sender","msg"}`.
    pub demo: bool,
    /// The account signed in on this connection, 0 for a guest (ids start at 1): eight
    /// bytes, where an `Option` takes sixteen in every copy an idle connection holds.
    acct: u64,
}

impl Peer {
    pub(crate) fn deliver(&self, f: &Arc<Fanout>) {
        if let Some(frame) = f.frame(self.demo) {
            self.conn.push(frame.clone());
        }
    }

    pub fn new(conn: Arc<Conn>, nick: Nickname, demo: bool, account: Option<AccountId>) -> Peer {
        Peer {
            conn,
            nick,
            demo,
            acct: account.unwrap_or(0),
        }
    }

    /// The account signed in on this connection; `None`: a guest.
    pub fn account(&self) -> Option<AccountId> {
        (self.acct != 0).then_some(self.acct)
    }

    pub fn guest(&self) -> bool {
        self.acct == 0
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// Another user holds a nickname with the same [`NickKey`].
    NickTaken,
    /// A guest asked for the name of an account (or one it cannot be told apart from).
    Registered,
    /// The nickname mixes scripts (see [`check_scripts`]) and looks like nobody's present.
    InvalidNick,
    /// The registry or the accounts could not be asked (the backend is unavailable).
    Unavailable,
    /// An admin banned the name, or the address it comes from (4013).
    Banned,
}

/// One connection holding a name. (Kept small: every idle connection has one.)
pub(super) struct Seat {
    pub(super) peer: Peer,
    pub(super) session: Option<Box<[u8; 32]>>,
}

impl Seat {
    fn new(peer: Peer, session: Option<[u8; 32]>) -> Seat {
        Seat {
            peer,
            session: session.map(Box::new),
        }
    }

    pub(super) fn session(&self) -> Option<[u8; 32]> {
        self.session.as_deref().copied()
    }
}

/// A name and the connections holding it: the first inline (a guest has only that one),
/// further ones of a signed-in user beside it.
pub(super) struct UserEntry {
    pub(super) first: Seat,
    pub(super) more: Vec<Seat>,
    /// A guest's resume token (members have none), kept as the 16 bytes its hex stands for.
    pub(super) resume: [u8; 16],
    /// The registry granted a guest's claim (false while it is being asked): only a granted
    /// claim is written again after an outage.
    pub(super) claimed: bool,
    /// A guest's address (what an admin's server-wide ban of the guest bans too).
    pub(super) addr: Option<IpKey>,
}

impl UserEntry {
    fn new(seat: Seat, resume: [u8; 16]) -> UserEntry {
        UserEntry {
            first: seat,
            more: Vec::new(),
            resume,
            claimed: false,
            addr: None,
        }
    }

    pub(super) fn first(&self) -> Option<&Peer> {
        Some(&self.first.peer)
    }

    /// The account whose name this is; `None`: a guest's.
    pub(super) fn account(&self) -> Option<AccountId> {
        self.first.peer.account()
    }

    pub(super) fn seats(&self) -> impl Iterator<Item = &Seat> {
        std::iter::once(&self.first).chain(self.more.iter())
    }

    /// The resume token, as the client holds it.
    pub(super) fn resume_token(&self) -> String {
        hex(&self.resume)
    }

    /// Removes the seat of connection `id`; true when none is left.
    fn remove(&mut self, id: crate::outbound::ConnId) -> bool {
        self.more.retain(|s| s.peer.conn.id != id);
        if self.first.peer.conn.id == id {
            match self.more.pop() {
                Some(next) => self.first = next,
                None => return true,
            }
        }
        false
    }
}

impl Hub {
    /// Seats a signed-in user's connection under its account's name, beside its other
    /// connections (asking no backend: an account's name is its own). `session` is the
    /// SHA-256 of the session token it signed in with (none for a JWT), so that signing out
    /// ends its connections.
    pub fn seat_member(
        &self,
        conn: &Arc<Conn>,
        nick: Nickname,
        account: AccountId,
        session: Option<[u8; 32]>,
    ) -> Result<Peer, RegisterError> {
        let key = NickKey::of(&nick);
        let peer = Peer::new(conn.clone(), nick, false, Some(account));
        let seat = Seat::new(peer.clone(), session);
        let mut users = lock(&self.users);
        match users.get_mut(&key) {
            Some(e) if e.account() == Some(account) => e.more.push(seat),
            // A guest that got the name before the account was made keeps it until it leaves.
            Some(_) => return Err(RegisterError::NickTaken),
            None => {
                users.insert(key, Box::new(UserEntry::new(seat, [0; 16])));
            }
        }
        Ok(peer)
    }

    /// Gives `conn`, a guest's from `addr`, the name `nick`: a free name that no account
    /// holds and no admin banned (nor the address), or its own session back with a matching
    /// `resume` token (the old connection closes with 4005; the token is replaced). Names are
    /// told apart by their [`NickKey`]; `nick` is kept as typed. Returns the peer and its new
    /// resume token.
    pub async fn register(
        &self,
        conn: &Arc<Conn>,
        nick: Nickname,
        demo: bool,
        resume: Option<&str>,
        addr: Option<IpKey>,
    ) -> Result<(Peer, String), RegisterError> {
        let key = NickKey::of(&nick);
        let addr_text = addr.map(|a| a.to_string());
        match self
            .conversations
            .guest_banned(key.as_str(), addr_text.as_deref(), now_ms())
            .await
        {
            Ok(false) => {}
            Ok(true) => return Err(RegisterError::Banned),
            Err(e) => {
                tracing::warn!(cause = %e, "guest ban lookup failed");
                return Err(RegisterError::Unavailable);
            }
        }
        if check_scripts(&nick).is_err() {
            return Err(self.mixed_script_refusal(&key).await);
        }
        match self.auth.accounts().by_key(&key).await {
            Ok(Some(_)) => return Err(RegisterError::Registered),
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(cause = %e, "account lookup failed");
                return Err(RegisterError::Unavailable);
            }
        }
        let peer = Peer::new(conn.clone(), nick.clone(), demo, None);
        let token = random_hex();
        let resumed = {
            let mut users = lock(&self.users);
            if let Some(existing) = users.get_mut(&key) {
                let owns = existing.account().is_none()
                    && resume
                        .and_then(unhex::<16>)
                        .is_some_and(|t| t == existing.resume);
                let same = existing.seats().any(|s| s.peer.conn.id == conn.id);
                if !owns || same {
                    return Err(RegisterError::NickTaken);
                }
                for s in existing.seats() {
                    s.peer.conn.close(CloseReason::Replaced);
                }
                existing.more.clear();
                existing.first = Seat::new(peer.clone(), None);
                // A token is good for one resume: the next one needs the new token.
                existing.resume = unhex::<16>(&token).unwrap_or_default();
                Some(existing.claimed)
            } else {
                None
            }
        };
        if let Some(claimed) = resumed {
            if claimed {
                // Keeps the registry's copy of the token in step (this node holds it).
                if let Err(e) = self.registry.claim(&key, &nick, &token, resume).await {
                    tracing::warn!(cause = %e, "resume token update failed");
                }
            }
            return Ok((peer, token));
        }
        {
            let mut users = lock(&self.users);
            if users.contains_key(&key) {
                // Taken between the two looks.
                return Err(RegisterError::NickTaken);
            }
            // Reserved here first, so two local connections cannot both claim it below.
            let resume = unhex::<16>(&token).unwrap_or_default();
            let mut entry = UserEntry::new(Seat::new(peer.clone(), None), resume);
            entry.addr = addr;
            users.insert(key.clone(), Box::new(entry));
        }
        let claimed = self.registry.claim(&key, &nick, &token, resume).await;
        let mut users = lock(&self.users);
        let ours = users
            .get(&key)
            .is_some_and(|e| e.seats().any(|s| s.peer.conn.id == conn.id));
        match claimed {
            Ok(Claim::New | Claim::TakenOver { .. }) if ours => {
                if let Some(e) = users.get_mut(&key) {
                    e.claimed = true;
                }
                Ok((peer, token))
            }
            other => {
                if ours {
                    users.remove(&key);
                }
                match other {
                    Err(e) => {
                        tracing::warn!(cause = %e, "nickname claim failed");
                        Err(RegisterError::Unavailable)
                    }
                    _ => Err(RegisterError::NickTaken),
                }
            }
        }
    }

    /// The address of the guest holding `nick` on this node.
    pub(super) fn guest_addr(&self, nick: &Nickname) -> Option<IpKey> {
        let users = lock(&self.users);
        let e = users.get(&NickKey::of(nick))?;
        e.account().is_none().then_some(e.addr).flatten()
    }

    /// A mixed-script nickname is never claimed. It is answered as taken when a user holds
    /// its key ("аlice", Cyrillic а, while "alice" is here), so the refusal names the clash;
    /// otherwise as invalid.
    async fn mixed_script_refusal(&self, key: &NickKey) -> RegisterError {
        let here = lock(&self.users).contains_key(key);
        // A backend that cannot answer leaves the nickname refused as invalid, which it is.
        let registered = matches!(self.auth.accounts().by_key(key).await, Ok(Some(_)));
        if registered {
            RegisterError::Registered
        } else if here || self.registry.online(key).await.unwrap_or(false) {
            RegisterError::NickTaken
        } else {
            RegisterError::InvalidNick
        }
    }

    /// Whether a name with `key` is held by someone connected (here, or a guest elsewhere).
    pub async fn name_in_use(&self, key: &NickKey) -> bool {
        lock(&self.users).contains_key(key) || self.registry.online(key).await.unwrap_or(true)
    }

    /// Forgets one connection of a user; the name is free once its last one is gone.
    pub fn unregister(&self, peer: &Peer) {
        let key = NickKey::of(&peer.nick);
        let mut users = lock(&self.users);
        let Some(e) = users.get_mut(&key) else {
            return;
        };
        if e.remove(peer.conn.id) {
            let guest = e.account().is_none();
            users.remove(&key);
            if guest {
                self.registry.release(&key);
            }
        }
    }

    /// A connection of the user holding `nick` here, or a nickname it cannot be told apart
    /// from.
    pub fn user(&self, nick: &Nickname) -> Option<Peer> {
        lock(&self.users)
            .get(&NickKey::of(nick))
            .and_then(|e| e.first().cloned())
    }

    /// Every connection here of the user holding `nick`.
    pub fn user_conns(&self, nick: &Nickname) -> Vec<Peer> {
        lock(&self.users)
            .get(&NickKey::of(nick))
            .map(|e| e.seats().map(|s| s.peer.clone()).collect())
            .unwrap_or_default()
    }

    /// Ends connections of `account` here (4010): those signed in with `session`, or all of
    /// them, but never those with the session `keep`.
    pub fn revoke(&self, account: AccountId, session: Option<[u8; 32]>, keep: Option<[u8; 32]>) {
        let users = lock(&self.users);
        for e in users.values().filter(|e| e.account() == Some(account)) {
            for s in e.seats() {
                let chosen = session.is_none_or(|h| s.session() == Some(h));
                if chosen && (keep.is_none() || s.session() != keep) {
                    s.peer.conn.close(CloseReason::SignedOut);
                }
            }
        }
    }

    /// Tells every node (this one included) to end the connections of `account` that
    /// [`Hub::revoke`] picks.
    pub fn revoked(&self, account: AccountId, session: Option<[u8; 32]>, keep: Option<[u8; 32]>) {
        let hex = |h: Option<[u8; 32]>| h.map(|h| token::to_hex(&h)).unwrap_or_default();
        self.broker.publish(Event::Revoke {
            a: account,
            s: hex(session),
            keep: hex(keep),
        });
    }

    /// Records that the connection `conn` of `account` now holds the session `session`
    /// (after a password change gave it a new one).
    pub fn reseat(&self, account: AccountId, conn: &Arc<Conn>, session: [u8; 32]) {
        let mut users = lock(&self.users);
        for e in users.values_mut().filter(|e| e.account() == Some(account)) {
            if e.first.peer.conn.id == conn.id {
                e.first.session = Some(Box::new(session));
            }
            for s in e.more.iter_mut().filter(|s| s.peer.conn.id == conn.id) {
                s.session = Some(Box::new(session));
            }
        }
    }
}
