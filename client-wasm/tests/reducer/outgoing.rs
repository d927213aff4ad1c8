//! What the user sends: messages through the outbox until acked (with client ids that never
//! repeat), retry and discard, joining and leaving, typing, older pages.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

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
