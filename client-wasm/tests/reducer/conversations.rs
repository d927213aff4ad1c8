//! Conversations beyond a connection: read state from `welcome`, `joined` and `read`;
//! `mark_read` only for a signed-in user, only past the read mark, one at a time; edits and
//! deletions, live and in history; `dm_history`; `moderated`; mentions; room commands.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

fn text_of(s: &ChatState, id: u64) -> (String, bool, bool) {
    let m = s.rooms["general"]
        .messages
        .iter()
        .find(|m| m.id == id)
        .expect("held");
    (m.text.to_string(), m.edited, m.deleted)
}

#[test]
fn welcome_and_read_events_set_direct_unread_and_mentions() {
    let mut s = signed_in("me", false, vec![read(dm_conv("bob"), 5, 3, 1)]);
    assert_eq!(
        (s.directs["bob"].unread, s.directs["bob"].read.mentions),
        (3, 1)
    );
    // The unread direct messages the server pushes after welcome are not counted twice.
    for id in 6..=8 {
        recv(&mut s, ServerMessage::Direct(dm(id, "bob", "me", "hey")));
    }
    assert_eq!(s.directs["bob"].unread, 3);
    // Read in another tab: every tab gets `read`.
    recv(&mut s, ServerMessage::Read(read(dm_conv("bob"), 8, 0, 0)));
    assert_eq!(
        (s.directs["bob"].unread, s.directs["bob"].read.mentions),
        (0, 0)
    );
}

#[test]
fn joined_read_state_gives_a_room_its_unread_count() {
    let mut s = signed_in("me", false, vec![]);
    let joined = ServerMessage::Joined {
        room: room("dev"),
        members: vec![nick("me")],
        guests: vec![],
        history: vec![],
        has_more: false,
        invite_only: true,
        owner: Some(nick("me")),
        muted_until: None,
        read: Some(read(Conversation::Room(room("dev")), 1, 4, 2)),
    };
    s.apply(Action::Join("dev".into()), T0);
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    recv(&mut s, joined);
    let dev = &s.rooms["dev"];
    assert_eq!(
        (dev.unread, dev.read.mentions, dev.invite_only),
        (4, 2, true)
    );
    assert!(s.can_moderate(dev), "the owner moderates");
    assert!(!s.can_moderate(&s.rooms["general"]), "alice owns general");
}

#[test]
fn mark_read_goes_once_per_conversation_and_only_past_the_mark() {
    let mut s = signed_in("me", false, vec![]);
    let out = recv(&mut s, ServerMessage::Message(chat(3, "bob", "three")));
    let mark = |id| ClientMessage::MarkRead {
        conv: Conversation::Room(room("general")),
        id,
    };
    assert_eq!(out, vec![mark(3)]);
    assert_eq!(s.rooms["general"].unread, 0, "on screen: not unread");
    // One in flight: the next message waits for the answer.
    assert_eq!(
        recv(&mut s, ServerMessage::Message(chat(4, "bob", "four"))),
        vec![]
    );
    let out = recv(
        &mut s,
        ServerMessage::Read(read(Conversation::Room(room("general")), 3, 1, 0)),
    );
    assert_eq!(out, vec![mark(4)]);
    // Nothing newer than the mark: nothing sent.
    let out = recv(
        &mut s,
        ServerMessage::Read(read(Conversation::Room(room("general")), 4, 0, 0)),
    );
    assert_eq!(out, vec![]);
    // A hidden page marks nothing.
    s.apply(Action::Visible(false), T0);
    assert_eq!(
        recv(&mut s, ServerMessage::Message(chat(5, "bob", "five"))),
        vec![]
    );
    assert_eq!(s.rooms["general"].unread, 1);
    assert_eq!(sent(&s.apply(Action::Visible(true), T0)), vec![mark(5)]);
}

#[test]
fn guests_never_send_mark_read_and_count_locally() {
    let mut s = signed_in("me", true, vec![]);
    let out = recv(&mut s, ServerMessage::Message(chat(3, "bob", "three")));
    assert_eq!(out, vec![]);
    recv(&mut s, ServerMessage::Direct(dm(10, "bob", "me", "psst")));
    assert_eq!(s.directs["bob"].unread, 1);
    // A guest's thread has no stored history to fetch.
    let out = sent(&s.apply(Action::Select(Target::Direct(nick("bob"))), T0));
    assert_eq!(out, vec![]);
    assert_eq!(s.directs["bob"].unread, 0);
}

