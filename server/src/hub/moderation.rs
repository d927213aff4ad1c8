//! What room owners and the server's admins do to users: invite, remove, hand over a room,
//! kick, ban, mute (and lift them); server-wide, disable an account or ban a guest's name and
//! address. Each action is stored first, then announced on the bus as `Event::Moderated`, so
//! every node tells the people concerned and applies it to the connections it holds.

use super::broadcast::Fanout;
use super::users::Peer;
use super::Hub;
use crate::auth::AccountId;
use crate::broker::Event;
use crate::conversations::{subject, Added, RoomRules, Sanction, SanctionKind, MAX_CONVERSATIONS};
use crate::error::RequestError;
use crate::nick_key::NickKey;
use crate::outbound::ConnId;
use crate::util::now_ms;
use shared::{Action, CloseReason, Nickname, RoomName, ServerMessage, Timestamp, FOREVER};
use std::collections::HashSet;
use std::sync::Arc;

/// The user an action is on: an account, or a guest's name.
struct Target {
    account: Option<AccountId>,
    name: Nickname,
    key: NickKey,
}

impl Target {
    fn subject(&self) -> String {
        subject(self.account, self.key.as_str())
    }

    fn account(&self, what: &str) -> Result<AccountId, RequestError> {
        self.account.ok_or_else(|| {
            RequestError::Invalid(format!(
                "`{}` has no account: only accounts can be {what}",
                self.name
            ))
        })
    }
}

impl Hub {
    /// Does `action` on the user `nick`, in `room` or (without one) server-wide, for
    /// `actor`; `for_secs` bounds a ban or a mute.
    pub async fn moderate(
        self: &Arc<Self>,
        actor: &Peer,
        room: Option<&RoomName>,
        nick: &Nickname,
        action: Action,
        for_secs: Option<u64>,
    ) -> Result<(), RequestError> {
        if actor.guest() {
            return Err(RequestError::NotSignedIn(
                "moderating needs an account: sign in",
            ));
        }
        let now = now_ms();
        let until = matches!(action, Action::Ban | Action::Mute).then(|| match for_secs {
            Some(s) => {
                now.saturating_add(i64::try_from(s).unwrap_or(i64::MAX).saturating_mul(1000))
            }
            None => FOREVER,
        });
        let target = self.target(nick).await?;
        match room {
            Some(room) => {
                self.moderate_room(actor, room, &target, action, until)
                    .await?
            }
            None => self.moderate_server(actor, &target, action, until).await?,
        }
        self.broker.publish(Event::Moderated {
            room: room.map(|r| r.to_string()).unwrap_or_default(),
            nick: target.name.to_string(),
            subj: target.subject(),
            action: action.as_str().to_string(),
            by: actor.nick.to_string(),
            until: until.unwrap_or(0),
        });
        Ok(())
    }

    async fn target(&self, nick: &Nickname) -> Result<Target, RequestError> {
        let key = NickKey::of(nick);
        let account = self.store_call(self.auth.accounts().by_key(&key).await)?;
        Ok(match account {
            Some(a) => Target {
                account: Some(a.id),
                name: a.name,
                key,
            },
            None => Target {
                account: None,
                name: self.user(nick).map_or_else(|| nick.clone(), |p| p.nick),
                key,
            },
        })
    }

    async fn moderate_room(
        &self,
        actor: &Peer,
        room: &RoomName,
        target: &Target,
        action: Action,
        until: Option<Timestamp>,
    ) -> Result<(), RequestError> {
        let standing = self.standing(actor, room).await?;
        if !standing.exists {
            return Err(RequestError::NotInRoom(room.to_string()));
        }
        if !standing.moderator() {
            return Err(RequestError::NotAllowed(format!(
                "only the owner of `{room}` or an admin may {}",
                action.as_str()
            )));
        }
        let target_admin = target.account.is_some() && self.admins.contains(&target.key);
        let target_owner =
            target.account.is_some() && standing.rules.and_then(|r| r.owner) == target.account;
        let against = matches!(
            action,
            Action::Kick | Action::Ban | Action::Mute | Action::Remove
        );
        if against && (target_admin || (target_owner && !standing.admin)) {
            return Err(RequestError::NotAllowed(format!(
                "`{}` owns this room or is an admin",
                target.name
            )));
        }
        let key = room.as_str();
        let c = &self.conversations;
        let sanction = |kind| Sanction {
            subject: target.subject(),
            kind,
            until: until.unwrap_or(FOREVER),
        };
        match action {
            Action::Invite => {
                let account = target.account("invited")?;
                let last = self.store_call(self.history.last_id(key).await)?;
                if self.store_call(c.add(account, key, last, now_ms()).await)? == Added::Full {
                    return Err(RequestError::TooManyRooms(MAX_CONVERSATIONS));
                }
            }
            Action::Remove => {
                let account = target.account("members")?;
                self.store_call(c.remove(account, key).await)?;
            }
            Action::Transfer => {
                let account = target.account("owners")?;
                let rules = RoomRules {
                    invite_only: standing.invite_only(),
                    owner: Some(account),
                };
                self.store_call(c.set_rules(key, rules).await)?;
                let last = self.store_call(self.history.last_id(key).await)?;
                self.store_call(c.add(account, key, last, now_ms()).await)?;
            }
            Action::Kick => {}
            Action::Ban => {
                if !self.store_call(c.sanction(key, sanction(SanctionKind::Ban), now_ms()).await)? {
                    return Err(RequestError::Invalid("this room has too many bans".into()));
                }
                if let Some(account) = target.account {
                    self.store_call(c.remove(account, key).await)?;
                }
            }
            Action::Mute => {
                if !self.store_call(
                    c.sanction(key, sanction(SanctionKind::Mute), now_ms())
                        .await,
                )? {
                    return Err(RequestError::Invalid("this room has too many mutes".into()));
                }
            }
            Action::Unban => {
                self.store_call(c.lift(key, &target.subject(), SanctionKind::Ban).await)?;
            }
            Action::Unmute => {
                self.store_call(c.lift(key, &target.subject(), SanctionKind::Mute).await)?;
            }
            Action::Disable => {
                return Err(RequestError::Invalid(
                    "disabling an account is server-wide: leave out the room".into(),
                ))
            }
        }
        Ok(())
    }

