//! Guests beside members: `--guests deny` on both endpoints, and the `guest` mark on
//! messages, presence and member lists, kept in stored history across a restart.

mod common;

use common::auth::{chat_url, guest_refused, register, sign_in, try_hello, welcomed, DataDir, PW};
use common::{run_binary, Client};
use shared::{ChatMessage, ErrorCode, PresenceState, ServerMessage};

#[tokio::test]
async fn denied_guests_are_refused_on_both_endpoints() {
    let (_s, addr) = run_binary(&[
        "--store",
        "memory",
        "--registration-rate",
        "0",
        "--guests",
        "deny",
    ]);
    let url = chat_url(&addr);
    assert_eq!(
        guest_refused(&url, "gus").await,
        (ErrorCode::GuestsNotAllowed, 4011)
    );
    let mut demo = Client::open(&format!("ws://{addr}/ws/gus")).await;
    assert_eq!(demo.expect_close().await, 4011);
    let (_a, _) = register(&url, "alice", PW).await;
    let (mut again, _) = sign_in(&url, "alice", PW).await;
    let j = again.join("lobby", None).await;
    assert!(matches!(j, ServerMessage::Joined { .. }), "{j:?}");
}

fn joined_lists(m: ServerMessage) -> (Vec<String>, Vec<String>, Vec<ChatMessage>) {
    match m {
        ServerMessage::Joined {
            members,
            guests,
            history,
            ..
        } => (
            members.iter().map(|n| n.to_string()).collect(),
            guests.iter().map(|n| n.to_string()).collect(),
            history,
        ),
        other => panic!("expected joined, got {other:?}"),
    }
}

async fn next_message(c: &mut Client) -> ChatMessage {
    match c
        .recv_until(|m| matches!(m, ServerMessage::Message(_)))
        .await
    {
        ServerMessage::Message(m) => m,
        _ => unreachable!(),
    }
}

/// (sender, guest) of each message in `h`, in order.
fn marks(h: &[ChatMessage]) -> Vec<(String, String, bool)> {
    h.iter()
        .map(|m| (m.sender.to_string(), m.text.to_string(), m.guest))
        .collect()
}

/// Messages, presence and member lists tell guests from members; stored history keeps the
/// mark across a restart, even once the guest's old name is registered.
#[tokio::test]
async fn guest_marks_live_and_in_stored_history() {
    let dir = DataDir::new("guest-marks");
    let a = ["--data-dir", dir.arg(), "--registration-rate", "0"];
    let (s, addr) = run_binary(&a);
    let url = chat_url(&addr);
    let (mut alice, _) = register(&url, "alice", PW).await;
    let (mut gus, m) = try_hello(&url, Some("gus"), None).await;
    let (_, guest, session) = welcomed(m);
    assert!(guest);
    assert_eq!(session, None, "a guest has no session");

    let (members, guests, _) = joined_lists(alice.join("lobby", None).await);
    assert_eq!(members, ["alice"]);
    assert!(guests.is_empty(), "{guests:?}");
    let (mut members, guests, _) = joined_lists(gus.join("lobby", None).await);
    members.sort();
    assert_eq!(members, ["alice", "gus"]);
    assert_eq!(guests, ["gus"], "guests lists the guests only");
    match alice
        .recv_until(|m| matches!(m, ServerMessage::Presence { .. }))
        .await
    {
        ServerMessage::Presence {
            nick, state, guest, ..
        } => {
            assert_eq!((nick.as_str(), state), ("gus", PresenceState::Joined));
            assert!(guest, "presence marks the guest");
        }
        _ => unreachable!(),
    }
    let (mut bob, _) = register(&url, "bob", PW).await;
    assert!(matches!(
        bob.join("lobby", None).await,
        ServerMessage::Joined { .. }
    ));
    match gus
        .recv_until(|m| matches!(m, ServerMessage::Presence { .. }))
        .await
    {
        ServerMessage::Presence {
            nick, state, guest, ..
        } => {
            assert_eq!((nick.as_str(), state), ("bob", PresenceState::Joined));
            assert!(!guest, "a member's presence is no guest's");
        }
        _ => unreachable!(),
    }

    gus.say("lobby", "from a guest").await;
    let m = next_message(&mut alice).await;
    assert_eq!((m.sender.as_str(), m.guest), ("gus", true));
    alice.say("lobby", "from a member").await;
    let m = next_message(&mut bob).await;
    assert_eq!(m.text.as_str(), "from a guest");
    let m = next_message(&mut bob).await;
    assert_eq!((m.sender.as_str(), m.guest), ("alice", false));
    drop((alice, gus, bob));
    drop(s);

    let (_s, addr) = run_binary(&a);
    let url = chat_url(&addr);
    let expected = vec![
        ("gus".to_string(), "from a guest".to_string(), true),
        ("alice".to_string(), "from a member".to_string(), false),
    ];
    let (mut alice, _) = sign_in(&url, "alice", PW).await;
    let (_, _, history) = joined_lists(alice.join("lobby", None).await);
    assert_eq!(marks(&history), expected, "after a restart");
    // The guest's old name becomes an account: its old messages stay a guest's.
    let (mut gus, _) = register(&url, "gus", PW).await;
    let (_, _, history) = joined_lists(gus.join("lobby", None).await);
    assert_eq!(marks(&history), expected, "once gus is registered");
    // The same client ids the guest used (a fresh client counts from 1 again): the account's
    // are its own, also as the store reloads them after the restart.
    gus.say("lobby", "now a member").await;
    let m = next_message(&mut alice).await;
    assert_eq!((m.sender.as_str(), m.guest), ("gus", false));
    assert_eq!(
        guest_refused(&url, "gus").await,
        (ErrorCode::NickTaken, 4001)
    );
}

/// Send ids belong to the sender: an account made under a former guest's name must not have
/// its sends taken for the guest's (they are remembered per account, or per name for a
/// guest), or its first send would be acked as a duplicate of the guest's and never delivered.
#[tokio::test]
async fn an_account_does_not_inherit_a_former_guests_send_ids() {
    let (_s, addr) = run_binary(&["--store", "memory", "--registration-rate", "0"]);
    let url = chat_url(&addr);
    let (mut alice, _) = register(&url, "alice", PW).await;
    assert!(matches!(
        alice.join("lobby", None).await,
        ServerMessage::Joined { .. }
    ));
    let (mut gus, m) = try_hello(&url, Some("gus"), None).await;
    assert!(welcomed(m).1);
    assert!(matches!(
        gus.join("lobby", None).await,
        ServerMessage::Joined { .. }
    ));
    gus.say("lobby", "guest: hello").await;
    assert!(next_message(&mut alice).await.guest);
    drop(gus);
    alice
        .recv_until(|m| matches!(m, ServerMessage::Presence { .. }))
        .await;
    let (mut gus, _) = register(&url, "gus", PW).await;
    assert!(matches!(
        gus.join("lobby", None).await,
        ServerMessage::Joined { .. }
    ));
    // The same client id as the guest's first send (`say` makes `c1-12` for both texts).
    gus.say("lobby", "member hello").await;
    match gus
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await
    {
        ServerMessage::Ack { duplicate, .. } => assert!(!duplicate, "taken for the guest's"),
        _ => unreachable!(),
    }
    let m = next_message(&mut alice).await;
    assert_eq!((m.text.as_str(), m.guest), ("member hello", false));
}
