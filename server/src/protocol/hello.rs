//! The typed protocol's identity messages: `hello` (as a guest, or signed in by password,
//! registration, session token or JWT), `sign_out` and `change_password`.

use super::typed::TypedProtocol;
use super::Flow;
use crate::auth::{AuthError, SignedIn};
use crate::config::Guests;
use crate::hub::{Peer, RegisterError};
use crate::metrics::Metrics;
use crate::nick_key::{MixedScripts, NickKey};
use shared::{
    Auth, ClientMsgId, CloseReason, ErrorCode, Limits, Nickname, Password, ReadState, RoomName,
    ServerMessage, PROTOCOL_VERSION,
};

impl TypedProtocol {
    pub(super) async fn hello(
        &mut self,
        nick: Option<Nickname>,
        protocol: u32,
        resume_token: Option<String>,
        auth: Option<Auth>,
    ) -> Flow {
        if protocol != PROTOCOL_VERSION {
            self.error(
                ErrorCode::UnsupportedProtocol,
                format!("this server speaks protocol {PROTOCOL_VERSION}, not {protocol}"),
                None,
            );
            return Flow::Close(CloseReason::UnsupportedProtocol);
        }
        let hub = self.hub.clone();
        let signed = match auth {
            None => return self.hello_guest(nick, resume_token).await,
            Some(Auth::Password { password }) => match self.named(nick) {
                Ok(nick) => hub.auth.sign_in(&nick, &password, self.addr).await,
                Err(flow) => return flow,
            },
            Some(Auth::Register { password }) => match self.named(nick) {
                Ok(nick) => {
                    let in_use = hub.name_in_use(&NickKey::of(&nick)).await;
                    hub.auth.register(&nick, &password, self.addr, in_use).await
                }
                Err(flow) => return flow,
            },
            Some(Auth::Session { token }) => hub.auth.resume(&token).await,
            Some(Auth::Jwt { token }) => hub.auth.jwt(&token).await,
        };
        match signed {
            Ok(s) => {
                Metrics::inc(&hub.metrics.sign_ins);
                self.seat(s).await
            }
            Err(e) => {
                Metrics::inc(&hub.metrics.sign_in_refusals);
                self.refuse(e)
            }
        }
    }

    /// The name a password sign-in or a registration is for.
    fn named(&self, nick: Option<Nickname>) -> Result<Nickname, Flow> {
        nick.ok_or_else(|| {
            self.error(
                ErrorCode::InvalidMessage,
                "`nick` names the account to sign in to",
                None,
            );
            Flow::Close(CloseReason::InvalidNick)
        })
    }

    fn refuse(&self, e: AuthError) -> Flow {
        if let AuthError::Unavailable(cause) = &e {
            tracing::warn!(cause = %cause, "sign-in failed on the backend");
        }
        self.error(e.code(), e.to_string(), None);
        Flow::Close(e.close())
    }

    /// A signed-in user takes its account's name, beside its other connections.
    async fn seat(&mut self, s: SignedIn) -> Flow {
        let seated =
            self.hub
                .seat_member(&self.conn, s.account.name.clone(), s.account.id, s.session);
        match seated {
            Ok(peer) => {
                self.session = s.session.map(Box::new);
                self.peer = Some(peer.clone());
                self.welcome_member(&peer, s.token).await;
                Flow::Continue
            }
            Err(_) => {
                // A session made for this sign-in (not one resumed) will not be used: it goes.
                if let (Some(_), Some(h)) = (&s.token, s.session) {
                    let hub = self.hub.clone();
                    tokio::spawn(async move {
                        let _ = hub.auth.sign_out(s.account.id, Some(h)).await;
                    });
                }
                self.error(
                    ErrorCode::NickTaken,
                    format!(
                        "a guest is using the name `{}` right now; retry once it leaves",
                        s.account.name
                    ),
                    None,
                );
                Flow::Close(CloseReason::NickTaken)
            }
        }
    }

