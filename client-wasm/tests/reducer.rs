//! The reducer on the host: every rule of the client (login, send and ack, reconnect with
//! backoff, resume without gaps or duplicates, unread counts, presence, typing) as plain tests.
#![cfg(not(target_arch = "wasm32"))]

use client_wasm::state::*;
use shared::*;

const T0: i64 = 1_764_000_000_000;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../shared/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

fn room(s: &str) -> RoomName {
    RoomName::new(s).expect("room")
}
fn nick(s: &str) -> Nickname {
    Nickname::new(s).expect("nick")
}

fn welcome(nick: &str, token: &str) -> String {
    welcome_epoch(nick, token, "e1")
}

fn welcome_epoch(nick: &str, token: &str, epoch: &str) -> String {
    format!(
        r#"{{"type":"welcome","nick":"{nick}","protocol":1,"default_room":"general","resume_token":"{token}","epoch":"{epoch}","limits":{{"max_message_bytes":16384,"max_text_bytes":4000,"history_page":50,"rate_per_sec":10,"rate_burst":20}}}}"#
    )
}

fn msg_json(id: u64, room: &str, sender: &str, text: &str) -> String {
    ServerMessage::Message(ChatMessage {
        id,
        room: RoomName::new(room).expect("room"),
        sender: nick(sender),
        text: MessageText::new(text).expect("text"),
        ts: T0 + id as i64,
    })
    .to_json()
}

fn joined_json(
    room: &str,
    members: &[&str],
    history: &[(u64, &str, &str)],
    has_more: bool,
) -> String {
    ServerMessage::Joined {
        room: RoomName::new(room).expect("room"),
        members: members.iter().map(|m| nick(m)).collect(),
        history: history
            .iter()
            .map(|(id, sender, text)| ChatMessage {
                id: *id,
                room: RoomName::new(room).expect("room"),
                sender: nick(sender),
                text: MessageText::new(*text).expect("text"),
                ts: T0 + *id as i64,
            })
            .collect(),
        has_more,
    }
    .to_json()
}

fn ack_json(client_id: &ClientMsgId, id: u64, duplicate: bool) -> String {
    ServerMessage::Ack {
        client_id: client_id.clone(),
        id,
        ts: T0 + id as i64,
        duplicate,
    }
    .to_json()
}

fn sent(fx: &[Effect]) -> Vec<ClientMessage> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// A state logged in as `me`, in `general` with alice and bob, holding messages 1 and 2.
fn online(me: &str) -> ChatState {
    let mut s = ChatState::new(7, T0);
    assert_eq!(
        s.apply(Action::Connect { nick: me.into() }, T0),
        vec![Effect::CancelReconnect, Effect::Open]
    );
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(welcome(me, "tok1")), T0);
    s.apply(
        Action::Received(joined_json(
            "general",
            &["alice", "bob"],
            &[(1, "bob", "one"), (2, "bob", "two")],
            false,
        )),
        T0,
    );
    assert!(s.is_online());
    s
}

fn room_ids(s: &ChatState, name: &str) -> Vec<u64> {
    s.rooms[name].messages.iter().map(|m| m.id).collect()
}

