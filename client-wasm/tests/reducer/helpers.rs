//! Frames built from the shared types, and a client already online in `general`.

use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

pub const T0: i64 = 1_764_000_000_000;

pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../shared/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

pub fn room(s: &str) -> RoomName {
    RoomName::new(s).expect("room")
}
pub fn nick(s: &str) -> Nickname {
    Nickname::new(s).expect("nick")
}

pub fn welcome(nick: &str, token: &str) -> String {
    welcome_epoch(nick, token, "e1")
}

pub fn welcome_epoch(nick: &str, token: &str, epoch: &str) -> String {
    format!(
        r#"{{"type":"welcome","nick":"{nick}","protocol":1,"default_room":"general","resume_token":"{token}","epoch":"{epoch}","limits":{{"max_message_bytes":16384,"max_text_bytes":4000,"history_page":50,"rate_per_sec":10,"rate_burst":20}}}}"#
    )
}

/// A room message as the server sends it (an empty `text`: a tombstone).
pub fn chat_in(id: u64, room: &str, sender: &str, text: &str) -> ChatMessage {
    ChatMessage {
        id,
        room: RoomName::new(room).expect("room"),
        sender: nick(sender),
        text: if text.is_empty() {
            MessageText::tombstone()
        } else {
            MessageText::new(text).expect("text")
        },
        ts: T0 + id as i64,
        guest: false,
        target: None,
        edited: false,
        deleted: false,
        mentions: Vec::new(),
    }
}

pub fn msg_json(id: u64, room: &str, sender: &str, text: &str) -> String {
    ServerMessage::Message(chat_in(id, room, sender, text)).to_json()
}

pub fn joined_json(
    room: &str,
    members: &[&str],
    history: &[(u64, &str, &str)],
    has_more: bool,
) -> String {
    ServerMessage::Joined {
        room: RoomName::new(room).expect("room"),
        members: members.iter().map(|m| nick(m)).collect(),
        guests: vec![],
        history: history
            .iter()
            .map(|(id, sender, text)| ChatMessage {
                id: *id,
                room: RoomName::new(room).expect("room"),
                sender: nick(sender),
                text: MessageText::new(*text).expect("text"),
                ts: T0 + *id as i64,
                guest: false,
                target: None,
                edited: false,
                deleted: false,
                mentions: Vec::new(),
            })
            .collect(),
        has_more,
        invite_only: false,
        owner: None,
        muted_until: None,
        read: None,
    }
    .to_json()
}

pub fn ack_json(client_id: &ClientMsgId, id: u64, duplicate: bool) -> String {
    ServerMessage::Ack {
        client_id: client_id.clone(),
        id,
        ts: T0 + id as i64,
        duplicate,
    }
    .to_json()
}

pub fn sent(fx: &[Effect]) -> Vec<ClientMessage> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// A state logged in as `me`, in `general` with alice and bob, holding messages 1 and 2.
pub fn online(me: &str) -> ChatState {
    let mut s = ChatState::new(7, T0);
    assert_eq!(
        s.apply(Action::Connect { nick: me.into() }, T0),
        vec![Effect::CancelReconnect, Effect::Open]
    );
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(welcome(me, "tok1")), T0);
    s.apply(
        Action::Received(joined_json(
            "general",
            &["alice", "bob"],
            &[(1, "bob", "one"), (2, "bob", "two")],
            false,
        )),
        T0,
    );
    assert!(s.is_online());
    s
}

/// [`online`], then the connection drops and comes back: `general` resumes after id 2 and
/// waits for its `joined`.
pub fn reconnected(me: &str) -> ChatState {
    let mut s = online(me);
    s.apply(
        Action::Closed {
            code: 1006,
            reason: String::new(),
        },
        T0,
    );
    s.apply(Action::RetryNow, T0);
    s.apply(Action::Opened, T0);
    s.apply(Action::Received(welcome(me, "t")), T0);
    s
}

pub fn room_ids(s: &ChatState, name: &str) -> Vec<u64> {
    s.rooms[name].messages.iter().map(|m| m.id).collect()
}

pub fn pending_id(s: &ChatState, i: usize) -> ClientMsgId {
    s.pending[i].client_id.clone()
}

pub fn dm(id: u64, from: &str, to: &str, text: &str) -> DirectMessage {
    DirectMessage {
        id,
        from: nick(from),
        to: nick(to),
        text: MessageText::new(text).expect("text"),
        ts: T0 + id as i64,
        guest: false,
        target: None,
        edited: false,
        deleted: false,
        mentions: Vec::new(),
    }
}

pub fn chat(id: u64, sender: &str, text: &str) -> ChatMessage {
    chat_in(id, "general", sender, text)
}

pub fn edit(id: u64, target: u64, text: &str) -> ChatMessage {
    ChatMessage {
        target: Some(target),
        edited: true,
        ..chat(id, "bob", text)
    }
}

pub fn deletion(id: u64, target: u64) -> ChatMessage {
    ChatMessage {
        target: Some(target),
        deleted: true,
        ..chat(id, "bob", "")
    }
}

pub fn read(conv: Conversation, last_read: u64, unread: u32, mentions: u32) -> ReadState {
    ReadState {
        conv,
        last_read,
        unread,
        mentions,
        first_unread: None,
        muted: false,
    }
}

pub fn dm_conv(peer: &str) -> Conversation {
    Conversation::Dm(nick(peer))
}

pub fn recv(s: &mut ChatState, msg: ServerMessage) -> Vec<ClientMessage> {
    sent(&s.apply(Action::Received(msg.to_json()), T0))
}

/// Online as `me` (an account, or a guest) in `general`, holding 1 and 2, read up to 2.
pub fn signed_in(me: &str, guest: bool, conversations: Vec<ReadState>) -> ChatState {
    let mut s = ChatState::new(7, T0);
    s.apply(
        if guest {
            Action::Connect { nick: me.into() }
        } else {
            Action::SignIn(Login::Password {
                nick: me.into(),
                password: "correct horse".into(),
            })
        },
        T0,
    );
    s.apply(Action::Opened, T0);
    let welcome = ServerMessage::Welcome {
        nick: nick(me),
        guest,
        session: None,
        protocol: 1,
        default_room: room("general"),
        resume_token: "t".into(),
        epoch: "e1".into(),
        limits: Limits {
            max_message_bytes: 16384,
            max_text_bytes: 4000,
            history_page: 50,
            rate_per_sec: 10,
            rate_burst: 20,
        },
        admin: false,
        conversations,
    };
    recv(&mut s, welcome);
    let joined = ServerMessage::Joined {
        room: room("general"),
        members: vec![nick("alice"), nick("bob"), nick(me)],
        guests: vec![],
        history: vec![chat(1, "bob", "one"), chat(2, "bob", "two")],
        has_more: false,
        invite_only: false,
        owner: Some(nick("alice")),
        muted_until: None,
        read: (!guest).then(|| read(Conversation::Room(room("general")), 2, 0, 0)),
    };
    let out = recv(&mut s, joined);
    assert!(
        out.iter()
            .all(|m| !matches!(m, ClientMessage::MarkRead { .. })),
        "{out:?}"
    );
    s
}
