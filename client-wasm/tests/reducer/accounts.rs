//! Accounts and guests: `hello` for each way in, the session saved from `welcome` and replaced
//! by `password_changed`, refusals in words, sign-out and the closes that end a session, and
//! who is a guest.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

fn hello_after(action: Action) -> (ChatState, Vec<String>) {
    let mut s = ChatState::new(3, T0);
    s.apply(action, T0);
    let fx = s.apply(Action::Opened, T0);
    let frames = sent(&fx).iter().map(|m| m.to_json()).collect();
    (s, frames)
}

fn sign_in(nick: &str, password: &str) -> Action {
    Action::SignIn(Login::Password {
        nick: nick.into(),
        password: password.into(),
    })
}

fn refused(mut s: ChatState, code: &str) -> ChatState {
    s.apply(
        Action::Received(format!(
            r#"{{"type":"error","code":"{code}","message":"server words"}}"#
        )),
        T0,
    );
    s
}

/// A member online as alice through a password sign-in, holding session `s.7Hq2xZ`.
fn member() -> (ChatState, Vec<Effect>) {
    let (mut s, _) = hello_after(sign_in("alice", "correct horse"));
    let fx = s.apply(Action::Received(fixture("server_welcome_member")), T0);
    (s, fx)
}

#[test]
fn hello_for_each_way_in() {
    let (_, frames) = hello_after(sign_in(" alice ", "correct horse"));
    assert_eq!(frames, vec![fixture("client_hello_password")]);
    let (_, frames) = hello_after(Action::SignIn(Login::Register {
        nick: "alice".into(),
        password: "correct horse".into(),
    }));
    assert_eq!(frames, vec![fixture("client_hello_register")]);
    let (_, frames) = hello_after(Action::Restore(Saved::Member {
        nick: nick("alice"),
        token: "s.7Hq2xZ".into(),
    }));
    assert_eq!(frames, vec![fixture("client_hello_session")]);
    let (_, frames) = hello_after(Action::SignIn(Login::Jwt {
        token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiIsIm5hbWUiOiJhbGljZSJ9.c2ln".into(),
    }));
    assert_eq!(frames, vec![fixture("client_hello_jwt")]);
    let (_, frames) = hello_after(Action::Connect {
        nick: "alice".into(),
    });
    assert_eq!(frames, vec![fixture("client_hello")]);
    // A guest restored after a reload reclaims its name with its resume token.
    let (s, frames) = hello_after(Action::Restore(Saved::Guest {
        nick: nick("alice"),
        resume_token: "3f2a9c".into(),
    }));
    assert_eq!(frames, vec![fixture("client_hello_resume")]);
    assert!(s.guest);
}

#[test]
fn bad_input_is_refused_before_connecting() {
    for (action, expect) in [
        (sign_in("alice", ""), "Enter your password."),
        (
            Action::SignIn(Login::Register {
                nick: "alice".into(),
                password: "short".into(),
            }),
            "That password is too short: use at least 8 characters.",
        ),
    ] {
        let mut s = ChatState::new(1, T0);
        assert!(s.apply(action, T0).is_empty());
        assert_eq!(s.connection, Connection::Offline);
        assert_eq!(s.login_error.as_deref(), Some(expect));
    }
    let mut s = ChatState::new(1, T0);
    assert!(s.apply(sign_in("a b", "correct horse"), T0).is_empty());
    assert!(s.login_error.is_some());
}

#[test]
fn welcome_with_a_session_saves_it_and_reconnects_with_it() {
    let (mut s, fx) = member();
    assert!(s.in_chat());
    assert!(!s.guest);
    assert!(fx.contains(&Effect::Save(Saved::Member {
        nick: nick("alice"),
        token: "s.7Hq2xZ".into(),
    })));
    // The password is not kept: a reconnect signs in with the session.
    s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0,
    );
    s.apply(Action::RetryNow, T0);
    let fx = s.apply(Action::Opened, T0);
    assert_eq!(
        sent(&fx).iter().map(|m| m.to_json()).collect::<Vec<_>>(),
        vec![fixture("client_hello_session")]
    );
}

#[test]
fn a_guest_welcome_saves_the_name_and_resume_token() {
    let (mut s, _) = hello_after(Action::Connect {
        nick: "carol".into(),
    });
    let fx = s.apply(
        Action::Received(
            welcome("carol", "r1").replace(r#""nick":"carol","#, r#""nick":"carol","guest":true,"#),
        ),
        T0,
    );
    assert!(s.guest);
    assert!(fx.contains(&Effect::Save(Saved::Guest {
        nick: nick("carol"),
        resume_token: "r1".into(),
    })));
}

#[test]
fn password_changed_replaces_the_saved_token() {
    let (mut s, _) = member();
    let fx = s.apply(
        Action::ChangePassword {
            old: "correct horse".into(),
            new: "battery staple".into(),
        },
        T0,
    );
    assert_eq!(
        sent(&fx).iter().map(|m| m.to_json()).collect::<Vec<_>>(),
        vec![fixture("client_change_password")]
    );
    let fx = s.apply(Action::Received(fixture("server_password_changed")), T0);
    assert_eq!(
        fx,
        vec![Effect::Save(Saved::Member {
            nick: nick("alice"),
            token: "s.9Kd4wY".into(),
        })]
    );
    s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0,
    );
    s.apply(Action::RetryNow, T0);
    let fx = s.apply(Action::Opened, T0);
    assert!(matches!(
        &sent(&fx)[..],
        [ClientMessage::Hello { auth: Some(Auth::Session { token }), .. }] if token == "s.9Kd4wY"
    ));
}

