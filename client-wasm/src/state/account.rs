//! Who the user is: a guest (a nickname, reclaimed after a reload with its resume token) or an
//! account (a password or a JWT once, then the session token the server hands back). Builds
//! `hello` for each, saves and forgets what the next page load needs (as effects: storage is the
//! driver's), and puts the server's refusals into words for the login form.

use super::model::capitalize;
use super::{ChatState, Connection, Effect};
use shared::types::MIN_PASSWORD_CHARS;
use shared::{
    Auth, ClientMessage, ClientMsgId, CloseReason, ErrorCode, Nickname, Password, PROTOCOL_VERSION,
};

/// A sign-in from the login form.
#[derive(Debug, Clone, PartialEq)]
pub enum Login {
    /// Sign in to the account `nick`.
    Password { nick: String, password: String },
    /// Create the account `nick`, then sign in.
    Register { nick: String, password: String },
    /// A token from the site this chat is part of.
    Jwt { token: String },
}

/// What a page load keeps for the next one: an account's session (in `localStorage`, shared by
/// the tabs) or a guest's name and resume token (in `sessionStorage`, this tab only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Member {
        nick: Nickname,
        token: String,
    },
    Guest {
        nick: Nickname,
        resume_token: String,
    },
}

/// How the next `hello` proves who we are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Credentials {
    /// No account: `nick`, and the resume token if we had a session.
    #[default]
    Guest,
    Password(Password),
    Register(Password),
    Session(String),
    Jwt(String),
}

/// A refusal of the server (an `error` code while signing in) in words for the login form;
/// `None` for codes that are not about who we are.
pub fn refusal(code: ErrorCode, nick: Option<&Nickname>) -> Option<String> {
    let name = nick.map_or_else(|| "That name".to_string(), |n| format!("The name {n}"));
    Some(match code {
        ErrorCode::NickTaken => format!(
            "{name} is taken: someone is using it, or it belongs to an account. Pick another, \
             or sign in if it is yours."
        ),
        ErrorCode::SignInFailed => "Wrong name or password.".into(),
        ErrorCode::TooManyAttempts => {
            "Too many failed attempts: wait a few minutes, then try again.".into()
        }
        ErrorCode::SessionExpired => "Your session has expired: sign in again.".into(),
        ErrorCode::InvalidToken => "Your sign-in token is not valid: sign in again.".into(),
        ErrorCode::RegistrationClosed => "Registration is closed on this server.".into(),
        ErrorCode::WeakPassword => {
            format!("That password is too short: use at least {MIN_PASSWORD_CHARS} characters.")
        }
        ErrorCode::GuestsNotAllowed => {
            "This server does not accept guests: sign in or register.".into()
        }
        ErrorCode::NotSignedIn => "Sign in first.".into(),
        ErrorCode::NotInvited => "That room is invite-only: ask its owner to invite you.".into(),
        ErrorCode::Banned => "You are banned from that room.".into(),
        ErrorCode::Muted => "You are muted in this room.".into(),
        ErrorCode::NotAllowed => "Only the room's owner or an admin may do that.".into(),
        ErrorCode::RoomExists => "A room of that name exists already: join it.".into(),
        ErrorCode::GuestsCannotCreateRooms => "Guests cannot create rooms here: sign in.".into(),
        ErrorCode::NoSuchMessage => "That message is gone.".into(),
        _ => return None,
    })
}

/// Why a close about the account ended the chat; `None` for other codes.
pub(super) fn account_close(code: u16) -> Option<&'static str> {
    Some(match CloseReason::from_code(code)? {
        CloseReason::AuthFailed => "Signing in failed: sign in again.",
        CloseReason::SignedOut => "You were signed out: sign in again.",
        CloseReason::GuestsNotAllowed => "This server does not accept guests: sign in or register.",
        CloseReason::TooManyAttempts => {
            "Too many failed attempts: wait a few minutes, then try again."
        }
        _ => return None,
    })
}

