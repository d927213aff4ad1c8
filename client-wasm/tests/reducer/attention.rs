//! What calls the user back: the title's count (the open conversation counts only while the
//! page is hidden; muted conversations never), and notifications for direct messages and
//! mentions from others, never for our own, plain room messages, or muted conversations.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

fn notes(fx: &[Effect]) -> Vec<(String, String, String, u64)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Notify {
                title,
                body,
                tag,
                id,
            } => Some((title.clone(), body.clone(), tag.clone(), *id)),
            _ => None,
        })
        .collect()
}

fn live(s: &mut ChatState, msg: ServerMessage) -> Vec<Effect> {
    s.apply(Action::Received(msg.to_json()), T0)
}

fn mention(id: u64, sender: &str, text: &str, who: &str) -> ServerMessage {
    ServerMessage::Message(ChatMessage {
        mentions: vec![nick(who)],
        ..chat_in(id, "general", sender, text)
    })
}

#[test]
fn the_title_counts_other_conversations_and_the_open_one_while_hidden() {
    for guest in [true, false] {
        let mut s = signed_in("ann", guest, vec![]);
        assert_eq!(s.title(), "Chat", "guest {guest}");
        live(&mut s, ServerMessage::Direct(dm(10, "bob", "ann", "hi")));
        live(
            &mut s,
            ServerMessage::Message(chat(11, "bob", "in the open room")),
        );
        assert_eq!(
            s.title(),
            "(1) Chat",
            "guest {guest}: the open room is read"
        );
        s.apply(Action::Visible(false), T0);
        live(
            &mut s,
            ServerMessage::Message(chat(12, "bob", "while hidden")),
        );
        assert_eq!(
            s.title(),
            "(2) Chat",
            "guest {guest}: hidden, the open room counts"
        );
        s.apply(Action::Visible(true), T0);
        if guest {
            // A guest's counts are local: back on the page, the open room is read.
            assert_eq!(s.rooms["general"].unread, 0);
        }
        assert_eq!(s.title(), "(1) Chat", "guest {guest}");
    }
}

/// Mutes `target` (on screen) as `s`'s user would: a guest's at once, a signed-in user's
/// through the server, whose `read` (to every tab of the user) brings the change.
fn toggle_mute(s: &mut ChatState, target: Target, muted: bool) {
    let fx = s.apply(Action::ToggleMute, T0);
    if s.guest {
        assert!(sent(&fx).is_empty(), "a guest's mutes stay in the browser");
        assert!(fx.contains(&Effect::Keep));
        return;
    }
    let conv = target.conversation();
    assert_eq!(
        sent(&fx),
        [ClientMessage::SetMuted {
            conv: conv.clone(),
            muted
        }]
    );
    assert_eq!(
        s.muted.contains(&target),
        !muted,
        "nothing changes before the server says"
    );
    let mut state = read(conv, 0, 0, 0);
    state.muted = muted;
    recv(s, ServerMessage::Read(state));
}

#[test]
fn muted_conversations_do_not_count_or_notify() {
    for guest in [true, false] {
        let mut s = signed_in("ann", guest, vec![]);
        let bob = Target::Direct(nick("bob"));
        s.apply(Action::Select(bob.clone()), T0);
        toggle_mute(&mut s, bob.clone(), true);
        assert!(s.muted.contains(&bob), "guest {guest}");
        s.apply(Action::Select(Target::Room(room("general"))), T0);
        let fx = live(&mut s, ServerMessage::Direct(dm(10, "bob", "ann", "hi")));
        assert!(notes(&fx).is_empty(), "guest {guest}");
        assert_eq!(s.directs["bob"].unread, 1, "the badge still shows");
        assert_eq!(s.title(), "Chat", "guest {guest}");
        // Unmuted: counts and notifies again.
        s.apply(Action::Select(bob.clone()), T0);
        toggle_mute(&mut s, bob.clone(), false);
        s.apply(Action::Select(Target::Room(room("general"))), T0);
        let fx = live(&mut s, ServerMessage::Direct(dm(11, "bob", "ann", "again")));
        assert_eq!(notes(&fx).len(), 1, "guest {guest}");
        assert_eq!(s.title(), "(1) Chat", "guest {guest}");
    }
}

