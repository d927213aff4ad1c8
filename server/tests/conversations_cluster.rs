//! Conversations across a cluster: two nodes on one redis-server share read marks, direct
//! messages kept for an offline user, and edits and deletions (a deleted text is left
//! nowhere in Redis).

mod common;

use common::auth::{chat_url, pw_auth, register, session_auth, PW};
use common::cluster::{next_message, Node, Redis};
use common::conv::{next_read, welcomed_with};
use common::{room, text, Client};
use futures_util::StreamExt;
use shared::{
    ChatMessage, ClientMessage, ClientMsgId, Conversation, MessageId, ReadState, ServerMessage,
};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

fn node(redis: &Redis) -> Node {
    Node::start_at(
        &redis.url(),
        &["--registration-rate", "0", "--admin", "root"],
    )
}

fn in_room(r: &str) -> Conversation {
    Conversation::Room(room(r))
}

fn dm(with: &str) -> Conversation {
    Conversation::Dm(common::nick(with))
}

fn cid(s: &str) -> ClientMsgId {
    ClientMsgId::new(s).expect("cid")
}

/// The read state of `conv` among `states` (panics if it is not listed).
fn state_of<'a>(states: &'a [ReadState], conv: &Conversation) -> &'a ReadState {
    states
        .iter()
        .find(|s| &s.conv == conv)
        .unwrap_or_else(|| panic!("{conv:?} not among {states:?}"))
}

/// Every server message that arrives within `d`.
async fn collect(c: &mut Client, d: Duration) -> Vec<ServerMessage> {
    let deadline = tokio::time::Instant::now() + d;
    let mut got = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, c.ws.next()).await {
            Err(_) => return got,
            Ok(Some(Ok(Message::Text(t)))) => {
                got.push(serde_json::from_str(&t).unwrap_or_else(|e| panic!("{t}: {e}")))
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(other) => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The id the server acked `client_id` with (panics on an error).
async fn acked(c: &mut Client, client_id: &str) -> MessageId {
    let m = c
        .recv_until(|m| match m {
            ServerMessage::Ack { client_id: x, .. }
            | ServerMessage::Error {
                client_id: Some(x), ..
            } => x.as_str() == client_id,
            _ => false,
        })
        .await;
    match m {
        ServerMessage::Ack { id, .. } => id,
        other => panic!("{client_id}: {other:?}"),
    }
}

async fn joined(c: &mut Client, r: &str, after: Option<MessageId>) -> Vec<ChatMessage> {
    match c.join(r, after).await {
        ServerMessage::Joined { history, .. } => history,
        other => panic!("join {r}: {other:?}"),
    }
}

/// A read mark set on node A reaches the user's connection on node B, and every later
/// connection counts unread messages from that mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_marks_and_mutes_are_shared_across_nodes() {
    let redis = Redis::start("conv-read");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut alice, _) = register(&url_a, "alice", PW).await;
    let (mut bob_a, token) = register(&url_a, "bob", PW).await;
    let (mut bob_b, _) = welcomed_with(&url_b, None, session_auth(&token)).await;
    joined(&mut alice, "lounge", None).await;
    joined(&mut bob_a, "lounge", None).await;
    joined(&mut bob_b, "lounge", None).await;

    alice.say("lounge", "first").await;
    let first = next_message(&mut bob_a).await.id;
    assert_eq!(next_message(&mut bob_b).await.id, first);
    let (_, before) = welcomed_with(&url_b, Some("bob"), pw_auth(PW)).await;
    let s = state_of(&before, &in_room("lounge"));
    assert_eq!((s.unread, s.first_unread), (1, Some(first)), "{s:?}");

    bob_a
        .send(&ClientMessage::MarkRead {
            conv: in_room("lounge"),
            id: first,
        })
        .await;
    for (c, on) in [(&mut bob_a, "A"), (&mut bob_b, "B")] {
        let s = next_read(c).await;
        assert_eq!(s.conv, in_room("lounge"), "on {on}");
        assert_eq!(
            (s.last_read, s.unread, s.first_unread),
            (first, 0, None),
            "on {on}"
        );
    }

    let (_third, after) = welcomed_with(&url_b, Some("bob"), pw_auth(PW)).await;
    let s = state_of(&after, &in_room("lounge"));
    assert_eq!((s.last_read, s.unread), (first, 0), "{s:?}");

    alice.say("lounge", "second").await;
    alice.say("lounge", "third").await;
    let second = next_message(&mut bob_b).await.id;
    next_message(&mut bob_b).await;
    let (_fresh, now) = welcomed_with(&url_b, None, session_auth(&token)).await;
    let s = state_of(&now, &in_room("lounge"));
    assert_eq!(
        (s.last_read, s.unread, s.first_unread),
        (first, 2, Some(second)),
        "{s:?}"
    );
    assert!(!s.muted);

    // A mute made on node A reaches bob on B, and B's next welcome lists it.
    bob_a
        .send(&ClientMessage::SetMuted {
            conv: in_room("lounge"),
            muted: true,
        })
        .await;
    for (c, on) in [(&mut bob_a, "A"), (&mut bob_b, "B")] {
        let s = next_read(c).await;
        assert_eq!((s.conv, s.muted), (in_room("lounge"), true), "on {on}");
    }
    let (_later, listed) = welcomed_with(&url_b, None, session_auth(&token)).await;
    assert!(state_of(&listed, &in_room("lounge")).muted, "{listed:?}");
}

