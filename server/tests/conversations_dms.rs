//! Direct messages that outlive a connection, against the real binary: one to an offline
//! user reaches them after a restart, once, and its read state follows them to every device;
//! a guest's are delivered live and kept nowhere.

mod common;

use common::auth::{chat_url, register, sign_in, DataDir};
use common::conv::{answer, cid, dm_history, error_of, frames_within, server, with};
use common::{nick, text, Client};
use shared::{ClientMessage, ErrorCode, ServerMessage};
use std::time::Duration;

const PW: &str = "correct horse 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dm_to_an_offline_user_is_delivered_after_a_restart_once() {
    let dir = DataDir::new("rules-dm");
    let (s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut alice, _) = register(&url, "alice", PW).await;
    let (bob, _) = register(&url, "bob", PW).await;
    drop(bob);
    alice
        .send(&ClientMessage::Direct {
            to: nick("Bob"),
            text: text("are you there @bob?"),
            client_id: cid("dm1"),
        })
        .await;
    let ServerMessage::Ack { id, .. } = alice
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. }))
        .await
    else {
        unreachable!()
    };
    drop((s, alice));

    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let mut bob = Client::open(&url).await;
    bob.send(&ClientMessage::Hello {
        nick: Some(nick("bob")),
        protocol: 1,
        resume_token: None,
        auth: Some(common::auth::pw_auth(PW)),
    })
    .await;
    let ServerMessage::Welcome { conversations, .. } = bob.recv().await else {
        panic!("welcome")
    };
    let dm = conversations
        .iter()
        .find(|s| s.conv == with("alice"))
        .expect("the conversation is listed");
    assert_eq!((dm.unread, dm.first_unread), (1, Some(id)));
    let frames = frames_within(&mut bob, Duration::from_millis(800)).await;
    let copies = frames
        .iter()
        .filter(|f| f.contains("\"type\":\"direct\"") && f.contains(&format!("\"id\":{id},")))
        .count();
    assert_eq!(copies, 1, "delivered once: {frames:?}");
    // Read, it is not delivered again, and the other device knows.
    let (mut phone, _) = sign_in(&url, "bob", PW).await;
    bob.send(&ClientMessage::MarkRead {
        conv: with("alice"),
        id,
    })
    .await;
    for c in [&mut bob, &mut phone] {
        let ServerMessage::Read(state) =
            c.recv_until(|m| matches!(m, ServerMessage::Read(_))).await
        else {
            unreachable!()
        };
        assert_eq!(
            (state.conv.clone(), state.unread, state.last_read),
            (with("alice"), 0, id)
        );
    }
    let (mut laptop, _) = sign_in(&url, "bob", PW).await;
    let frames = frames_within(&mut laptop, Duration::from_millis(500)).await;
    assert!(
        frames.iter().all(|f| !f.contains("\"type\":\"direct\"")),
        "{frames:?}"
    );
    // The history of the conversation is the two participants' only.
    let frames = answer(&mut laptop, &dm_history("alice")).await;
    assert!(
        format!("{frames:?}").contains("are you there"),
        "{frames:?}"
    );
    let (mut eve, _) = register(&url, "eve", PW).await;
    let frames = answer(&mut eve, &dm_history("alice")).await;
    assert!(
        !format!("{frames:?}").contains("are you there"),
        "{frames:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_messages_of_guests_are_live_only() {
    let dir = DataDir::new("rules-guest-dm");
    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut alice, _) = register(&url, "alice", PW).await;
    let mut gus = Client::open(&url).await;
    gus.hello("gus").await;
    alice
        .send(&ClientMessage::Direct {
            to: nick("gus"),
            text: text("for gus only"),
            client_id: cid("g1"),
        })
        .await;
    gus.recv_until(|m| matches!(m, ServerMessage::Direct(d) if d.text.as_str() == "for gus only"))
        .await;
    drop(gus);
    // A later guest of the same name gets nothing, and guests have no direct history.
    let mut later = Client::open(&url).await;
    later.hello("gus").await;
    let frames = answer(&mut later, &dm_history("alice")).await;
    assert_eq!(error_of(&frames), Some(ErrorCode::NotSignedIn));
    assert!(!format!("{frames:?}").contains("for gus only"));
    // Nor does alice's side keep it: there is no account to keep it with.
    let frames = answer(&mut alice, &dm_history("gus")).await;
    assert_eq!(error_of(&frames), Some(ErrorCode::UnknownUser));
    let frames = answer(&mut alice, &ClientMessage::Conversations {}).await;
    assert!(!format!("{frames:?}").contains("gus"), "{frames:?}");
}

/// Every `conversations` answer reads up to 200 histories: an account gets five at once, then
/// one every two seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_conversations_is_rate_limited() {
    let dir = DataDir::new("rules-listing");
    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut alice, _) = register(&url, "alice", PW).await;
    let (mut tab, _) = sign_in(&url, "alice", PW).await;
    for i in 0..5 {
        let c = if i % 2 == 0 { &mut alice } else { &mut tab };
        let frames = answer(c, &ClientMessage::Conversations {}).await;
        assert_eq!(error_of(&frames), None, "request {i}: {frames:?}");
    }
    let frames = answer(&mut tab, &ClientMessage::Conversations {}).await;
    assert_eq!(
        error_of(&frames),
        Some(ErrorCode::RateLimited),
        "per account, not per tab"
    );
}