#[test]
fn edits_and_deletions_apply_to_their_message_live_once() {
    let mut s = signed_in("me", true, vec![]);
    s.apply(Action::Join("other".into()), T0);
    recv(&mut s, ServerMessage::Message(chat(3, "bob", "tpyo")));
    let unread = s.rooms["general"].unread;
    assert_eq!(unread, 1);
    for _ in 0..2 {
        recv(&mut s, ServerMessage::Message(edit(4, 3, "typo")));
    }
    assert_eq!(text_of(&s, 3), ("typo".into(), true, false));
    assert_eq!(
        room_ids(&s, "general"),
        vec![1, 2, 3],
        "an edit is no message of its own"
    );
    assert_eq!(s.rooms["general"].unread, unread, "edits are not unread");
    recv(&mut s, ServerMessage::Message(deletion(5, 3)));
    recv(&mut s, ServerMessage::Message(edit(4, 3, "typo")));
    let (text, _, deleted) = text_of(&s, 3);
    assert_eq!((text.as_str(), deleted), ("", true), "a deletion is final");
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    let line = s
        .groups()
        .into_iter()
        .flat_map(|g| g.lines)
        .find(|l| l.key == "3")
        .expect("line");
    assert_eq!(
        (line.text.as_str(), line.flags.deleted),
        ("message deleted", true)
    );
}

#[test]
fn history_pages_bring_rewrites_as_they_are_now() {
    let mut s = signed_in("me", false, vec![]);
    // Message 3 is held; a page brings its edits and, newer, its current state elsewhere.
    recv(&mut s, ServerMessage::Message(chat(3, "bob", "v1")));
    let page = |msgs| ServerMessage::History {
        room: room("general"),
        messages: msgs,
        has_more: false,
    };
    recv(&mut s, page(vec![edit(4, 3, "v2"), edit(6, 3, "v3")]));
    assert_eq!(text_of(&s, 3).0, "v3");
    // An older edit arriving again changes nothing.
    recv(&mut s, page(vec![edit(4, 3, "v2")]));
    assert_eq!(text_of(&s, 3).0, "v3");
    // A page with the message as it is now and its old edit: the message wins.
    let now = ChatMessage {
        edited: true,
        ..chat(2, "bob", "two, fixed")
    };
    recv(&mut s, page(vec![now, edit(7, 2, "two, first fix")]));
    assert_eq!(text_of(&s, 2), ("two, fixed".into(), true, false));
    // A tombstone in history, and a deletion event for a held message.
    let tomb = ChatMessage {
        deleted: true,
        ..chat(1, "bob", "")
    };
    recv(&mut s, page(vec![tomb]));
    recv(&mut s, page(vec![deletion(8, 3)]));
    assert!(text_of(&s, 1).2 && text_of(&s, 3).2);
    assert_eq!(room_ids(&s, "general"), vec![1, 2, 3]);
}

#[test]
fn dm_history_loads_on_open_and_pages_older_without_duplicates() {
    let mut s = signed_in("me", false, vec![]);
    recv(&mut s, ServerMessage::Direct(dm(12, "bob", "me", "live")));
    let out = sent(&s.apply(Action::Select(Target::Direct(nick("bob"))), T0));
    assert!(
        out.contains(&ClientMessage::DmHistory {
            with: nick("bob"),
            before: None,
            after: None,
            limit: Some(50),
        }),
        "{out:?}"
    );
    recv(
        &mut s,
        ServerMessage::DmHistory {
            with: nick("bob"),
            messages: vec![
                dm(10, "me", "bob", "a"),
                dm(11, "bob", "me", "b"),
                dm(12, "bob", "me", "live"),
            ],
            has_more: true,
        },
    );
    let ids: Vec<u64> = s.directs["bob"].messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![10, 11, 12]);
    let out = sent(&s.apply(Action::LoadOlder, T0));
    assert_eq!(
        out,
        vec![ClientMessage::DmHistory {
            with: nick("bob"),
            before: Some(10),
            after: None,
            limit: Some(50),
        }]
    );
    // Opening again on the same connection fetches nothing more.
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    let again = sent(&s.apply(Action::Select(Target::Direct(nick("bob"))), T0));
    assert!(again
        .iter()
        .all(|m| !matches!(m, ClientMessage::DmHistory { .. })));
}

