//! Users: nicknames held by connections, and resume tokens.

use super::broadcast::Fanout;
use super::Hub;
use crate::broker::Claim;
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
    NickTaken,
    /// The registry could not be asked (its backend is unavailable).
    Unavailable,
}

pub(super) struct UserEntry {
    peer: Peer,
    resume_token: String,
}

impl Hub {
    /// Claims `nick` for `conn`. A matching `resume_token` takes over the user's own older
    /// session (closed with 4005), on this node or another; anything else on a taken nickname
    /// is refused.
    pub async fn register(
        &self,
        conn: &Arc<Conn>,
        nick: Nickname,
        demo: bool,
        resume_token: Option<&str>,
    ) -> Result<(Peer, String), RegisterError> {
        let peer = Peer {
            conn: conn.clone(),
            nick: nick.clone(),
            demo,
        };
        let token = random_hex();
        {
            let mut users = lock(&self.users);
            if let Some(existing) = users.get_mut(&nick) {
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
                nick.clone(),
                UserEntry {
                    peer: peer.clone(),
                    resume_token: token.clone(),
                },
            );
        }
        let claimed = self.registry.claim(&nick, &token, resume_token).await;
        let mut users = lock(&self.users);
        let ours = users.get(&nick).is_some_and(|e| e.peer.conn.id == conn.id);
        match claimed {
            Ok(Claim::New) if ours => Ok((peer, token)),
            Ok(Claim::TakenOver { token: kept }) if ours => {
                if let Some(e) = users.get_mut(&nick) {
                    e.resume_token = kept.clone();
                }
                Ok((peer, kept))
            }
            other => {
                if ours {
                    users.remove(&nick);
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

    /// Forgets a user's session, unless another connection has taken it over.
    pub fn unregister(&self, peer: &Peer) {
        let mut users = lock(&self.users);
        if users
            .get(&peer.nick)
            .is_some_and(|e| e.peer.conn.id == peer.conn.id)
        {
            users.remove(&peer.nick);
            self.registry.release(&peer.nick);
        }
    }

    pub fn user(&self, nick: &Nickname) -> Option<Peer> {
        lock(&self.users).get(nick).map(|e| e.peer.clone())
    }
}
