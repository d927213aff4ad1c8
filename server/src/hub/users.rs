//! Users: nicknames held by connections, and resume tokens.

use super::broadcast::Fanout;
use super::Hub;
use crate::broker::Claim;
use crate::nick_key::{check_scripts, NickKey};
use crate::outbound::Conn;
use crate::util::{lock, random_hex};
use shared::{CloseReason, Nickname};
use std::sync::Arc;

/// A registered user: a connection with a nickname.
#[derive(Clone)]
pub struct Peer {
    pub conn: Arc<Conn>,
    pub nick: Nickname,
    /// Speaks the demo protocol: receives only chat messages, as `{"sender","msg"}`.
    pub demo: bool,
}

impl Peer {
    pub(crate) fn deliver(&self, f: &Arc<Fanout>) {
        if let Some(frame) = f.frame(self.demo) {
            self.conn.push(frame.clone());
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// Another user holds a nickname with the same [`NickKey`].
    NickTaken,
    /// The nickname mixes scripts (see [`check_scripts`]) and looks like nobody's present.
    InvalidNick,
    /// The registry could not be asked (its backend is unavailable).
    Unavailable,
}

pub(super) struct UserEntry {
    pub(super) peer: Peer,
    pub(super) resume_token: String,
    /// The registry granted the claim (false while it is being asked): only a granted claim
    /// is written again after an outage.
    pub(super) claimed: bool,
}

impl Hub {
    /// Claims `nick` for `conn`. A matching `resume_token` takes over the user's own older
    /// session (closed with 4005), on this node or another; anything else on a taken nickname
    /// is refused. Nicknames are told apart by their [`NickKey`]; `nick` is kept as typed.
    pub async fn register(
        &self,
        conn: &Arc<Conn>,
        nick: Nickname,
        demo: bool,
        resume_token: Option<&str>,
    ) -> Result<(Peer, String), RegisterError> {
        let key = NickKey::of(&nick);
        if check_scripts(&nick).is_err() {
            return Err(self.mixed_script_refusal(&key).await);
        }
        let peer = Peer {
            conn: conn.clone(),
            nick: nick.clone(),
            demo,
        };
        let token = random_hex();
        {
            let mut users = lock(&self.users);
            if let Some(existing) = users.get_mut(&key) {
                let owns = resume_token.is_some_and(|t| t == existing.resume_token);
                if !owns || existing.peer.conn.id == conn.id {
                    return Err(RegisterError::NickTaken);
                }
                existing.peer.conn.close(CloseReason::Replaced);
                existing.peer = peer.clone();
                return Ok((peer, existing.resume_token.clone()));
            }
            // Reserved here first, so two local connections cannot both claim it below.
            users.insert(
                key.clone(),
                UserEntry {
                    peer: peer.clone(),
                    resume_token: token.clone(),
                    claimed: false,
                },
            );
        }
        let claimed = self.registry.claim(&key, &nick, &token, resume_token).await;
        let mut users = lock(&self.users);
        let ours = users.get(&key).is_some_and(|e| e.peer.conn.id == conn.id);
        match claimed {
            Ok(Claim::New) if ours => {
                if let Some(e) = users.get_mut(&key) {
                    e.claimed = true;
                }
                Ok((peer, token))
            }
            Ok(Claim::TakenOver { token: kept }) if ours => {
                if let Some(e) = users.get_mut(&key) {
                    e.resume_token = kept.clone();
                    e.claimed = true;
                }
                Ok((peer, kept))
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

    /// A mixed-script nickname is never claimed. It is answered as taken when a user holds
    /// its key ("аlice", Cyrillic а, while "alice" is here), so the refusal names the clash;
    /// otherwise as invalid.
    async fn mixed_script_refusal(&self, key: &NickKey) -> RegisterError {
        let here = lock(&self.users).contains_key(key);
        // A registry that cannot answer leaves the nickname refused as invalid, which it is.
        if here || self.registry.online(key).await.unwrap_or(false) {
            RegisterError::NickTaken
        } else {
            RegisterError::InvalidNick
        }
    }

    /// Forgets a user's session, unless another connection has taken it over.
    pub fn unregister(&self, peer: &Peer) {
        let key = NickKey::of(&peer.nick);
        let mut users = lock(&self.users);
        if users
            .get(&key)
            .is_some_and(|e| e.peer.conn.id == peer.conn.id)
        {
            users.remove(&key);
            self.registry.release(&key);
        }
    }

    /// The user holding `nick` here, or a nickname it cannot be told apart from.
    pub fn user(&self, nick: &Nickname) -> Option<Peer> {
        lock(&self.users)
            .get(&NickKey::of(nick))
            .map(|e| e.peer.clone())
    }
}