#[test]
fn moderated_shows_a_system_line_and_a_removal_takes_the_room_away() {
    let mut s = signed_in("me", false, vec![]);
    recv(
        &mut s,
        ServerMessage::Moderated {
            room: Some(room("general")),
            nick: nick("bob"),
            action: shared::Action::Ban,
            by: nick("alice"),
            until: Some(T0 + 3_600_000),
        },
    );
    let system: Vec<String> = s
        .groups()
        .into_iter()
        .filter(|g| g.system)
        .flat_map(|g| g.lines)
        .map(|l| l.text)
        .collect();
    assert_eq!(system, vec!["alice banned bob for 1 hour"]);
    recv(
        &mut s,
        ServerMessage::Moderated {
            room: Some(room("general")),
            nick: nick("ME"),
            action: shared::Action::Kick,
            by: nick("alice"),
            until: None,
        },
    );
    assert!(
        s.notice
            .as_deref()
            .is_some_and(|n| n.contains("alice kicked ME")),
        "{:?}",
        s.notice
    );
    recv(
        &mut s,
        ServerMessage::Left {
            room: room("general"),
        },
    );
    assert!(!s.rooms.contains_key("general"));
}

#[test]
fn mentions_of_us_are_flagged_in_any_case() {
    let mut s = signed_in("me", true, vec![]);
    s.apply(Action::Join("other".into()), T0);
    let m = ChatMessage {
        mentions: vec![nick("ME")],
        ..chat(3, "bob", "hi @ME")
    };
    recv(&mut s, ServerMessage::Message(m));
    assert_eq!(s.rooms["general"].read.mentions, 1);
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    let flags: Vec<bool> = s
        .groups()
        .into_iter()
        .flat_map(|g| g.lines)
        .map(|l| l.flags.mention)
        .collect();
    assert_eq!(flags, vec![false, false, true]);
    assert_eq!(s.rooms["general"].read.mentions, 0, "opening clears it");
}

#[test]
fn slash_commands_moderate_the_room_on_screen() {
    let mut s = signed_in("me", false, vec![]);
    let out = sent(&s.apply(Action::Send("/ban bob 1h".into()), T0));
    assert_eq!(
        out,
        vec![ClientMessage::Moderate {
            room: Some(room("general")),
            nick: nick("bob"),
            action: shared::Action::Ban,
            for_secs: Some(3600),
        }]
    );
    assert!(s.pending.is_empty(), "a command is not a message");
    s.apply(Action::Send("/frobnicate bob".into()), T0);
    assert!(s
        .notice
        .as_deref()
        .is_some_and(|n| n.starts_with("Unknown command")));
    let out = sent(&s.apply(Action::Send("//shrug".into()), T0));
    assert!(matches!(&out[..], [ClientMessage::Send { text, .. }] if text.as_str() == "/shrug"));
    assert_eq!(parse_secs("1d"), Some(DAY_SECS));
}

#[test]
fn a_created_room_opens_once_joined() {
    let mut s = signed_in("me", false, vec![]);
    let out = sent(&s.apply(
        Action::CreateRoom {
            name: "#team".into(),
            invite_only: true,
        },
        T0,
    ));
    assert_eq!(
        out,
        vec![ClientMessage::CreateRoom {
            room: room("team"),
            invite_only: true
        }]
    );
    recv(
        &mut s,
        ServerMessage::Joined {
            room: room("team"),
            members: vec![nick("me")],
            guests: vec![],
            history: vec![],
            has_more: false,
            invite_only: true,
            owner: Some(nick("me")),
            muted_until: None,
            read: None,
        },
    );
    assert_eq!(s.active, Some(Target::Room(room("team"))));
    // Edit and delete go for our own messages only (delete: any, as the owner).
    recv(
        &mut s,
        ServerMessage::Message(ChatMessage {
            room: room("team"),
            ..chat(9, "bob", "x")
        }),
    );
    assert_eq!(
        sent(&s.apply(
            Action::Edit {
                id: 9,
                text: "y".into()
            },
            T0
        )),
        vec![]
    );
    let out = sent(&s.apply(Action::Delete(9), T0));
    assert!(
        matches!(&out[..], [ClientMessage::Delete { id: 9, .. }]),
        "{out:?}"
    );
}
