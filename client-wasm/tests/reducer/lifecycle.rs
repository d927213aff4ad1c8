//! Login, hello and welcome, closes that end the chat, reconnecting with backoff and resuming
//! where we left off, a new history epoch, and the periodic room listing.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

#[test]
fn login_sends_exact_hello_and_joins_default_room() {
    let mut s = ChatState::new(1, T0);
    assert!(!s.in_chat());
    let fx = s.apply(
        Action::Connect {
            nick: " alice ".into(),
        },
        T0,
    );
    assert_eq!(fx, vec![Effect::CancelReconnect, Effect::Open]);
    assert_eq!(s.connection, Connection::Connecting { attempt: 0 });
    let fx = s.apply(Action::Opened, T0);
    assert_eq!(
        sent(&fx).iter().map(|m| m.to_json()).collect::<Vec<_>>(),
        vec![fixture("client_hello")]
    );

    let fx = s.apply(Action::Received(fixture("server_welcome")), T0);
    assert!(s.in_chat());
    assert_eq!(s.connection, Connection::Online);
    let frames: Vec<String> = sent(&fx).iter().map(|m| m.to_json()).collect();
    assert_eq!(
        frames,
        vec![fixture("client_join"), fixture("client_list_rooms")]
    );
    assert_eq!(s.active, Some(Target::Room(room("general"))));

    s.apply(Action::Received(fixture("server_joined")), T0);
    let general = &s.rooms["general"];
    assert!(general.joined);
    assert!(
        general.has_older,
        "joined.has_more on a fresh join means older pages exist"
    );
    assert_eq!(general.members.len(), 2);
    assert_eq!(
        general.messages[0].text.as_str(),
        "hello <b>world</b> \"quoted\" é"
    );
}

#[test]
fn invalid_nickname_is_refused_locally_with_the_shared_reason() {
    let mut s = ChatState::new(1, T0);
    let fx = s.apply(Action::Connect { nick: "a b".into() }, T0);
    assert!(fx.is_empty());
    assert_eq!(s.connection, Connection::Offline);
    let err = s.login_error.clone().expect("error shown");
    assert!(err.contains("letters, digits"), "{err}");
    let fx = s.apply(Action::Connect { nick: "".into() }, T0);
    assert!(fx.is_empty());
}

#[test]
fn nick_taken_shows_server_reason_and_does_not_reconnect() {
    let mut s = ChatState::new(1, T0);
    s.apply(
        Action::Connect {
            nick: "alice".into(),
        },
        T0,
    );
    s.apply(Action::Opened, T0);
    s.apply(
        Action::Received(
            r#"{"type":"error","code":"nick_taken","message":"nickname alice is already in use"}"#
                .into(),
        ),
        T0,
    );
    let fx = s.apply(
        Action::Closed {
            code: 4001,
            reason: "nick_taken".into(),
        },
        T0,
    );
    assert!(fx.is_empty(), "no reconnect after nick_taken: {fx:?}");
    assert_eq!(s.connection, Connection::Offline);
    assert!(!s.in_chat());
    let reason = s.login_error.clone().expect("reason shown");
    assert!(
        reason.contains("alice is taken") && reason.contains("sign in"),
        "{reason}"
    );

    // Trying again clears the message.
    let fx = s.apply(
        Action::Connect {
            nick: "alice2".into(),
        },
        T0,
    );
    assert_eq!(fx, vec![Effect::CancelReconnect, Effect::Open]);
    assert_eq!(s.login_error, None);
}

#[test]
fn close_4001_without_error_frame_still_explains() {
    let mut s = ChatState::new(1, T0);
    s.apply(
        Action::Connect {
            nick: "alice".into(),
        },
        T0,
    );
    s.apply(Action::Opened, T0);
    s.apply(
        Action::Closed {
            code: 4001,
            reason: "nick_taken".into(),
        },
        T0,
    );
    assert_eq!(s.login_error.as_deref(), Some("That nickname is in use."));
}

#[test]
fn unreachable_server_on_first_connect_goes_back_to_login() {
    let mut s = ChatState::new(1, T0);
    s.apply(
        Action::Connect {
            nick: "alice".into(),
        },
        T0,
    );
    let fx = s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0,
    );
    assert!(fx.is_empty());
    assert_eq!(s.connection, Connection::Offline);
    assert_eq!(
        s.login_error.as_deref(),
        Some("Could not reach the server.")
    );
}