#[test]
fn refusals_are_explained_in_words() {
    for (code, expect) in [
        ("sign_in_failed", "Wrong name or password."),
        ("too_many_attempts", "Too many failed attempts: wait"),
        (
            "session_expired",
            "Your session has expired: sign in again.",
        ),
        ("registration_closed", "Registration is closed"),
        ("weak_password", "too short: use at least 8"),
        ("guests_not_allowed", "does not accept guests"),
        ("nick_taken", "The name alice is taken"),
    ] {
        let (s, _) = hello_after(sign_in("alice", "correct horse"));
        let mut s = refused(s, code);
        let fx = s.apply(
            Action::Closed {
                code: 4009,
                reason: String::new(),
            },
            T0,
        );
        assert!(!fx
            .iter()
            .any(|e| matches!(e, Effect::ScheduleReconnect { .. })));
        assert_eq!(s.connection, Connection::Offline, "{code}");
        let shown = s.login_error.clone().unwrap_or_default();
        assert!(shown.contains(expect), "{code}: {shown}");
    }
}

#[test]
fn an_expired_saved_session_is_forgotten() {
    let (s, _) = hello_after(Action::Restore(Saved::Member {
        nick: nick("alice"),
        token: "old".into(),
    }));
    let mut s = s;
    let fx = s.apply(
        Action::Received(r#"{"type":"error","code":"session_expired","message":"expired"}"#.into()),
        T0,
    );
    assert!(fx.contains(&Effect::Forget));
    s.apply(
        Action::Closed {
            code: 4009,
            reason: "auth_failed".into(),
        },
        T0,
    );
    assert!(!s.in_chat());
    assert_eq!(
        s.login_error.as_deref(),
        Some("Your session has expired: sign in again.")
    );
}

#[test]
fn close_4010_clears_the_session_and_shows_the_login() {
    let (mut s, _) = member();
    let fx = s.apply(
        Action::Closed {
            code: 4010,
            reason: "signed_out".into(),
        },
        T0,
    );
    assert_eq!(fx, vec![Effect::Forget]);
    assert!(!s.in_chat());
    assert_eq!(
        s.login_error.as_deref(),
        Some("You were signed out: sign in again.")
    );
}

#[test]
fn sign_out_tells_the_server_forgets_and_starts_over() {
    let (mut s, _) = member();
    let fx = s.apply(Action::SignOut { everywhere: true }, T0);
    assert_eq!(
        fx,
        vec![
            Effect::Send(ClientMessage::SignOut { everywhere: true }),
            Effect::Forget,
            Effect::CancelReconnect,
            Effect::Close,
        ]
    );
    assert!(!s.in_chat());
    assert!(s.rooms.is_empty(), "nothing of the account stays on screen");
    assert_eq!(s.login_error, None);
    // The late close of our own socket changes nothing.
    assert!(s
        .apply(
            Action::Closed {
                code: 4010,
                reason: String::new()
            },
            T0
        )
        .is_empty());
}

#[test]
fn guest_markers_follow_joined_presence_and_messages() {
    let mut s = online("alice");
    s.apply(Action::Received(fixture("server_joined_guests")), T0);
    let general = &s.rooms["general"];
    assert!(general.guests.contains(&nick("carol")));
    assert!(!general.guests.contains(&nick("alice")));
    let groups = s.groups();
    assert!(groups.iter().any(|g| g.sender == "carol" && g.guest));
    assert!(groups.iter().any(|g| g.sender == "bob" && !g.guest));

    s.apply(
        Action::Received(
            ServerMessage::Presence {
                room: room("general"),
                nick: nick("carol"),
                state: PresenceState::Left,
                guest: true,
            }
            .to_json(),
        ),
        T0,
    );
    assert!(!s.rooms["general"].guests.contains(&nick("carol")));
    s.apply(Action::Received(fixture("server_presence_guest")), T0);
    assert!(s.rooms["general"].guests.contains(&nick("carol")));
    assert!(s.rooms["general"].members.contains(&nick("carol")));

    s.apply(Action::Received(fixture("server_message_guest")), T0);
    s.apply(
        Action::Received(
            ServerMessage::Direct(DirectMessage {
                id: 9,
                from: nick("carol"),
                to: nick("alice"),
                text: MessageText::new("psst").expect("text"),
                ts: T0,
                guest: true,
                target: None,
                edited: false,
                deleted: false,
                mentions: Vec::new(),
            })
            .to_json(),
        ),
        T0,
    );
    s.apply(Action::Select(Target::Direct(nick("carol"))), T0);
    let groups = s.groups();
    assert_eq!(groups.len(), 1);
    assert!(groups[0].guest);
}

#[test]
fn a_hello_without_credentials_is_a_guest_even_if_welcome_omits_it() {
    let (mut s, _) = hello_after(Action::Connect {
        nick: "dave".into(),
    });
    let fx = s.apply(Action::Received(welcome("dave", "r2")), T0);
    assert!(s.guest);
    assert!(fx.contains(&Effect::Save(Saved::Guest {
        nick: nick("dave"),
        resume_token: "r2".into(),
    })));
}
