//! Reading a conversation: date breaks in the groups, and the "new messages" divider placed at
//! the first unread message when the conversation opens, kept while it is marked read, and
//! dropped when another conversation opens or the user sends a message.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

const DAY: i64 = 24 * 60 * 60 * 1000;

fn read(name: &str, last_read: u64, unread: u32) -> ReadState {
    ReadState {
        conv: Conversation::Room(room(name)),
        last_read,
        unread,
        mentions: 0,
        first_unread: None,
        muted: false,
    }
}

fn recv(s: &mut ChatState, msg: ServerMessage) -> Vec<ClientMessage> {
    sent(&s.apply(Action::Received(msg.to_json()), T0))
}

fn joined(
    name: &str,
    ids: std::ops::RangeInclusive<u64>,
    read: Option<ReadState>,
) -> ServerMessage {
    ServerMessage::Joined {
        room: room(name),
        members: vec![nick("bob"), nick("me")],
        guests: vec![],
        history: ids.map(|id| chat_in(id, name, "bob", "hi")).collect(),
        has_more: false,
        invite_only: false,
        owner: None,
        muted_until: None,
        read,
    }
}

/// Signed in as `me`: `general` opens at `welcome` and its `joined` says read up to 2 of 1..=5.
fn signed_in() -> ChatState {
    let mut s = ChatState::new(7, T0);
    s.apply(
        Action::SignIn(Login::Password {
            nick: "me".into(),
            password: "correct horse".into(),
        }),
        T0,
    );
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(welcome("me", "t")), T0);
    recv(
        &mut s,
        joined("general", 1..=5, Some(read("general", 2, 3))),
    );
    s
}

/// The key of the first line of the group the divider sits above, if any.
fn divider_at(s: &ChatState) -> Option<String> {
    let groups = s.groups();
    assert!(groups.iter().filter(|g| g.new_break).count() <= 1);
    groups
        .iter()
        .find(|g| g.new_break)
        .and_then(|g| g.lines.first())
        .map(|l| l.key.clone())
}

#[test]
fn the_divider_sits_at_the_first_unread_when_the_read_state_arrives() {
    let s = signed_in();
    assert_eq!(s.new_divider(), Some(3));
    assert_eq!(divider_at(&s).as_deref(), Some("3"));
    // The divider splits bob's run of messages: 1-2 above it, 3-5 below.
    let sizes: Vec<usize> = s.groups().iter().map(|g| g.lines.len()).collect();
    assert_eq!(sizes, vec![2, 3]);
}

#[test]
fn the_divider_sits_at_the_first_unread_when_a_room_is_opened() {
    let mut s = signed_in();
    s.apply(Action::Join("dev".into()), T0);
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    recv(&mut s, joined("dev", 10..=14, Some(read("dev", 12, 2))));
    assert_eq!(s.rooms["dev"].unread, 2);
    s.apply(Action::Select(Target::Room(room("dev"))), T0);
    assert_eq!(divider_at(&s).as_deref(), Some("13"));
}

#[test]
fn the_divider_stays_while_the_conversation_is_marked_read() {
    let mut s = signed_in();
    assert_eq!(s.new_divider(), Some(3));
    // On screen: the client marked it read at once (up to 5), and the server agrees; then
    // another message comes and is marked read too.
    recv(&mut s, ServerMessage::Read(read("general", 5, 0)));
    assert_eq!(divider_at(&s).as_deref(), Some("3"));
    let out = recv(
        &mut s,
        ServerMessage::Message(chat_in(6, "general", "bob", "six")),
    );
    assert!(out
        .iter()
        .any(|m| matches!(m, ClientMessage::MarkRead { .. })));
    recv(&mut s, ServerMessage::Read(read("general", 6, 0)));
    assert_eq!(s.rooms["general"].read.last_read, 6);
    assert_eq!(divider_at(&s).as_deref(), Some("3"));
    // Opening it again while on screen changes nothing.
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    assert_eq!(divider_at(&s).as_deref(), Some("3"));
}

#[test]
fn the_divider_goes_when_another_conversation_opens() {
    let mut s = signed_in();
    s.apply(Action::Select(Target::Direct(nick("bob"))), T0);
    assert_eq!(s.new_divider(), None);
    // Back in general, everything is read by now: no divider.
    recv(&mut s, ServerMessage::Read(read("general", 5, 0)));
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    assert_eq!(divider_at(&s), None);
}

#[test]
fn the_divider_goes_when_the_user_sends() {
    let mut s = signed_in();
    s.apply(Action::Send("/nonsense".into()), T0);
    assert_eq!(s.new_divider(), Some(3), "a command is not a reply");
    s.apply(Action::Send("hello".into()), T0);
    assert_eq!(s.new_divider(), None);
    assert_eq!(divider_at(&s), None);
}

#[test]
fn a_guest_sees_the_divider_above_what_came_while_away() {
    let mut s = online("me");
    recv(&mut s, joined("dev", 1..=2, None));
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    assert_eq!(s.new_divider(), None, "nothing came while away");
    for (id, sender) in [(3, "bob"), (4, "me"), (5, "bob"), (6, "bob")] {
        recv(
            &mut s,
            ServerMessage::Message(chat_in(id, "dev", sender, "x")),
        );
    }
    assert_eq!(s.rooms["dev"].unread, 3);
    s.apply(Action::Select(Target::Room(room("dev"))), T0);
    assert_eq!(divider_at(&s).as_deref(), Some("3"));
    assert_eq!(s.rooms["dev"].unread, 0);
    // More while on screen: the divider stays where it was.
    recv(
        &mut s,
        ServerMessage::Message(chat_in(7, "dev", "bob", "x")),
    );
    assert_eq!(divider_at(&s).as_deref(), Some("3"));
}

#[test]
fn a_group_never_spans_two_days() {
    let line = |id: u64, ts: i64| {
        let line = Line {
            key: id.to_string(),
            text: String::new(),
            ts,
            status: LineStatus::Delivered,
            flags: LineFlags {
                id: Some(id),
                ..LineFlags::default()
            },
        };
        ("bob".to_string(), line)
    };
    let midnight = 20_000 * DAY;
    let lines = vec![
        line(1, midnight - 2 * 60_000),
        line(2, midnight - 60_000),
        line(3, midnight + 60_000),
        line(4, midnight + 2 * 60_000),
    ];
    let shape = |groups: Vec<Group>| -> Vec<(usize, bool, bool)> {
        groups
            .iter()
            .map(|g| (g.lines.len(), g.day_break, g.new_break))
            .collect()
    };
    assert_eq!(
        shape(group_lines(lines.clone(), "me", utc_day, None)),
        vec![(2, true, false), (2, true, false)]
    );
    // Two hours west of UTC, all four fall on one day; the divider still splits them.
    let west = |ts: i64| (ts - 2 * 60 * 60 * 1000).div_euclid(DAY);
    assert_eq!(
        shape(group_lines(lines, "me", west, Some(4))),
        vec![(3, true, false), (1, false, true)]
    );
}
