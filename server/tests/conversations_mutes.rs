//! A signed-in user's own mutes, against the real binary: kept by the server, so a mute made
//! on one device reaches every other one at once, lists with the conversation after a
//! restart, and goes when the user leaves; guests and strangers are refused.

mod common;

use common::auth::{chat_url, pw_auth, register, sign_in, DataDir};
use common::conv::{answer, error_of, in_room, next_read, server, welcomed_with, with};
use common::{nick, Client};
use shared::{ClientMessage, Conversation, ErrorCode, ReadState, ServerMessage};

const PW: &str = "correct horse 1";

fn mute(conv: Conversation, muted: bool) -> ClientMessage {
    ClientMessage::SetMuted { conv, muted }
}

fn joined_read(m: ServerMessage) -> ReadState {
    let ServerMessage::Joined { read, .. } = m else {
        panic!("joined: {m:?}")
    };
    read.expect("a signed-in user's join carries its read state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mute_follows_the_user_to_every_device_and_across_a_restart() {
    let dir = DataDir::new("mutes");
    let (s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut laptop, _) = register(&url, "alice", PW).await;
    let (bob, _) = register(&url, "bob", PW).await;
    drop(bob);
    assert!(!joined_read(laptop.join("general", None).await).muted);
    let (mut phone, _) = sign_in(&url, "alice", PW).await;
    laptop.send(&mute(in_room("general"), true)).await;
    for c in [&mut laptop, &mut phone] {
        let state = next_read(c).await;
        assert_eq!((state.conv, state.muted), (in_room("general"), true));
    }
    // A direct conversation is muted the same way, once it is one of hers.
    let frames = answer(&mut laptop, &mute(with("bob"), true)).await;
    assert_eq!(
        error_of(&frames),
        Some(ErrorCode::UnknownUser),
        "{frames:?}"
    );
    let frames = answer(
        &mut laptop,
        &ClientMessage::Direct {
            to: nick("bob"),
            text: common::text("hi"),
            client_id: common::conv::cid("d1"),
        },
    )
    .await;
    assert_eq!(error_of(&frames), None, "{frames:?}");
    laptop.send(&mute(with("bob"), true)).await;
    let state = next_read(&mut laptop).await;
    assert_eq!((state.conv, state.muted), (with("bob"), true));
    drop((s, laptop, phone));

    let (s, addr) = server(&dir);
    let url = chat_url(&addr);
    let (mut tablet, welcome) = welcomed_with(&url, Some("alice"), pw_auth(PW)).await;
    let listed = welcome
        .iter()
        .find(|st| st.conv == in_room("general"))
        .expect("listed");
    assert!(listed.muted, "kept across the restart: {welcome:?}");
    let dm = welcome.iter().find(|st| st.conv == with("bob"));
    assert!(dm.expect("listed").muted, "{welcome:?}");
    assert!(joined_read(tablet.join("general", None).await).muted);
    // Unmuted, and a later listing says so.
    tablet.send(&mute(in_room("general"), false)).await;
    assert!(!next_read(&mut tablet).await.muted);
    let frames = answer(&mut tablet, &ClientMessage::Conversations {}).await;
    let listed = frames.iter().find_map(|m| match m {
        ServerMessage::Conversations { conversations } => conversations
            .iter()
            .find(|st| st.conv == in_room("general"))
            .cloned(),
        _ => None,
    });
    assert!(!listed.expect("listed").muted, "{frames:?}");
    // Leaving forgets the mute with the conversation.
    tablet.send(&mute(in_room("general"), true)).await;
    assert!(next_read(&mut tablet).await.muted);
    tablet
        .send(&ClientMessage::Leave {
            room: common::room("general"),
        })
        .await;
    tablet
        .recv_until(|m| matches!(m, ServerMessage::Left { .. }))
        .await;
    assert!(!joined_read(tablet.join("general", None).await).muted);
    drop(s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_and_strangers_cannot_mute() {
    let dir = DataDir::new("mutes-refused");
    let (_s, addr) = server(&dir);
    let url = chat_url(&addr);
    let mut gus = Client::open(&url).await;
    gus.hello("gus").await;
    gus.join("general", None).await;
    let frames = answer(&mut gus, &mute(in_room("general"), true)).await;
    assert_eq!(
        error_of(&frames),
        Some(ErrorCode::NotSignedIn),
        "{frames:?}"
    );
    let (mut alice, _) = register(&url, "alice", PW).await;
    // A room she is not in, and a room nobody made.
    for room in ["general", "nowhere"] {
        let frames = answer(&mut alice, &mute(in_room(room), true)).await;
        assert_eq!(error_of(&frames), Some(ErrorCode::NotInRoom), "{frames:?}");
    }
    let frames = answer(&mut alice, &mute(Conversation::Dm(nick("gus")), true)).await;
    assert_eq!(
        error_of(&frames),
        Some(ErrorCode::UnknownUser),
        "{frames:?}"
    );
    // Nothing of that was kept: her join is unmuted.
    assert!(!joined_read(alice.join("general", None).await).muted);
}