    async fn hello_guest(&mut self, nick: Option<Nickname>, resume: Option<String>) -> Flow {
        if self.hub.config.guests == Guests::Deny {
            self.error(
                ErrorCode::GuestsNotAllowed,
                "this server does not accept guests; sign in",
                None,
            );
            return Flow::Close(CloseReason::GuestsNotAllowed);
        }
        let nick = match nick {
            Some(n) => n,
            None => {
                self.error(ErrorCode::InvalidNick, "a guest needs a `nick`", None);
                return Flow::Close(CloseReason::InvalidNick);
            }
        };
        let who = resume.as_deref();
        match self
            .hub
            .register(&self.conn, nick.clone(), false, who, self.addr)
            .await
        {
            Ok((peer, token)) => {
                self.peer = Some(peer);
                self.welcome(nick, true, None, token);
                Flow::Continue
            }
            Err(RegisterError::NickTaken) => {
                self.error(
                    ErrorCode::NickTaken,
                    format!("the nickname `{nick}` is already in use; pick another"),
                    None,
                );
                Flow::Close(CloseReason::NickTaken)
            }
            Err(RegisterError::Registered) => {
                self.error(
                    ErrorCode::NickTaken,
                    format!("`{nick}` is a registered name; sign in, or pick another"),
                    None,
                );
                Flow::Close(CloseReason::NickTaken)
            }
            Err(RegisterError::InvalidNick) => {
                self.error(ErrorCode::InvalidNick, MixedScripts.to_string(), None);
                Flow::Close(CloseReason::InvalidNick)
            }
            Err(RegisterError::Unavailable) => {
                self.error(
                    ErrorCode::StoreUnavailable,
                    "the chat cluster is unavailable right now; retry shortly",
                    None,
                );
                Flow::Close(CloseReason::TryAgainLater)
            }
            Err(RegisterError::Banned) => {
                self.error(
                    ErrorCode::Banned,
                    "an admin banned this name or your address",
                    None,
                );
                Flow::Close(CloseReason::Banned)
            }
        }
    }

    /// Welcomes a signed-in user with its conversations and their read state, then sends
    /// the direct messages that reached it while it was away.
    async fn welcome_member(&self, peer: &Peer, session: Option<String>) {
        let states = match self.hub.conversation_states(peer).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(cause = %e, "reading the conversations failed");
                Vec::new()
            }
        };
        let admin = self.hub.is_admin(peer);
        self.welcome_with(
            peer.nick.clone(),
            false,
            session,
            String::new(),
            admin,
            states.clone(),
        );
        self.hub.deliver_waiting(peer, &states).await;
    }

    fn welcome(&self, nick: Nickname, guest: bool, session: Option<String>, resume: String) {
        self.welcome_with(nick, guest, session, resume, false, Vec::new());
    }

    fn welcome_with(
        &self,
        nick: Nickname,
        guest: bool,
        session: Option<String>,
        resume: String,
        admin: bool,
        conversations: Vec<ReadState>,
    ) {
        // The connection's span (`connection::log`) names its user from here on.
        tracing::Span::current().record("user", nick.as_str());
        let cfg = &self.hub.config;
        self.conn.reply(&ServerMessage::Welcome {
            nick,
            guest,
            session,
            protocol: PROTOCOL_VERSION,
            default_room: RoomName::default_room(),
            resume_token: resume,
            epoch: self.hub.epoch(),
            limits: Limits {
                max_message_bytes: cfg.max_message_bytes as u32,
                max_text_bytes: shared::types::MAX_TEXT_BYTES as u32,
                history_page: cfg.history_page,
                rate_per_sec: cfg.rate_per_sec,
                rate_burst: cfg.rate_burst,
            },
            admin,
            conversations,
        });
    }

    /// Ends this connection's session, or every session of the account: its connections,
    /// on every node, close with 4010 (this one too).
    pub(super) async fn sign_out(&mut self, everywhere: bool) -> Flow {
        let Some(account) = self.peer.as_ref().and_then(|p| p.account()) else {
            return self.not_signed_in();
        };
        let session = if everywhere {
            None
        } else {
            self.session.as_deref().copied()
        };
        if !everywhere && session.is_none() {
            // A JWT user has no session here: it ends this connection.
            return Flow::Close(CloseReason::SignedOut);
        }
        if let Err(e) = self.hub.auth.sign_out(account, session).await {
            self.error(e.code(), e.to_string(), None);
            return Flow::Continue;
        }
        self.hub.revoked(account, session, None);
        Flow::Close(CloseReason::SignedOut)
    }

    /// Changes the password; every other session ends, this connection gets a new one.
    pub(super) async fn change_password(&mut self, old: Password, new: Password) -> Flow {
        let Some(account) = self.peer.as_ref().and_then(|p| p.account()) else {
            return self.not_signed_in();
        };
        match self
            .hub
            .auth
            .change_password(account, &old, &new, self.addr)
            .await
        {
            Ok(s) => {
                if let (Some(token), Some(hash)) = (s.token, s.session) {
                    self.session = Some(Box::new(hash));
                    self.hub.reseat(account, &self.conn, hash);
                    self.hub.revoked(account, None, Some(hash));
                    self.conn
                        .reply(&ServerMessage::PasswordChanged { session: token });
                }
            }
            Err(e) => self.error(e.code(), e.to_string(), None::<ClientMsgId>),
        }
        Flow::Continue
    }

    fn not_signed_in(&self) -> Flow {
        self.error(
            ErrorCode::NotSignedIn,
            "guests have no account: sign in first",
            None,
        );
        Flow::Continue
    }
}