/// A direct message to an offline account is kept; the recipient, signing in on the other
/// node, is told it is unread and gets it once; once read, it is not pushed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_message_waits_for_an_offline_user_on_the_other_node() {
    let redis = Redis::start("conv-offline-dm");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut alice, _) = register(&url_a, "alice", PW).await;
    let (bob, _) = register(&url_b, "bob", PW).await;
    drop(bob);
    tokio::time::sleep(Duration::from_millis(300)).await;

    alice
        .send(&ClientMessage::Direct {
            to: common::nick("bob"),
            text: text("while you were away"),
            client_id: cid("away-1"),
        })
        .await;
    let id = acked(&mut alice, "away-1").await;

    let (mut bob, states) = welcomed_with(&url_b, Some("bob"), pw_auth(PW)).await;
    let s = state_of(&states, &dm("alice"));
    assert_eq!((s.unread, s.first_unread), (1, Some(id)), "{s:?}");
    let pushed: Vec<_> = collect(&mut bob, Duration::from_secs(1))
        .await
        .into_iter()
        .filter_map(|m| match m {
            ServerMessage::Direct(d) => Some(d),
            _ => None,
        })
        .collect();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0].id, id);
    assert_eq!(
        (pushed[0].from.as_str(), pushed[0].text.as_str()),
        ("alice", "while you were away")
    );

    bob.send(&ClientMessage::DmHistory {
        with: common::nick("alice"),
        before: None,
        after: None,
        limit: None,
    })
    .await;
    match bob
        .recv_until(|m| matches!(m, ServerMessage::DmHistory { .. }))
        .await
    {
        ServerMessage::DmHistory { messages, .. } => {
            let texts: Vec<_> = messages.iter().map(|m| (m.id, m.text.as_str())).collect();
            assert_eq!(texts, vec![(id, "while you were away")]);
        }
        _ => unreachable!(),
    }

    bob.send(&ClientMessage::MarkRead {
        conv: dm("alice"),
        id,
    })
    .await;
    let s = next_read(&mut bob).await;
    assert_eq!((s.conv, s.unread), (dm("alice"), 0));
    drop(bob);
    let (mut again, states) = welcomed_with(&url_b, Some("bob"), pw_auth(PW)).await;
    let s = state_of(&states, &dm("alice"));
    assert_eq!((s.last_read, s.unread), (id, 0), "{s:?}");
    let pushed = collect(&mut again, Duration::from_secs(1)).await;
    assert!(
        !pushed.iter().any(|m| matches!(m, ServerMessage::Direct(_))),
        "{pushed:?}"
    );
}

