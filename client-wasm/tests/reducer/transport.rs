//! What the reducer does for the two transports (`services::socket` does the switching): the
//! transport in use for the badge, the `hello` a probe WebSocket says, and the probe's
//! `welcome` arriving while online over long polling.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

#[test]
fn via_names_the_transport_and_repaints_only_when_it_changes() {
    let mut s = online("carol");
    assert!(!s.polling);
    let v = s.version;
    s.apply(Action::Via { polling: true }, T0);
    assert!(s.polling);
    assert_eq!(s.version, v + 1);
    s.apply(Action::Via { polling: true }, T0);
    assert_eq!(s.version, v + 1, "no change, no repaint");
    s.apply(Action::Via { polling: false }, T0);
    assert!(!s.polling);
}

#[test]
fn a_guest_probe_says_hello_with_the_latest_resume_token_and_only_while_online() {
    let mut s = ChatState::new(5, T0);
    assert_eq!(s.probe_hello(), None);
    s.apply(
        Action::Connect {
            nick: "alice".into(),
        },
        T0,
    );
    s.apply(Action::Opened, T0);
    assert_eq!(s.probe_hello(), None, "not online yet");
    s.apply(Action::Received(welcome("alice", "3f2a9c")), T0);
    assert_eq!(
        s.probe_hello().map(|m| m.to_json()),
        Some(fixture("client_hello_resume"))
    );
    // The probe's welcome hands out the next one-shot token: a later probe uses that.
    s.apply(Action::Received(welcome("alice", "next")), T0);
    let Some(ClientMessage::Hello { resume_token, .. }) = s.probe_hello() else {
        panic!("a hello");
    };
    assert_eq!(resume_token.as_deref(), Some("next"));
    s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0,
    );
    assert_eq!(
        s.probe_hello(),
        None,
        "reconnecting: the reducer's own hello goes"
    );
}

#[test]
fn a_member_probe_signs_in_with_the_session_and_a_registration_never_runs_twice() {
    let mut s = ChatState::new(5, T0);
    s.apply(
        Action::SignIn(Login::Password {
            nick: "alice".into(),
            password: "correct horse".into(),
        }),
        T0,
    );
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(fixture("server_welcome_member")), T0);
    assert_eq!(
        s.probe_hello().map(|m| m.to_json()),
        Some(fixture("client_hello_session"))
    );

    let mut s = ChatState::new(5, T0);
    s.apply(
        Action::SignIn(Login::Register {
            nick: "alice".into(),
            password: "correct horse battery".into(),
        }),
        T0,
    );
    s.apply(Action::Opened, T0);
    // A welcome without a session leaves the registration as the only credentials.
    s.apply(Action::Received(welcome("alice", "")), T0);
    assert!(s.is_online());
    assert_eq!(s.probe_hello(), None);
}

#[test]
fn the_probe_welcome_while_online_rejoins_after_the_last_message_and_keeps_everything() {
    let mut s = online("carol");
    s.apply(Action::Send("on the way".into()), T0);
    assert_eq!(s.pending.len(), 1);
    // No close comes between: the poll session is dropped when the probe's welcome arrives.
    let fx = s.apply(Action::Received(welcome("carol", "tok2")), T0);
    assert!(s.is_online());
    assert!(sent(&fx).contains(&ClientMessage::Join {
        room: room("general"),
        after: Some(2),
    }));
    assert_eq!(room_ids(&s, "general"), vec![1, 2]);
    // The rejoin's catch-up overlaps what the poll session already delivered: no duplicate,
    // and the message in the outbox goes again once the room is joined.
    let fx = s.apply(
        Action::Received(joined_json(
            "general",
            &["alice", "bob", "carol"],
            &[(2, "bob", "two"), (3, "bob", "three")],
            false,
        )),
        T0,
    );
    assert_eq!(room_ids(&s, "general"), vec![1, 2, 3]);
    assert!(sent(&fx)
        .iter()
        .any(|m| matches!(m, ClientMessage::Send { text, .. } if text.as_str() == "on the way")));
    assert_eq!(s.pending.len(), 1, "kept until the server acks it");
}

#[test]
fn the_poll_link_spells_the_shared_path_and_headers() {
    // The link's JavaScript writes the header names out (no bindings for four strings): they
    // must stay the ones the server reads.
    let link = include_str!("../../src/services/socket.rs");
    for name in [POLL_SESSION, POLL_ACK, POLL_SEQ, POLL_CLOSE] {
        assert!(link.contains(&format!("'{name}'")), "{name} in socket.rs");
    }
    assert!(link.contains("shared::POLL_PATH"));
}