fn pending_id(s: &ChatState, i: usize) -> ClientMsgId {
    s.pending[i].client_id.clone()
}

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
    assert_eq!(
        s.login_error.as_deref(),
        Some("nickname alice is already in use")
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
fn send_is_pending_until_ack_and_never_shown_twice() {
    let mut s = online("carol");
    let fx = s.apply(Action::Send("hi all".into()), T0);
    let cid = pending_id(&s, 0);
    assert_eq!(
        sent(&fx),
        vec![ClientMessage::Send {
            room: room("general"),
            text: MessageText::new("hi all").expect("t"),
            client_id: cid.clone()
        }]
    );
    let groups = s.groups();
    let last = groups.last().expect("a group");
    assert_eq!(last.sender, "carol");
    assert!(last.mine);
    assert!(matches!(last.lines[0].status, LineStatus::Pending { .. }));

    // Broadcast first, then the ack: one line.
    s.apply(
        Action::Received(msg_json(3, "general", "carol", "hi all")),
        T0,
    );
    s.apply(Action::Received(ack_json(&cid, 3, false)), T0);
    assert!(s.pending.is_empty());
    assert_eq!(room_ids(&s, "general"), vec![1, 2, 3]);

    // Ack first, then the broadcast: still one line.
    s.apply(Action::Send("again".into()), T0);
    let cid = pending_id(&s, 0);
    s.apply(Action::Received(ack_json(&cid, 4, false)), T0);
    assert_eq!(room_ids(&s, "general"), vec![1, 2, 3, 4]);
    s.apply(
        Action::Received(msg_json(4, "general", "carol", "again")),
        T0,
    );
    assert_eq!(room_ids(&s, "general"), vec![1, 2, 3, 4]);
    let lines: usize = s.groups().iter().map(|g| g.lines.len()).sum();
    assert_eq!(lines, 4);
}

#[test]
fn blank_text_is_ignored_and_long_text_explained() {
    let mut s = online("carol");
    assert!(s.apply(Action::Send("   ".into()), T0).is_empty());
    assert!(s.pending.is_empty());
    assert!(s.apply(Action::Send("x".repeat(4001)), T0).is_empty());
    assert!(s.notice.as_deref().is_some_and(|n| n.contains("4000")));
}

#[test]
fn client_ids_are_unique_valid_and_differ_between_page_loads() {
    let mut a = online("carol");
    let mut b = ChatState::new(99, T0 + 1);
    b.apply(
        Action::Connect {
            nick: "carol".into(),
        },
        T0,
    );
    b.apply(Action::Opened, T0);
    b.apply(Action::Received(welcome("carol", "t")), T0);
    b.apply(
        Action::Received(joined_json("general", &["carol"], &[], false)),
        T0,
    );
    for i in 0..5 {
        a.apply(Action::Send(format!("m{i}")), T0);
        b.apply(Action::Send(format!("m{i}")), T0);
    }
    let mut ids: Vec<String> = a
        .pending
        .iter()
        .chain(b.pending.iter())
        .map(|p| p.client_id.to_string())
        .collect();
    assert!(ids.iter().all(|id| id.len() <= 64));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 10);
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
            nick: nick("carol"),
            protocol: 1,
            resume_token: Some("tok1".into())
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
            ClientMessage::ListRooms
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
    assert_eq!(resent[2], ClientMessage::ListRooms);

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
fn resume_pages_forward_until_the_gap_is_filled() {
    let mut s = online("carol");
    s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0,
    );
    s.apply(Action::RetryNow, T0);
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(welcome("carol", "t")), T0);
    let fx = s.apply(
        Action::Received(joined_json(
            "general",
            &["carol"],
            &[(3, "bob", "3"), (4, "bob", "4")],
            true,
        )),
        T0,
    );
    assert!(sent(&fx).contains(&ClientMessage::History {
        room: room("general"),
        before: None,
        after: Some(4),
        limit: Some(50)
    }));
    // An overlapping page changes nothing twice; has_more=false ends the catch-up.
    let page = r#"{"type":"history","room":"general","messages":[{"id":4,"room":"general","sender":"bob","text":"4","ts":1},{"id":5,"room":"general","sender":"bob","text":"5","ts":2}],"has_more":false}"#;
    let fx = s.apply(Action::Received(page.into()), T0);
    assert!(sent(&fx).is_empty());
    assert_eq!(room_ids(&s, "general"), vec![1, 2, 3, 4, 5]);
    assert_eq!(s.rooms["general"].paging, Paging::Idle);
    assert!(
        !s.rooms["general"].has_older,
        "resume has_more says nothing about older pages"
    );
}

#[test]
fn older_pages_on_request() {
    let mut s = ChatState::new(1, T0);
    s.apply(
        Action::Connect {
            nick: "carol".into(),
        },
        T0,
    );
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(welcome("carol", "t")), T0);
    s.apply(
        Action::Received(joined_json(
            "general",
            &["carol"],
            &[(10, "bob", "ten")],
            true,
        )),
        T0,
    );
    let fx = s.apply(Action::LoadOlder, T0);
    assert_eq!(
        sent(&fx),
        vec![ClientMessage::History {
            room: room("general"),
            before: Some(10),
            after: None,
            limit: Some(50)
        }]
    );
    assert!(
        sent(&s.apply(Action::LoadOlder, T0)).is_empty(),
        "one page at a time"
    );
    let page = r#"{"type":"history","room":"general","messages":[{"id":8,"room":"general","sender":"bob","text":"8","ts":1},{"id":9,"room":"general","sender":"bob","text":"9","ts":2}],"has_more":false}"#;
    s.apply(Action::Received(page.into()), T0);
    assert_eq!(room_ids(&s, "general"), vec![8, 9, 10]);
    assert!(!s.rooms["general"].has_older);
    assert!(sent(&s.apply(Action::LoadOlder, T0)).is_empty());
}