#[test]
fn final_closes_go_offline_with_a_reason() {
    for (code, expect) in [
        (4005, "This session was opened somewhere else."),
        (1008, "Disconnected for sending too fast."),
        (1000, "The server ended the session."),
    ] {
        let mut s = online("carol");
        let fx = s.apply(
            Action::Closed {
                code,
                reason: String::new(),
            },
            T0,
        );
        assert!(fx.is_empty(), "{code}: {fx:?}");
        assert_eq!(s.connection, Connection::Offline);
        assert_eq!(s.login_error.as_deref(), Some(expect));
        assert!(!s.in_chat());
    }
}

#[test]
fn disconnect_closes_and_ignores_the_late_close_event() {
    let mut s = online("carol");
    let fx = s.apply(Action::Disconnect, T0);
    assert_eq!(fx, vec![Effect::CancelReconnect, Effect::Close]);
    assert!(s
        .apply(
            Action::Closed {
                code: 1000,
                reason: String::new()
            },
            T0
        )
        .is_empty());
    assert_eq!(s.login_error, None);
    // Coming back as the same user keeps the rooms and resumes them.
    s.apply(
        Action::Connect {
            nick: "carol".into(),
        },
        T0,
    );
    s.apply(Action::Opened, T0);
    let fx = s.apply(Action::Received(welcome("carol", "t2")), T0);
    assert!(sent(&fx).contains(&ClientMessage::Join {
        room: room("general"),
        after: Some(2)
    }));
    // Another user starts clean.
    s.apply(Action::Disconnect, T0);
    s.apply(
        Action::Connect {
            nick: "dave".into(),
        },
        T0,
    );
    assert!(s.rooms.is_empty());
}

#[test]
fn backoff_grows_exponentially_with_jitter_and_a_cap() {
    assert_eq!(backoff_ms(1, 0.0), 250);
    assert_eq!(backoff_ms(1, 0.999_999), 499);
    assert_eq!(backoff_ms(2, 0.0), 500);
    assert_eq!(backoff_ms(3, 0.0), 1000);
    assert_eq!(backoff_ms(4, 1.0), 4000);
    assert_eq!(backoff_ms(30, 0.0), RECONNECT_MAX_MS / 2);
    assert_eq!(backoff_ms(u32::MAX, 1.0), RECONNECT_MAX_MS);
    for attempt in 1..12 {
        assert!(backoff_ms(attempt, 0.5) <= backoff_ms(attempt + 1, 0.5));
    }
}

#[test]
fn reconnect_rejoins_after_last_seen_resends_and_dedupes() {
    let mut s = online("carol");
    // One message acked, one still pending when the server goes away.
    s.apply(Action::Send("acked".into()), T0);
    let acked = pending_id(&s, 0);
    s.apply(Action::Received(ack_json(&acked, 3, false)), T0);
    s.apply(Action::Send("in flight".into()), T0);
    let in_flight = pending_id(&s, 0);

    let fx = s.apply(
        Action::Closed {
            code: 1001,
            reason: "going_away".into(),
        },
        T0,
    );
    let Connection::Reconnecting {
        attempt: 1,
        retry_at,
    } = s.connection
    else {
        panic!("{:?}", s.connection)
    };
    let [Effect::ScheduleReconnect { delay_ms }] = fx[..] else {
        panic!("{fx:?}")
    };
    assert!((250..500).contains(&delay_ms), "{delay_ms}");
    assert_eq!(retry_at, T0 + i64::from(delay_ms));
    assert!(s.in_chat(), "the chat stays on screen while reconnecting");
    assert_eq!(s.retry_in_secs(), Some(1));

    // Messages typed while offline wait in the outbox.
    assert!(sent(&s.apply(Action::Send("typed offline".into()), T0)).is_empty());
    let offline = pending_id(&s, 1);

    // The first retry fails too: the wait doubles.
    s.apply(Action::ReconnectDue, T0 + 500);
    assert_eq!(s.connection, Connection::Connecting { attempt: 1 });
    let fx = s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0 + 600,
    );
    let [Effect::ScheduleReconnect { delay_ms }] = fx[..] else {
        panic!("{fx:?}")
    };
    assert!((500..1000).contains(&delay_ms), "{delay_ms}");

    let fx = s.apply(Action::ReconnectDue, T0 + 2000);
    assert_eq!(fx, vec![Effect::CancelReconnect, Effect::Open]);
    let fx = s.apply(Action::Opened, T0 + 2000);
    assert_eq!(
        sent(&fx),
        vec![ClientMessage::Hello {
            nick: Some(nick("carol")),
            protocol: 1,
            resume_token: Some("tok1".into()),
            auth: None,
        }]
    );
    let fx = s.apply(Action::Received(welcome("carol", "tok2")), T0 + 2000);
    assert_eq!(s.connection, Connection::Online);
    // Rejoin from the last seen id; the room's sends wait for the join.
    assert_eq!(
        sent(&fx),
        vec![
            ClientMessage::Join {
                room: room("general"),
                after: Some(3)
            },
            ClientMessage::ListRooms { after: None }
        ]
    );

    // The server stored "in flight" (id 4) before dying; someone else wrote 5.
    let fx = s.apply(
        Action::Received(joined_json(
            "general",
            &["alice", "carol"],
            &[
                (4, "carol", "in flight"),
                (5, "alice", "while you were away"),
            ],
            false,
        )),
        T0 + 2000,
    );
    let resent = sent(&fx);
    assert_eq!(resent.len(), 3, "{resent:?}");
    assert!(matches!(&resent[0], ClientMessage::Send { client_id, .. } if *client_id == in_flight));
    assert!(matches!(&resent[1], ClientMessage::Send { client_id, .. } if *client_id == offline));
    assert_eq!(resent[2], ClientMessage::ListRooms { after: None });

    // The server dedups the resend and stores the offline one.
    s.apply(Action::Received(ack_json(&in_flight, 4, true)), T0 + 2000);
    s.apply(
        Action::Received(msg_json(6, "general", "carol", "typed offline")),
        T0 + 2000,
    );
    s.apply(Action::Received(ack_json(&offline, 6, false)), T0 + 2000);
    assert!(s.pending.is_empty());
    assert_eq!(room_ids(&s, "general"), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(s.rooms["general"].members.len(), 2);

    // A later drop starts the backoff from the beginning again.
    let fx = s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0 + 3000,
    );
    let [Effect::ScheduleReconnect { delay_ms }] = fx[..] else {
        panic!("{fx:?}")
    };
    assert!(delay_ms < 500);
}