#[test]
fn a_signed_in_users_mutes_come_from_the_server_and_are_not_kept_in_the_browser() {
    let mut muted = read(dm_conv("carol"), 2, 0, 0);
    muted.muted = true;
    let mut s = signed_in("ann", false, vec![muted]);
    let carol = Target::Direct(nick("carol"));
    assert!(
        s.muted.contains(&carol),
        "welcome's listing carries the mute"
    );
    assert!(s.kept().expect("kept").muted.is_empty());
    // Another device unmuted it: this tab hears so.
    recv(&mut s, ServerMessage::Read(read(dm_conv("carol"), 2, 0, 0)));
    assert!(!s.muted.contains(&carol));
    let general = Target::Room(room("general"));
    // A guest keeps its own.
    let mut g = signed_in("bea", true, vec![]);
    g.apply(Action::Select(general.clone()), T0);
    g.apply(Action::ToggleMute, T0);
    assert_eq!(g.kept().expect("kept").muted, [general]);
}

#[test]
fn direct_messages_and_mentions_from_others_notify_nothing_else() {
    let mut s = signed_in("ann", false, vec![]);
    let fx = live(&mut s, ServerMessage::Direct(dm(10, "bob", "ann", "psst")));
    assert_eq!(
        notes(&fx),
        [("bob".into(), "psst".into(), "dm/bob".into(), 10)]
    );
    let fx = live(&mut s, mention(11, "bob", "@ann look", "ann"));
    assert_eq!(
        notes(&fx),
        [(
            "bob in #general".into(),
            "@ann look".into(),
            "r/general".into(),
            11
        )]
    );
    // A plain message, one mentioning someone else, our own DM from another tab, an edit.
    for msg in [
        ServerMessage::Message(chat(12, "bob", "plain")),
        mention(13, "bob", "@alice look", "alice"),
        ServerMessage::Direct(dm(14, "ann", "bob", "from my other tab")),
        ServerMessage::Direct(DirectMessage {
            target: Some(10),
            edited: true,
            ..dm(15, "bob", "ann", "psst!")
        }),
    ] {
        assert!(notes(&live(&mut s, msg.clone())).is_empty(), "{msg:?}");
    }
    // A long message is cut for the notification.
    let long = "x".repeat(1000);
    let fx = live(&mut s, ServerMessage::Direct(dm(16, "bob", "ann", &long)));
    assert_eq!(notes(&fx)[0].1.chars().count(), NOTIFY_BODY_CHARS);
}

/// The page's visibility is the page's: a sign-in (a new user on the page) keeps it.
#[test]
fn a_hidden_page_stays_hidden_through_signing_in() {
    let mut s = ChatState::new(7, T0);
    s.apply(Action::Visible(false), T0);
    s.apply(Action::Connect { nick: "ann".into() }, T0);
    assert!(!s.visible);
}

/// What a screen reader hears: the newest live message of someone else in the conversation on
/// screen; not our own, not one of another conversation, not history.
#[test]
fn the_live_region_hears_new_messages_of_others_on_screen() {
    let mut s = signed_in("ann", true, vec![]);
    assert_eq!(s.heard(), "", "history is not announced");
    live(&mut s, ServerMessage::Message(chat(10, "bob", "hello ann")));
    assert_eq!(s.heard(), "bob: hello ann");
    live(&mut s, ServerMessage::Message(chat(11, "ann", "mine")));
    assert_eq!(s.heard(), "bob: hello ann");
    live(&mut s, ServerMessage::Direct(dm(12, "cy", "ann", "psst")));
    assert_eq!(s.heard(), "", "a message elsewhere is not read out here");
    s.apply(Action::Select(Target::Direct(nick("cy"))), T0);
    assert_eq!(s.heard(), "cy: psst");
}