/// Every key in Redis with its value, as redis-cli prints them.
fn everything(redis: &Redis) -> String {
    let mut all = String::new();
    for key in redis.cli(&["--scan"]).lines().filter(|k| !k.is_empty()) {
        let kind = redis.cli(&["TYPE", key]);
        let value = match kind.trim() {
            "string" => redis.cli(&["GET", key]),
            "hash" => redis.cli(&["HGETALL", key]),
            "zset" => redis.cli(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
            "set" => redis.cli(&["SMEMBERS", key]),
            "list" => redis.cli(&["LRANGE", key, "0", "-1"]),
            "stream" => redis.cli(&["XRANGE", key, "-", "+"]),
            other => panic!("{key}: type {other}"),
        };
        all.push_str(&format!("{key} = {value}\n"));
    }
    all
}

/// An edit and a deletion on node A reach node B as events naming the original; history
/// and a resume on B show the deleted message as a tombstone, and its text (nor its edited
/// text) is left in no Redis key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_deletions_reach_the_other_node_and_leave_no_text() {
    let redis = Redis::start("conv-rewrites");
    let (a, b) = (node(&redis), node(&redis));
    let (url_a, url_b) = (chat_url(&a.addr), chat_url(&b.addr));
    let (mut alice, _) = register(&url_a, "alice", PW).await;
    let (mut bob, token) = register(&url_b, "bob", PW).await;
    joined(&mut alice, "notes", None).await;
    joined(&mut bob, "notes", None).await;

    alice.say("notes", "keep-this-text").await;
    let kept = next_message(&mut bob).await.id;
    alice.say("notes", "SECRET-original").await;
    let secret = next_message(&mut bob).await.id;
    let conv = in_room("notes");

    alice
        .send(&ClientMessage::Edit {
            conv: conv.clone(),
            id: secret,
            text: text("SECRET-edited"),
            client_id: cid("edit-1"),
        })
        .await;
    let edit = acked(&mut alice, "edit-1").await;
    let m = next_message(&mut bob).await;
    assert_eq!(
        (m.id, m.target, m.edited),
        (edit, Some(secret), true),
        "{m:?}"
    );
    assert_eq!(m.text.as_str(), "SECRET-edited");

    alice
        .send(&ClientMessage::Delete {
            conv: conv.clone(),
            id: secret,
            client_id: cid("delete-1"),
        })
        .await;
    let deletion = acked(&mut alice, "delete-1").await;
    let m = next_message(&mut bob).await;
    assert_eq!(
        (m.id, m.target, m.deleted),
        (deletion, Some(secret), true),
        "{m:?}"
    );
    assert!(m.text.is_empty(), "{m:?}");

    bob.send(&ClientMessage::History {
        room: room("notes"),
        before: None,
        after: None,
        limit: None,
    })
    .await;
    let messages = match bob
        .recv_until(|m| matches!(m, ServerMessage::History { .. }))
        .await
    {
        ServerMessage::History { messages, .. } => messages,
        _ => unreachable!(),
    };
    let check = |history: &[ChatMessage], what: &str| {
        let original = history
            .iter()
            .find(|m| m.id == secret)
            .unwrap_or_else(|| panic!("{what}: no tombstone in {history:?}"));
        assert!(
            original.deleted && original.text.is_empty(),
            "{what}: {original:?}"
        );
        assert!(
            history.iter().all(|m| !m.text.as_str().contains("SECRET")),
            "{what}: {history:?}"
        );
    };
    check(&messages, "history");
    assert!(messages
        .iter()
        .any(|m| m.id == kept && m.text.as_str() == "keep-this-text"));

    let (mut resumed, _) = welcomed_with(&url_b, None, session_auth(&token)).await;
    let history = joined(&mut resumed, "notes", Some(kept)).await;
    check(&history, "resume");
    assert!(history.iter().any(|m| m.id == deletion), "{history:?}");

    let all = everything(&redis);
    assert!(!all.contains("SECRET-"), "{all}");
    assert!(all.contains("keep-this-text"), "{all}");
}
