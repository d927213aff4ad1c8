//! What the composer takes from the state: the names `@` offers and the message ↑ edits.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

/// Signed in as `amy` (an account), in `general` with bob: bob's 1, amy's 2, bob's 3.
fn amy() -> ChatState {
    let mut s = ChatState::new(7, T0);
    s.apply(
        Action::SignIn(Login::Password {
            nick: "amy".into(),
            password: "correct horse".into(),
        }),
        T0,
    );
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(welcome("amy", "tok")), T0);
    s.apply(
        Action::Received(joined_json(
            "general",
            &["amy", "bob", "cyd"],
            &[(1, "bob", "one"), (2, "amy", "mine"), (3, "bob", "three")],
            false,
        )),
        T0,
    );
    assert!(!s.guest);
    s
}

/// What `last_editable` promises: the last line on screen with `can_edit`.
fn from_groups(s: &ChatState) -> Option<(MessageId, String)> {
    let line = s
        .groups()
        .into_iter()
        .flat_map(|g| g.lines)
        .rfind(|l| l.flags.can_edit)?;
    Some((line.flags.id?, line.text))
}

fn last_editable(s: &ChatState) -> Option<(MessageId, String)> {
    let found = s.last_editable();
    assert_eq!(found, from_groups(s), "the message list would edit another");
    found
}

#[test]
fn up_edits_our_newest_message_not_someone_elses() {
    let mut s = amy();
    assert_eq!(last_editable(&s), Some((2, "mine".to_string())));
    s.apply(Action::Received(msg_json(4, "general", "amy", "newer")), T0);
    s.apply(Action::Received(msg_json(5, "general", "bob", "reply")), T0);
    assert_eq!(last_editable(&s), Some((4, "newer".to_string())));
    // A message still on its way has no id yet: the newest delivered one is edited.
    s.apply(Action::Send("pending".into()), T0);
    assert_eq!(last_editable(&s), Some((4, "newer".to_string())));
}

#[test]
fn nothing_to_edit_as_a_guest_or_without_a_message_of_ours() {
    let s = online("amy");
    assert!(s.guest);
    assert_eq!(last_editable(&s), None, "guests cannot edit");
    let mut s = amy();
    s.apply(Action::Delete(2), T0);
    let deletion = ServerMessage::Message(ChatMessage {
        target: Some(2),
        deleted: true,
        ..chat_in(6, "general", "amy", "")
    });
    s.apply(Action::Received(deletion.to_json()), T0);
    assert_eq!(last_editable(&s), None, "a deleted message is not edited");
}

#[test]
fn mention_names_are_the_others_here() {
    let mut s = amy();
    assert_eq!(
        s.mention_names(),
        vec!["bob".to_string(), "cyd".to_string()]
    );
    s.apply(Action::Select(Target::Direct(nick("dee"))), T0);
    assert_eq!(s.mention_names(), vec!["dee".to_string()]);
    assert_eq!(last_editable(&s), None, "amy wrote nothing to dee");
    for (id, from, to, text) in [(8, "amy", "dee", "hi dee"), (9, "dee", "amy", "hi")] {
        let dm = ServerMessage::Direct(dm(id, from, to, text));
        s.apply(Action::Received(dm.to_json()), T0);
    }
    assert_eq!(last_editable(&s), Some((8, "hi dee".to_string())));
}