impl ChatState {
    /// Starts connecting as `nick` (if known) with `auth`. False (with the reason on the login
    /// form when there is one) when already connecting or online.
    pub(super) fn begin(
        &mut self,
        nick: Option<Nickname>,
        auth: Credentials,
        fx: &mut Vec<Effect>,
    ) -> bool {
        if matches!(
            self.connection,
            Connection::Connecting { .. } | Connection::Online
        ) {
            return false;
        }
        if nick.is_none() || self.nick != nick {
            self.start_over(nick);
        }
        self.guest = auth == Credentials::Guest;
        self.auth = auth;
        self.login_error = None;
        self.notice = None;
        self.fatal = false;
        self.welcomed = false;
        self.connection = Connection::Connecting { attempt: 0 };
        fx.push(Effect::CancelReconnect);
        fx.push(Effect::Open);
        true
    }

    /// The login form's sign-in and register buttons. What can be checked here (the name, an
    /// empty or short password) is refused without a round trip.
    pub(super) fn sign_in(&mut self, login: Login, fx: &mut Vec<Effect>) -> bool {
        let (nick, password, register) = match login {
            Login::Jwt { token } => return self.begin(None, Credentials::Jwt(token), fx),
            Login::Password { nick, password } => (nick, password, false),
            Login::Register { nick, password } => (nick, password, true),
        };
        if password.is_empty() {
            return self.refuse("Enter your password.".into());
        }
        let Some(nick) = self.parse_nick(&nick) else {
            return true;
        };
        let auth = match Password::new(password) {
            Ok(p) if !register => Credentials::Password(p),
            Ok(p) if p.strong_enough() => Credentials::Register(p),
            Ok(_) => {
                return self.refuse(refusal(ErrorCode::WeakPassword, None).unwrap_or_default())
            }
            Err(e) => return self.refuse(capitalize(&e.to_string())),
        };
        self.begin(Some(nick), auth, fx)
    }

    /// A saved session or guest from an earlier page load.
    pub(super) fn restore(&mut self, saved: Saved, fx: &mut Vec<Effect>) -> bool {
        match saved {
            Saved::Member { nick, token } => {
                self.begin(Some(nick), Credentials::Session(token), fx)
            }
            Saved::Guest { nick, resume_token } => {
                let started = self.begin(Some(nick), Credentials::Guest, fx);
                if started {
                    self.resume_token = Some(resume_token);
                }
                started
            }
        }
    }

    /// Signs out: tells the server (when online), forgets what was saved, closes, and starts
    /// over on the login form.
    pub(super) fn sign_out(&mut self, everywhere: bool, fx: &mut Vec<Effect>) -> bool {
        if self.is_online() {
            fx.push(Effect::Send(ClientMessage::SignOut { everywhere }));
        }
        fx.push(Effect::Forget);
        self.disconnect(fx);
        let nick = self.nick.clone();
        self.start_over(nick);
        true
    }

    pub(super) fn change_password(
        &mut self,
        old: String,
        new: String,
        fx: &mut Vec<Effect>,
    ) -> bool {
        if !self.is_online() || self.guest {
            self.notice = refusal(ErrorCode::NotSignedIn, None);
            return true;
        }
        match (Password::new(old), Password::new(new)) {
            (Ok(old), Ok(new)) if new.strong_enough() => {
                fx.push(Effect::Send(ClientMessage::ChangePassword { old, new }));
                false
            }
            _ => {
                self.notice = refusal(ErrorCode::WeakPassword, None);
                true
            }
        }
    }

    /// `password_changed`: the new session token replaces the saved one.
    pub(super) fn password_changed(&mut self, token: String, fx: &mut Vec<Effect>) -> bool {
        self.auth = Credentials::Session(token);
        self.save(fx);
        self.notice = Some("Password changed. Your other sessions were signed out.".into());
        true
    }

