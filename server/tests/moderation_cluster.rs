//! Moderation across a cluster: an owner's or admin's action on node A reaches the user's
//! connections on node B, and what it stored holds on both nodes.

mod common;

use common::auth::{chat_url, guest_refused, register, try_hello, PW};
use common::cluster::{Node, Redis};
use common::{nick, room, text, Client};
use shared::{Action, ClientMessage, ClientMsgId, ErrorCode, ServerMessage};
use std::time::{Duration, Instant};

fn node(redis: &Redis) -> Node {
    Node::start_at(
        &redis.url(),
        &["--registration-rate", "0", "--admin", "root"],
    )
}

/// `by` does `action` on `who` (in `r`, or server-wide); waits until `by` is told it was done.
async fn moderate(by: &mut Client, r: Option<&str>, who: &str, action: Action) {
    by.send(&ClientMessage::Moderate {
        room: r.map(room),
        nick: nick(who),
        action,
        for_secs: None,
    })
    .await;
    let m = by
        .recv_until(|m| {
            matches!(m, ServerMessage::Moderated { nick, action: a, .. }
                if nick.as_str() == who && *a == action)
                || matches!(m, ServerMessage::Error { .. })
        })
        .await;
    assert!(
        matches!(m, ServerMessage::Moderated { .. }),
        "{action:?} {who}: {m:?}"
    );
}