#[test]
fn unread_counts_per_room_and_reset_on_select() {
    let mut s = online("carol");
    let fx = s.apply(Action::Join("#rust".into()), T0);
    assert_eq!(
        sent(&fx),
        vec![ClientMessage::Join {
            room: room("rust"),
            after: None
        }]
    );
    assert_eq!(s.active, Some(Target::Room(room("rust"))));
    s.apply(
        Action::Received(joined_json("rust", &["carol"], &[], false)),
        T0,
    );
    // general is in the background now.
    s.apply(Action::Received(msg_json(3, "general", "bob", "psst")), T0);
    s.apply(Action::Received(msg_json(4, "general", "bob", "psst2")), T0);
    s.apply(Action::Received(msg_json(4, "general", "bob", "psst2")), T0);
    s.apply(
        Action::Received(msg_json(5, "general", "carol", "mine")),
        T0,
    );
    s.apply(Action::Received(msg_json(1, "rust", "bob", "in view")), T0);
    assert_eq!(s.rooms["general"].unread, 2);
    assert_eq!(s.rooms["rust"].unread, 0);
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    assert_eq!(s.rooms["general"].unread, 0);
    // Messages for rooms we are not in are ignored.
    s.apply(Action::Received(msg_json(9, "elsewhere", "bob", "x")), T0);
    assert!(!s.rooms.contains_key("elsewhere"));
}

#[test]
fn join_and_leave() {
    let mut s = online("carol");
    assert!(sent(&s.apply(Action::Join("bad name!".into()), T0)).is_empty());
    assert!(s.notice.is_some());
    s.apply(Action::DismissNotice, T0);
    assert!(s.notice.is_none());
    s.apply(Action::Join("rust".into()), T0);
    // Joining a room we are in only selects it.
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    assert!(sent(&s.apply(Action::Join("rust".into()), T0)).is_empty());
    assert_eq!(s.active, Some(Target::Room(room("rust"))));
    let fx = s.apply(Action::Leave(room("rust")), T0);
    assert_eq!(sent(&fx), vec![ClientMessage::Leave { room: room("rust") }]);
    assert!(!s.rooms.contains_key("rust"));
    assert_eq!(s.active, Some(Target::Room(room("general"))));
    s.apply(Action::Received(fixture("server_rooms")), T0);
    assert_eq!(s.directory.len(), 1);
}

#[test]
fn presence_keeps_the_member_list_live() {
    let mut s = online("carol");
    s.apply(
        Action::Received(
            r#"{"type":"presence","room":"general","nick":"dave","state":"joined"}"#.into(),
        ),
        T0,
    );
    assert!(s.rooms["general"].members.contains("dave"));
    s.apply(
        Action::Received(
            r#"{"type":"presence","room":"general","nick":"alice","state":"left"}"#.into(),
        ),
        T0,
    );
    let members: Vec<&str> = s.rooms["general"]
        .members
        .iter()
        .map(|m| m.as_str())
        .collect();
    assert_eq!(members, vec!["bob", "dave"]);
}

#[test]
fn typing_is_throttled_shown_and_expires() {
    let mut s = online("carol");
    assert_eq!(
        sent(&s.apply(Action::Typing, T0)),
        vec![ClientMessage::Typing {
            room: room("general")
        }]
    );
    assert!(sent(&s.apply(Action::Typing, T0 + 1000)).is_empty());
    assert_eq!(sent(&s.apply(Action::Typing, T0 + 2000)).len(), 1);
    // Sending ends our typing on the other screens, so the next keystroke is not throttled.
    s.apply(Action::Send("sent".into()), T0 + 2100);
    assert_eq!(sent(&s.apply(Action::Typing, T0 + 2200)).len(), 1);

    s.apply(Action::Received(fixture("server_typing")), T0);
    s.apply(
        Action::Received(
            r#"{"type":"typing","room":"general","nick":"carol","expires_in_ms":5000}"#.into(),
        ),
        T0,
    );
    assert_eq!(s.typing_names(), vec!["bob"]);
    let v = s.version;
    s.apply(Action::Tick, T0 + 1000);
    assert_eq!(s.version, v, "a tick that changes nothing does not repaint");
    s.apply(Action::Tick, T0 + 5000);
    assert!(s.typing_names().is_empty());
    assert!(s.rooms["general"].typing.is_empty());
    // A message from the typist ends the indicator at once.
    s.apply(Action::Received(fixture("server_typing")), T0 + 6000);
    s.apply(
        Action::Received(msg_json(3, "general", "bob", "done")),
        T0 + 6000,
    );
    assert!(s.typing_names().is_empty());
}

