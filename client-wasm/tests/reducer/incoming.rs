//! Server frames merged into the state: resume pages, unread counts, presence, direct threads,
//! frames this client cannot read.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

#[test]
fn resume_pages_forward_until_the_gap_is_filled() {
    let mut s = reconnected("carol");
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