    async fn moderate_server(
        &self,
        actor: &Peer,
        target: &Target,
        action: Action,
        until: Option<Timestamp>,
    ) -> Result<(), RequestError> {
        if !self.is_admin(actor) {
            return Err(RequestError::NotAllowed(format!(
                "only an admin may {} server-wide",
                action.as_str()
            )));
        }
        match action {
            Action::Disable => {
                let account = target.account("disabled")?;
                if Some(account) == actor.account() {
                    return Err(RequestError::NotAllowed(
                        "an admin cannot disable itself".into(),
                    ));
                }
                self.store_call(self.auth.accounts().set_disabled(account, true).await)?;
                self.revoked(account, None, None);
            }
            Action::Ban => {
                if target.account.is_some() {
                    return Err(RequestError::Invalid(format!(
                        "`{}` has an account: disable it instead",
                        target.name
                    )));
                }
                let until = until.unwrap_or(FOREVER);
                let banned =
                    self.conversations
                        .ban_guest(target.key.as_str(), None, until, now_ms());
                if !self.store_call(banned.await)? {
                    return Err(RequestError::Invalid("too many guest bans".into()));
                }
            }
            _ => {
                return Err(RequestError::Invalid(format!(
                    "`{}` needs a room; server-wide there are only ban and disable",
                    action.as_str()
                )))
            }
        }
        Ok(())
    }

    /// On every node: tells the room's members here, the user acted on and the actor, and
    /// applies the action to the connections this node holds.
    pub(super) fn on_moderated(
        self: &Arc<Self>,
        room: String,
        nick: String,
        subj: String,
        action: String,
        by: String,
        until: Timestamp,
    ) {
        let (Ok(nick), Ok(by)) = (Nickname::new(nick), Nickname::new(by)) else {
            return;
        };
        let Some(action) = Action::ALL.iter().copied().find(|a| a.as_str() == action) else {
            return;
        };
        let room_name = RoomName::new(room.as_str()).ok();
        let sanctions = matches!(
            action,
            Action::Ban | Action::Unban | Action::Mute | Action::Unmute
        );
        if let (Some(room), true) = (&room_name, sanctions) {
            self.apply_sanction(room.as_str(), &subj, action, until);
        }
        let f = Fanout::event(ServerMessage::Moderated {
            room: room_name.clone(),
            nick: nick.clone(),
            action,
            by: by.clone(),
            until: (until != 0).then_some(until),
        });
        let targets = self.user_conns(&nick);
        let mut told: HashSet<ConnId> = HashSet::new();
        let mut tell = |p: &Peer| {
            if told.insert(p.conn.id) {
                p.deliver(&f);
            }
        };
        if let Some(room) = room_name
            .as_ref()
            .and_then(|r| self.existing_room(r.as_str()))
        {
            let members: Vec<Peer> = crate::util::lock(&room.state)
                .members
                .values()
                .map(|m| m.peer.clone())
                .collect();
            members.iter().for_each(&mut tell);
        }
        targets
            .iter()
            .chain(self.user_conns(&by).iter())
            .for_each(&mut tell);
        match room_name {
            Some(room) => {
                if matches!(action, Action::Kick | Action::Ban | Action::Remove) {
                    for p in &targets {
                        if self.leave(p, &room) {
                            p.conn.reply(&ServerMessage::Left { room: room.clone() });
                        }
                    }
                }
                if sanctions {
                    self.reload_sanctions(room.to_string());
                }
            }
            None if action == Action::Ban => {
                // The guest's address is known where it is connected: banned there too.
                let addr = self.guest_addr(&nick);
                for p in targets.iter().filter(|p| p.guest()) {
                    p.conn.close(CloseReason::Banned);
                }
                if let Some(addr) = addr {
                    let hub = self.clone();
                    let key = NickKey::of(&nick);
                    tokio::spawn(async move {
                        let addr = addr.to_string();
                        let r =
                            hub.conversations
                                .ban_guest(key.as_str(), Some(&addr), until, now_ms());
                        if let Err(e) = r.await {
                            tracing::warn!(cause = %e, "recording a guest's address ban failed");
                        }
                    });
                }
            }
            None => {}
        }
    }
}