#[test]
fn a_new_history_epoch_drops_held_messages_and_rejoins_from_the_start() {
    let mut s = ChatState::new(7, T0);
    s.apply(
        Action::Connect {
            nick: "carol".into(),
        },
        T0,
    );
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(welcome("carol", "tok1")), T0);
    s.apply(
        Action::Received(joined_json(
            "general",
            &["carol"],
            &[(1, "alice", "old one"), (2, "alice", "old two")],
            false,
        )),
        T0,
    );
    assert_eq!(s.rooms[&room("general")].messages.len(), 2);
    // Same epoch after a reconnect: resume from the last id.
    s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0 + 10,
    );
    s.apply(Action::ReconnectDue, T0 + 2000);
    s.apply(Action::Opened, T0 + 2000);
    let fx = s.apply(Action::Received(welcome("carol", "tok1")), T0 + 2000);
    assert!(sent(&fx).contains(&ClientMessage::Join {
        room: room("general"),
        after: Some(2)
    }));
    // A different epoch: ids started over on the server (an ephemeral store restarted).
    s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0 + 3000,
    );
    s.apply(Action::ReconnectDue, T0 + 6000);
    s.apply(Action::Opened, T0 + 6000);
    let fx = s.apply(
        Action::Received(welcome_epoch("carol", "tok1", "e2")),
        T0 + 6000,
    );
    assert!(sent(&fx).contains(&ClientMessage::Join {
        room: room("general"),
        after: None
    }));
    assert!(s.rooms[&room("general")].messages.is_empty());
    assert!(s.notice.is_some());
    // The new history's id 1 is shown, not mistaken for the old id 1.
    s.apply(
        Action::Received(joined_json(
            "general",
            &["carol"],
            &[(1, "dave", "fresh start")],
            false,
        )),
        T0 + 6000,
    );
    let texts: Vec<&str> = s.rooms[&room("general")]
        .messages
        .iter()
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts, vec!["fresh start"]);
}

#[test]
fn room_listing_is_refreshed_while_online() {
    let mut s = online("carol");
    assert!(sent(&s.apply(Action::Tick, T0 + 1_000)).is_empty());
    let fx = s.apply(Action::Tick, T0 + ROOM_LIST_REFRESH_MS + 1);
    assert_eq!(sent(&fx), vec![ClientMessage::ListRooms { after: None }]);
    assert!(sent(&s.apply(Action::Tick, T0 + ROOM_LIST_REFRESH_MS + 2_000)).is_empty());
    s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0,
    );
    assert!(sent(&s.apply(Action::Tick, T0 + 10 * ROOM_LIST_REFRESH_MS)).is_empty());
}
