//! Each rule of conversations on its own, against the real binary: an invite-only room is
//! unreadable to a non-member through any request, a ban outlives a restart, a deleted
//! message is gone from history, from resume and from the database files, mentions are
//! counted apart, and admins act server-wide. (Direct messages: `conversations_dms.rs`.)

mod common;

use common::auth::{chat_url, hello_session, register, DataDir};
use common::conv::{
    answer, cid, create, error_of, frames_within, history, in_room, join_refusal, moderate, post,
    revise, server,
};
use common::{nick, room, text, Client};
use shared::{Action, ClientMessage, ErrorCode, ServerMessage};
use std::time::Duration;

const PW: &str = "correct horse 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_cannot_read_an_invite_only_room_through_any_request() {
    let dir = DataDir::new("rules-private");
    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let mut alice = register(&url, "alice", PW).await.0;
    create(&mut alice, "vault", true).await;
    let secret = post(&mut alice, "vault", "SECRET-vault-4411").await;
    let (mut eve, _) = register(&url, "eve", PW).await;
    let mut guest = Client::open(&url).await;
    guest.hello("mallory").await;
    let v = || room("vault");
    let asks = [
        ClientMessage::Join {
            room: v(),
            after: None,
        },
        ClientMessage::Join {
            room: v(),
            after: Some(0),
        },
        ClientMessage::History {
            room: v(),
            before: None,
            after: None,
            limit: None,
        },
        ClientMessage::History {
            room: v(),
            before: None,
            after: Some(0),
            limit: None,
        },
        ClientMessage::History {
            room: v(),
            before: Some(secret + 1),
            after: None,
            limit: None,
        },
        ClientMessage::Send {
            room: v(),
            text: text("let me in"),
            client_id: cid("x1"),
        },
        ClientMessage::Typing { room: v() },
        ClientMessage::Edit {
            conv: in_room("vault"),
            id: secret,
            text: text("mine"),
            client_id: cid("x2"),
        },
        ClientMessage::Delete {
            conv: in_room("vault"),
            id: secret,
            client_id: cid("x3"),
        },
        ClientMessage::MarkRead {
            conv: in_room("vault"),
            id: secret,
        },
        ClientMessage::CreateRoom {
            room: v(),
            invite_only: false,
        },
        ClientMessage::Leave { room: v() },
        ClientMessage::Moderate {
            room: Some(v()),
            nick: nick("eve"),
            action: Action::Invite,
            for_secs: None,
        },
    ];
    for c in [&mut eve, &mut guest] {
        for ask in &asks {
            let frames = answer(c, ask).await;
            assert!(
                error_of(&frames).is_some(),
                "{ask:?} was not refused: {frames:?}"
            );
            let seen = format!("{frames:?}");
            assert!(!seen.contains("SECRET-vault"), "{ask:?} leaked: {seen}");
        }
        let frames = answer(c, &ClientMessage::ListRooms { after: None }).await;
        assert!(
            !format!("{frames:?}").contains("vault"),
            "listed: {frames:?}"
        );
        let frames = answer(c, &ClientMessage::Conversations {}).await;
        assert!(!format!("{frames:?}").contains("vault"), "{frames:?}");
    }
    // Nothing about the room reached them afterwards either (alice posts again).
    post(&mut alice, "vault", "SECRET-vault-later").await;
    for c in [&mut eve, &mut guest] {
        let late = frames_within(c, Duration::from_millis(300)).await;
        assert!(late.iter().all(|f| !f.contains("vault")), "{late:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_survives_a_restart() {
    let dir = DataDir::new("rules-ban");
    let (s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut olive, _) = register(&url, "olive", PW).await;
    create(&mut olive, "club", false).await;
    let (mut bert, bert_token) = register(&url, "bert", PW).await;
    assert!(matches!(
        bert.join("club", None).await,
        ServerMessage::Joined { .. }
    ));
    let mut guest = Client::open(&url).await;
    guest.hello("gil").await;
    assert!(matches!(
        guest.join("club", None).await,
        ServerMessage::Joined { .. }
    ));
    moderate(&mut olive, Some("club"), "bert", Action::Ban, None)
        .await
        .expect("ban bert");
    moderate(&mut olive, Some("club"), "gil", Action::Ban, Some(3600))
        .await
        .expect("ban gil");
    // Both are taken out at once.
    bert.recv_until(|m| matches!(m, ServerMessage::Left { .. }))
        .await;
    guest
        .recv_until(|m| matches!(m, ServerMessage::Left { .. }))
        .await;
    drop((s, bert, guest));

    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let mut bert = hello_session(&url, &bert_token).await;
    assert_eq!(
        join_refusal(&mut bert, "club").await,
        Some(ErrorCode::Banned)
    );
    let mut guest = Client::open(&url).await;
    guest.hello("gil").await;
    assert_eq!(
        join_refusal(&mut guest, "club").await,
        Some(ErrorCode::Banned)
    );
    // An admin lifts it; the room's rules came back too (olive still owns it).
    let (mut root, _) = register(&url, "root", PW).await;
    moderate(&mut root, Some("club"), "bert", Action::Unban, None)
        .await
        .expect("unban");
    let ServerMessage::Joined { owner, .. } = bert.join("club", None).await else {
        panic!("bert rejoins after the unban")
    };
    assert_eq!(owner, Some(nick("olive")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_message_is_gone_from_history_resume_and_the_database_files() {
    let dir = DataDir::new("rules-delete");
    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut alice, _) = register(&url, "alice", PW).await;
    create(&mut alice, "notes", false).await;
    let (mut bob, _) = register(&url, "bob", PW).await;
    bob.join("notes", None).await;
    let before = post(&mut alice, "notes", "KEEP-before-77").await;
    let secret = post(&mut alice, "notes", "SECRET-delete-9f2c").await;
    revise(
        &mut alice,
        in_room("notes"),
        secret,
        Some("SECRET-edited-9f2c"),
        "ed1",
    )
    .await
    .expect("edit");
    // History shows it as it is now: the edited text, marked so.
    let frames = answer(&mut bob, &history("notes")).await;
    let edited = frames.iter().find_map(|m| match m {
        ServerMessage::History { messages, .. } => {
            messages.iter().find(|x| x.id == secret).cloned()
        }
        _ => None,
    });
    let edited = edited.expect("in history");
    assert!(
        edited.edited && edited.text.as_str() == "SECRET-edited-9f2c",
        "{edited:?}"
    );
    let after = post(&mut alice, "notes", "KEEP-after-77").await;
    // Bob may not delete alice's message; alice may.
    assert_eq!(
        revise(&mut bob, in_room("notes"), secret, None, "del-bob").await,
        Err(ErrorCode::NotAllowed)
    );
    let del = revise(&mut alice, in_room("notes"), secret, None, "del1")
        .await
        .expect("delete");
    assert!(del > after, "the deletion has an id of its own");
    let live = bob
        .recv_until(|m| matches!(m, ServerMessage::Message(x) if x.id == del))
        .await;
    let ServerMessage::Message(d) = live else {
        unreachable!()
    };
    assert!(
        d.deleted && d.target == Some(secret) && d.text.is_empty(),
        "{d:?}"
    );

    let frames = answer(&mut bob, &history("notes")).await;
    let page = format!("{frames:?}");
    assert!(!page.contains("SECRET"), "history: {page}");
    let tomb = frames.iter().find_map(|m| match m {
        ServerMessage::History { messages, .. } => {
            messages.iter().find(|x| x.id == secret).cloned()
        }
        _ => None,
    });
    let tomb = tomb.expect("the tombstone is in its place");
    assert!(tomb.deleted && tomb.text.is_empty());
    let resumed = bob.join("notes", Some(before)).await;
    let seen = format!("{resumed:?}");
    assert!(
        !seen.contains("SECRET") && seen.contains("KEEP-after-77"),
        "resume: {seen}"
    );

    for name in ["chat.db", "chat.db-wal"] {
        let Ok(bytes) = std::fs::read(dir.0.join(name)) else {
            continue;
        };
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains("SECRET-delete-9f2c") && !hay.contains("SECRET-edited-9f2c"),
            "{name} holds the text"
        );
    }
    let all: Vec<u8> = ["chat.db", "chat.db-wal"]
        .iter()
        .filter_map(|n| std::fs::read(dir.0.join(n)).ok())
        .flatten()
        .collect();
    assert!(
        String::from_utf8_lossy(&all).contains("KEEP-after-77"),
        "the files hold kept messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_flagged_and_counted_apart() {
    let dir = DataDir::new("rules-mention");
    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut alice, _) = register(&url, "alice", PW).await;
    create(&mut alice, "team", false).await;
    let (mut bob, token) = register(&url, "Bob", PW).await;
    let ServerMessage::Joined { history: seen, .. } = bob.join("team", None).await else {
        panic!()
    };
    assert!(seen.is_empty());
    drop(bob);
    post(&mut alice, "team", "plain news").await;
    let m = post(
        &mut alice,
        "team",
        "@BOB please look, and mail bob@example.org",
    )
    .await;
    let frames = answer(&mut alice, &history("team")).await;
    let flagged = frames.iter().find_map(|f| match f {
        ServerMessage::History { messages, .. } => messages.iter().find(|x| x.id == m).cloned(),
        _ => None,
    });
    assert_eq!(
        flagged.expect("in history").mentions,
        vec![nick("Bob")],
        "by the name Bob goes by"
    );
    let mut bob = hello_session(&url, &token).await;
    let ServerMessage::Joined { read, .. } = bob.join("team", None).await else {
        panic!()
    };
    let read = read.expect("read state");
    assert_eq!((read.unread, read.mentions), (2, 1), "{read:?}");
    let frames = answer(&mut bob, &ClientMessage::Conversations {}).await;
    assert!(format!("{frames:?}").contains("mentions: 1"), "{frames:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_ban_guests_and_disable_accounts_server_wide() {
    let dir = DataDir::new("rules-admin");
    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut root, _) = register(&url, "root", PW).await;
    let (mut olive, _) = register(&url, "olive", PW).await;
    let (mut zed, _) = register(&url, "zed", PW).await;
    let mut troll = Client::open(&url).await;
    troll.hello("troll").await;
    assert_eq!(
        moderate(&mut olive, None, "troll", Action::Ban, None).await,
        Err(ErrorCode::NotAllowed)
    );
    assert_eq!(
        moderate(&mut root, None, "zed", Action::Ban, None).await,
        Err(ErrorCode::InvalidMessage),
        "accounts are disabled"
    );
    moderate(&mut root, None, "troll", Action::Ban, None)
        .await
        .expect("ban");
    assert_eq!(troll.expect_close().await, 4013);
    // The name, and the address it came from (every guest here: all on loopback).
    for name in ["troll", "TROLL", "someone-else"] {
        let (code, close) = common::auth::guest_refused(&url, name).await;
        assert_eq!((code, close), (ErrorCode::Banned, 4013), "{name}");
    }
    moderate(&mut root, None, "zed", Action::Disable, None)
        .await
        .expect("disable");
    assert_eq!(zed.expect_close().await, 4010);
    let (code, _, _) =
        common::auth::refused(&url, Some("zed"), Some(common::auth::pw_auth(PW))).await;
    assert_eq!(code, ErrorCode::SignInFailed);
}

/// The default room is the admins': a ban there holds for the demo's users too, who have no
/// other room (4013).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_from_the_default_room_holds_on_the_demo_endpoint() {
    let dir = DataDir::new("rules-demo-ban");
    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut root, _) = register(&url, "root", PW).await;
    let (mut olive, _) = register(&url, "olive", PW).await;
    assert_eq!(
        moderate(&mut olive, Some("general"), "gil", Action::Ban, None).await,
        Err(ErrorCode::NotAllowed),
        "the default room is not olive's"
    );
    moderate(&mut root, Some("general"), "gil", Action::Ban, None)
        .await
        .expect("an admin bans in the default room");
    let mut demo = Client::open(&format!("ws://{addr}/ws/gil")).await;
    assert_eq!(demo.expect_close().await, 4013);
    let mut typed = Client::open(&url).await;
    typed.hello("gil").await;
    assert_eq!(
        join_refusal(&mut typed, "general").await,
        Some(ErrorCode::Banned)
    );
    // Another demo user stays (a close would end the silence).
    let mut other = Client::open(&format!("ws://{addr}/ws/gail")).await;
    other.send_text("still here").await;
    other
        .expect_silence(std::time::Duration::from_millis(200))
        .await;
}
