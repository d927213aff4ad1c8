//! What outlives a reload and each conversation's address: routes before and after `welcome`,
//! a signed-in user's rooms rejoined from `welcome`, drafts, a guest's rooms and cursors, and
//! nothing kept after signing out.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

fn dev_listed() -> ReadState {
    read(Conversation::Room(room("dev")), 0, 0, 0)
}

#[test]
fn addresses_map_both_ways_and_junk_names_nothing() {
    for target in [Target::Room(room("general")), Target::Direct(nick("李雷"))] {
        let (kind, name) = target.path();
        assert_eq!(Target::from_path(&format!("#/{kind}{name}")), Some(target));
    }
    for junk in [
        "",
        "#/",
        "#/x/general",
        "#/r/",
        "#/r/bad name!",
        "#/dm/",
        "#/r",
        "r",
    ] {
        assert_eq!(Target::from_path(junk), None, "{junk:?}");
    }
}

#[test]
fn an_address_before_welcome_opens_its_room_after_it() {
    let mut s = ChatState::new(7, T0);
    s.apply(Action::Connect { nick: "ann".into() }, T0);
    s.apply(Action::Route(Target::from_path("#/r/dev")), T0);
    s.apply(Action::Opened, T0);
    let fx = s.apply(Action::Received(welcome("ann", "t")), T0);
    assert_eq!(s.active, Some(Target::Room(room("dev"))));
    let joins: Vec<_> = sent(&fx)
        .into_iter()
        .filter_map(|m| match m {
            ClientMessage::Join { room, .. } => Some(room.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(joins, ["general", "dev"]);
}

#[test]
fn back_and_forward_open_what_the_address_names() {
    let mut s = online("ann");
    s.apply(Action::Join("dev".into()), T0);
    assert_eq!(s.active, Some(Target::Room(room("dev"))));
    // Back to #/r/general: selected, nothing sent.
    let fx = s.apply(Action::Route(Target::from_path("r/general")), T0);
    assert_eq!(s.active, Some(Target::Room(room("general"))));
    assert!(sent(&fx).is_empty());
    s.apply(Action::Route(Target::from_path("dm/bob")), T0);
    assert_eq!(s.active, Some(Target::Direct(nick("bob"))));
    // An address naming nothing leaves the conversation as it is but repaints (so the page
    // rewrites the address).
    let before = s.version;
    s.apply(Action::Route(None), T0);
    assert_eq!(s.active, Some(Target::Direct(nick("bob"))));
    assert!(s.version > before);
    // Our own name is no conversation.
    s.apply(Action::Route(Target::from_path("dm/ann")), T0);
    assert_eq!(s.active, Some(Target::Direct(nick("bob"))));
}

#[test]
fn welcome_rejoins_the_rooms_the_server_lists_for_a_member() {
    let s = signed_in("ann", false, vec![dev_listed()]);
    assert!(s.rooms.contains_key("dev"), "{:?}", s.rooms.keys());
    // A guest's welcome lists nothing; a listed room is joined once.
    let mut s2 = ChatState::new(7, T0);
    s2.apply(
        Action::SignIn(Login::Password {
            nick: "ann".into(),
            password: "correct horse".into(),
        }),
        T0,
    );
    s2.apply(Action::Opened, T0);
    let welcome = ServerMessage::Welcome {
        nick: nick("ann"),
        guest: false,
        session: Some("s1".into()),
        protocol: 1,
        default_room: room("general"),
        resume_token: "t".into(),
        epoch: "e1".into(),
        limits: s.limits.clone().expect("limits"),
        admin: false,
        conversations: vec![dev_listed(), dev_listed()],
    };
    let joins = recv(&mut s2, welcome)
        .into_iter()
        .filter(|m| matches!(m, ClientMessage::Join { room, .. } if room.as_str() == "dev"))
        .count();
    assert_eq!(joins, 1);
}

#[test]
fn drafts_are_kept_per_conversation_and_cleared_by_sending() {
    let mut s = online("ann");
    s.apply(Action::Draft("half a thought".into()), T0);
    s.apply(Action::Select(Target::Direct(nick("bob"))), T0);
    assert_eq!(s.active_draft(), "");
    s.apply(Action::Draft("psst".into()), T0);
    s.apply(Action::Select(Target::Room(room("general"))), T0);
    assert_eq!(s.active_draft(), "half a thought");
    let kept = s.kept().expect("kept once in the chat");
    assert_eq!(kept.drafts.len(), 2);
    assert_eq!(kept.open, Some(Target::Room(room("general"))));
    s.apply(Action::Send("half a thought, finished".into()), T0);
    assert_eq!(s.active_draft(), "");
    assert_eq!(s.kept().expect("kept").drafts.len(), 1);
    // Blank text drops the draft.
    s.apply(Action::Select(Target::Direct(nick("bob"))), T0);
    s.apply(Action::Draft("  ".into()), T0);
    assert!(s.kept().expect("kept").drafts.is_empty());
}

#[test]
fn drafts_are_bounded() {
    let mut s = online("ann");
    for i in 0..MAX_DRAFTS + 20 {
        s.apply(
            Action::Select(Target::Direct(nick(&format!("peer{i}")))),
            T0,
        );
        s.apply(Action::Draft("x".into()), T0);
    }
    assert_eq!(s.drafts.len(), MAX_DRAFTS);
}

/// A guest back after a reload: its rooms, open conversation and cursors come back.
#[test]
fn a_guest_comes_back_to_its_rooms_with_unread_counted_from_its_cursor() {
    let mut before = online("ann");
    before.apply(Action::Join("dev".into()), T0);
    before.apply(
        Action::Received(joined_json("dev", &["ann"], &[(3, "bob", "x")], false)),
        T0,
    );
    before.apply(Action::Draft("draft in dev".into()), T0);
    let kept = before.kept().expect("kept");
    assert_eq!(kept.rooms.len(), 2);
    assert!(kept.cursors.contains(&(room("general"), 2)));
    assert_eq!(kept.open, Some(Target::Room(room("dev"))));

    // The reload: restore, recall, then welcome and the joins.
    let mut s = ChatState::new(9, T0);
    s.apply(
        Action::Restore(Saved::Guest {
            nick: nick("ann"),
            resume_token: "r".into(),
        }),
        T0,
    );
    s.apply(Action::Recall(kept), T0);
    s.apply(Action::Opened, T0);
    let fx = s.apply(Action::Received(welcome("ann", "t2")), T0);
    assert_eq!(s.active, Some(Target::Room(room("dev"))));
    assert_eq!(s.active_draft(), "draft in dev");
    assert_eq!(
        sent(&fx)
            .iter()
            .filter(|m| matches!(m, ClientMessage::Join { .. }))
            .count(),
        2
    );
    // general's page holds 1..=4: 3 and 4 came after the cursor (2), and 4 is ours.
    s.apply(
        Action::Received(joined_json(
            "general",
            &["ann", "bob"],
            &[
                (1, "bob", "a"),
                (2, "bob", "b"),
                (3, "bob", "c"),
                (4, "ann", "d"),
            ],
            false,
        )),
        T0,
    );
    assert_eq!(s.rooms["general"].unread, 1);
}

#[test]
fn what_was_kept_for_someone_else_is_ignored() {
    let kept = online("ann").kept().expect("kept");
    let mut s = ChatState::new(9, T0);
    s.apply(
        Action::Restore(Saved::Guest {
            nick: nick("bea"),
            resume_token: "r".into(),
        }),
        T0,
    );
    s.apply(Action::Recall(kept), T0);
    assert!(s.rooms.is_empty());
    assert_eq!(s.wanted, None);
}

#[test]
fn signing_out_keeps_nothing() {
    let mut s = signed_in("ann", true, vec![]);
    s.apply(Action::Draft("secret plans".into()), T0);
    s.apply(Action::ToggleMute, T0);
    assert!(!s.muted.is_empty());
    let fx = s.apply(Action::SignOut { everywhere: false }, T0);
    assert!(fx.contains(&Effect::Forget));
    assert!(s.kept().is_none());
    assert!(s.drafts.is_empty() && s.muted.is_empty());
}