#[test]
fn direct_messages_have_their_own_threads() {
    let mut s = online("alice");
    s.apply(Action::Received(fixture("server_direct")), T0);
    // alice sent that one to bob (from another tab): a thread with bob, not unread.
    assert_eq!(s.directs["bob"].unread, 0);
    s.apply(
        Action::Received(
            r#"{"type":"direct","id":8,"from":"bob","to":"alice","text":"hey","ts":1}"#.into(),
        ),
        T0,
    );
    assert_eq!(s.directs["bob"].unread, 1);
    s.apply(Action::Select(Target::Direct(nick("bob"))), T0);
    assert_eq!(s.directs["bob"].unread, 0);
    let fx = s.apply(Action::Send("psst".into()), T0);
    let cid = pending_id(&s, 0);
    assert_eq!(
        sent(&fx),
        vec![ClientMessage::Direct {
            to: nick("bob"),
            text: MessageText::new("psst").expect("t"),
            client_id: cid.clone()
        }]
    );
    s.apply(Action::Received(ack_json(&cid, 9, false)), T0);
    let ids: Vec<u64> = s.directs["bob"].messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![7, 8, 9]);
    // The room timeline is untouched.
    assert_eq!(room_ids(&s, "general"), vec![1, 2]);
}

#[test]
fn refused_message_can_be_retried_with_the_same_id_or_discarded() {
    let mut s = online("alice");
    s.apply(Action::Select(Target::Direct(nick("ghost"))), T0);
    s.apply(Action::Send("anyone?".into()), T0);
    let cid = pending_id(&s, 0);
    s.apply(
        Action::Received(format!(r#"{{"type":"error","code":"unknown_user","message":"ghost is not online","client_id":"{cid}"}}"#)),
        T0,
    );
    let groups = s.groups();
    assert!(
        matches!(&groups[0].lines[0].status, LineStatus::Failed { reason, .. } if reason == "ghost is not online")
    );
    let fx = s.apply(Action::Retry(cid.clone()), T0);
    assert!(
        matches!(&sent(&fx)[..], [ClientMessage::Direct { client_id, .. }] if *client_id == cid)
    );
    s.apply(Action::Discard(cid), T0);
    assert!(s.pending.is_empty());
    // An error without a client id becomes a notice.
    s.apply(
        Action::Received(fixture("server_error").replace(r#","client_id":"c-9""#, "")),
        T0,
    );
    assert_eq!(s.notice.as_deref(), Some("slow down"));
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
fn groups_by_sender_and_time() {
    let line = |id: u64, ts: i64| Line {
        key: id.to_string(),
        text: format!("m{id}"),
        ts,
        status: LineStatus::Delivered,
    };
    let groups = group_lines(
        vec![
            ("bob".into(), line(1, 0)),
            ("bob".into(), line(2, 1000)),
            ("amy".into(), line(3, 2000)),
            ("amy".into(), line(4, 2000 + GROUP_GAP_MS)),
            ("bob".into(), line(5, 3000 + GROUP_GAP_MS)),
        ],
        "amy",
    );
    let shape: Vec<(&str, usize, bool)> = groups
        .iter()
        .map(|g| (g.sender.as_str(), g.lines.len(), g.mine))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("bob", 2, false),
            ("amy", 1, true),
            ("amy", 1, true),
            ("bob", 1, false)
        ]
    );
}

#[test]
fn markup_in_text_is_kept_verbatim() {
    let mut s = online("carol");
    s.apply(
        Action::Received(msg_json(
            3,
            "general",
            "bob",
            "<img src=x onerror=alert(1)>",
        )),
        T0,
    );
    let groups = s.groups();
    assert_eq!(
        groups
            .last()
            .and_then(|g| g.lines.last())
            .map(|l| l.text.as_str()),
        Some("<img src=x onerror=alert(1)>")
    );
}

#[test]
fn unreadable_frames_are_skipped() {
    let mut s = online("carol");
    let v = s.version;
    assert!(s
        .apply(Action::Received("{\"type\":\"future_thing\"}".into()), T0)
        .is_empty());
    assert!(s.apply(Action::Received("not json".into()), T0).is_empty());
    assert_eq!(s.version, v);
    assert!(s.is_online());
}

#[test]
fn room_listing_is_refreshed_while_online() {
    let mut s = online("carol");
    assert!(sent(&s.apply(Action::Tick, T0 + 1_000)).is_empty());
    let fx = s.apply(Action::Tick, T0 + ROOM_LIST_REFRESH_MS + 1);
    assert_eq!(sent(&fx), vec![ClientMessage::ListRooms]);
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