    /// The `hello` for the socket that just opened.
    pub(super) fn hello(&self) -> Option<ClientMessage> {
        let (nick, resume_token, auth) = match &self.auth {
            Credentials::Guest => (Some(self.nick.clone()?), self.resume_token.clone(), None),
            Credentials::Password(p) => (
                self.nick.clone(),
                None,
                Some(Auth::Password {
                    password: p.clone(),
                }),
            ),
            Credentials::Register(p) => (
                self.nick.clone(),
                None,
                Some(Auth::Register {
                    password: p.clone(),
                }),
            ),
            Credentials::Session(token) => (
                None,
                None,
                Some(Auth::Session {
                    token: token.clone(),
                }),
            ),
            Credentials::Jwt(token) => (
                None,
                None,
                Some(Auth::Jwt {
                    token: token.clone(),
                }),
            ),
        };
        Some(ClientMessage::Hello {
            nick,
            protocol: PROTOCOL_VERSION,
            resume_token,
            auth,
        })
    }

    /// The `hello` for a probe WebSocket opened while online over long polling (see
    /// `services::socket`): the link's own credentials, so the user stays who it is (a guest's
    /// resume token, from the latest `welcome`, hands its name over to the probe). None while
    /// not online, or for a registration, which must not run twice.
    pub fn probe_hello(&self) -> Option<ClientMessage> {
        if !self.is_online() || matches!(self.auth, Credentials::Register(_)) {
            return None;
        }
        self.hello()
    }

    /// `welcome` said who we are: a member's new session token replaces the password (which is
    /// not kept); what the next page load needs is saved.
    pub(super) fn welcomed_as(
        &mut self,
        guest: bool,
        session: Option<String>,
        fx: &mut Vec<Effect>,
    ) {
        // A `hello` without credentials makes a guest, whether `welcome` says so or not.
        let guest = guest || self.auth == Credentials::Guest;
        self.guest = guest;
        if guest {
            self.auth = Credentials::Guest;
        } else if let Some(token) = session {
            self.auth = Credentials::Session(token);
        }
        self.save(fx);
    }

    fn save(&self, fx: &mut Vec<Effect>) {
        let Some(nick) = self.nick.clone() else {
            return;
        };
        match (&self.auth, &self.resume_token) {
            (Credentials::Session(token), _) => fx.push(Effect::Save(Saved::Member {
                nick,
                token: token.clone(),
            })),
            (Credentials::Guest, Some(resume_token)) => fx.push(Effect::Save(Saved::Guest {
                nick,
                resume_token: resume_token.clone(),
            })),
            _ => {}
        }
    }

    /// The saved session no longer works: forget it, so the next attempt starts from the form.
    pub(super) fn drop_session(&mut self, fx: &mut Vec<Effect>) {
        if matches!(self.auth, Credentials::Session(_) | Credentials::Jwt(_)) {
            self.auth = Credentials::Guest;
        }
        fx.push(Effect::Forget);
    }

    fn parse_nick(&mut self, raw: &str) -> Option<Nickname> {
        match Nickname::new(raw.trim()) {
            Ok(nick) => Some(nick),
            Err(err) => {
                self.login_error = Some(capitalize(&err.to_string()));
                None
            }
        }
    }

    fn refuse(&mut self, reason: String) -> bool {
        self.login_error = Some(reason);
        true
    }

    /// An `error` frame: a refusal while signing in (or a nickname taken) ends the login with
    /// the reason in words, one naming a pending message marks it failed, the rest become a
    /// notice.
    pub(super) fn error(
        &mut self,
        code: ErrorCode,
        message: String,
        client_id: Option<ClientMsgId>,
        fx: &mut Vec<Effect>,
    ) {
        // The server closes right after these; reconnecting would get the same answer.
        let fatal = match code {
            ErrorCode::InvalidNick | ErrorCode::UnsupportedProtocol => Some(message.clone()),
            ErrorCode::NickTaken => refusal(code, self.nick.as_ref()),
            _ if !self.welcomed => refusal(code, self.nick.as_ref()),
            _ => None,
        };
        if let Some(reason) = fatal {
            self.fatal = true;
            self.login_error = Some(reason);
            if matches!(code, ErrorCode::SessionExpired | ErrorCode::InvalidToken) {
                self.drop_session(fx);
            }
            return;
        }
        if let Some(client_id) = client_id {
            if let Some(p) = self.pending.iter_mut().find(|p| p.client_id == client_id) {
                p.failed = Some(message);
                return;
            }
        }
        self.notice = Some(refusal(code, None).unwrap_or(message));
    }
}