/// The error `join` got (panics if it was joined).
async fn join_refused(c: &mut Client, r: &str) -> ErrorCode {
    match c.join(r, None).await {
        ServerMessage::Error { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Sends `t` to `r`: the ack's id, or the error's code.
async fn send(c: &mut Client, r: &str, t: &str) -> Result<u64, ErrorCode> {
    c.next_cid += 1;
    let client_id = ClientMsgId::new(format!("m{}", c.next_cid)).expect("cid");
    c.send(&ClientMessage::Send {
        room: room(r),
        text: text(t),
        client_id: client_id.clone(),
    })
    .await;
    let m = c
        .recv_until(|m| match m {
            ServerMessage::Ack { client_id: x, .. }
            | ServerMessage::Error {
                client_id: Some(x), ..
            } => *x == client_id,
            _ => false,
        })
        .await;
    match m {
        ServerMessage::Ack { id, .. } => Ok(id),
        ServerMessage::Error { code, .. } => Err(code),
        _ => unreachable!(),
    }
}

/// Sends until the outcome is `want` (the other node applies a change asynchronously).
async fn send_until(c: &mut Client, r: &str, want: fn(&Result<u64, ErrorCode>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = send(c, r, "hello?").await;
        if want(&got) {
            return;
        }
        assert!(Instant::now() < deadline, "still {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn room_names(c: &mut Client) -> Vec<String> {
    c.send(&ClientMessage::ListRooms { after: None }).await;
    match c
        .recv_until(|m| matches!(m, ServerMessage::Rooms { .. }))
        .await
    {
        ServerMessage::Rooms { rooms, .. } => rooms.iter().map(|r| r.name.to_string()).collect(),
        _ => unreachable!(),
    }
}

/// An owner on node A runs an invite-only room whose members are on node B: the uninvited
/// neither join nor see it, a ban takes its target out on B and keeps it out, and a mute
/// (then its lifting) holds for sends on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_on_one_node_moderates_members_on_the_other() {
    let redis = Redis::start("mod-room");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut olive, _) = register(&url_a, "olive", PW).await;
    let (mut bob, _) = register(&url_b, "bob", PW).await;
    let (mut carol, _) = register(&url_b, "carol", PW).await;
    let (mut dave, _) = register(&url_b, "dave", PW).await;

    olive
        .send(&ClientMessage::CreateRoom {
            room: room("ops"),
            invite_only: true,
        })
        .await;
    let j = olive
        .recv_until(|m| {
            matches!(
                m,
                ServerMessage::Joined { .. } | ServerMessage::Error { .. }
            )
        })
        .await;
    assert!(
        matches!(
            j,
            ServerMessage::Joined {
                invite_only: true,
                ..
            }
        ),
        "{j:?}"
    );
    moderate(&mut olive, Some("ops"), "bob", Action::Invite).await;
    moderate(&mut olive, Some("ops"), "dave", Action::Invite).await;
    for c in [&mut bob, &mut dave] {
        let j = c.join("ops", None).await;
        match j {
            ServerMessage::Joined {
                invite_only, owner, ..
            } => {
                assert!(invite_only);
                assert_eq!(owner.as_ref().map(|o| o.as_str()), Some("olive"));
            }
            other => panic!("{other:?}"),
        }
    }

    assert_eq!(join_refused(&mut carol, "ops").await, ErrorCode::NotInvited);
    assert!(!room_names(&mut carol).await.contains(&"ops".to_string()));
    assert!(room_names(&mut bob).await.contains(&"ops".to_string()));

    moderate(&mut olive, Some("ops"), "bob", Action::Ban).await;
    let m = bob
        .recv_until(|m| matches!(m, ServerMessage::Moderated { .. }))
        .await;
    assert!(
        matches!(&m, ServerMessage::Moderated { room: Some(r), nick, action: Action::Ban, by, .. }
            if r.as_str() == "ops" && nick.as_str() == "bob" && by.as_str() == "olive"),
        "{m:?}"
    );
    let m = bob
        .recv_until(|m| matches!(m, ServerMessage::Left { .. }))
        .await;
    assert!(matches!(m, ServerMessage::Left { room } if room.as_str() == "ops"));
    assert_eq!(join_refused(&mut bob, "ops").await, ErrorCode::Banned);
    let (mut bob_again, _) = common::auth::sign_in(&url_b, "bob", PW).await;
    assert_eq!(join_refused(&mut bob_again, "ops").await, ErrorCode::Banned);

    assert!(send(&mut dave, "ops", "before").await.is_ok());
    moderate(&mut olive, Some("ops"), "dave", Action::Mute).await;
    let m = dave
        .recv_until(|m| matches!(m, ServerMessage::Moderated { .. }))
        .await;
    assert!(
        matches!(
            &m,
            ServerMessage::Moderated {
                action: Action::Mute,
                until: Some(_),
                ..
            }
        ),
        "{m:?}"
    );
    send_until(&mut dave, "ops", |r| *r == Err(ErrorCode::Muted)).await;
    moderate(&mut olive, Some("ops"), "dave", Action::Unmute).await;
    send_until(&mut dave, "ops", |r| r.is_ok()).await;
}

/// An admin on node A bans a guest connected to node B: its connection closes (4013), its
/// name is refused on A, and so is any guest name from its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_bans_a_guest_on_the_other_node() {
    let redis = Redis::start("mod-guest");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut troll, _) = b.connect("troll").await;
    let (mut root, _) = register(&url_a, "root", PW).await;

    root.send(&ClientMessage::Moderate {
        room: None,
        nick: nick("troll"),
        action: Action::Ban,
        for_secs: None,
    })
    .await;
    assert_eq!(troll.expect_close().await, 4013);
    assert_eq!(
        guest_refused(&url_a, "troll").await,
        (ErrorCode::Banned, 4013)
    );

    // The address is recorded by node B, where troll was connected.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (mut c, m) = try_hello(&url_a, Some("newcomer"), None).await;
        match m {
            ServerMessage::Error { code, .. } => {
                assert_eq!(code, ErrorCode::Banned);
                assert_eq!(c.expect_close().await, 4013);
                break;
            }
            ServerMessage::Welcome { .. } => {
                assert!(Instant::now() < deadline, "the address is not banned");
                drop(c);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("{other:?}"),
        }
    }
    let (mut admin, _) = common::auth::sign_in(&url_b, "root", PW).await;
    admin.send(&ClientMessage::ListRooms { after: None }).await;
    let m = admin
        .recv_until(|m| matches!(m, ServerMessage::Rooms { .. } | ServerMessage::Error { .. }))
        .await;
    assert!(
        matches!(m, ServerMessage::Rooms { .. }),
        "accounts still sign in: {m:?}"
    );
}
