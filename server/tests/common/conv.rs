//! Conversations: asking the server one thing and reading exactly its answer, and the
//! owners' and admins' requests.

use super::{room, text, Client};
use shared::{
    Action, Auth, ClientMessage, ClientMsgId, Conversation, ErrorCode, ReadState, ServerMessage,
};

/// A room nobody makes: its (empty) history answers the probe that ends an answer.
const PROBE: &str = "zz-probe";

pub fn cid(s: &str) -> ClientMsgId {
    ClientMsgId::new(s).expect("client id")
}

/// Sends `req`, then a probe, and returns every frame that came before the probe's answer:
/// the server answers a connection's requests in order, so `req`'s answer (or its silence)
/// is among them. A send's ack may come after the probe's answer (it waits for the store):
/// for a request with a client id, the frames go on to its ack or error.
pub async fn answer(c: &mut Client, req: &ClientMessage) -> Vec<ServerMessage> {
    let mut frames = answer_to_probe(c, req).await;
    let Some(mine) = client_id_of(req) else {
        return frames;
    };
    let done = |m: &ServerMessage| match m {
        ServerMessage::Ack { client_id, .. } => client_id == &mine,
        ServerMessage::Error { client_id, .. } => client_id.as_ref() == Some(&mine),
        _ => false,
    };
    while !frames.iter().any(done) {
        frames.push(c.recv().await);
    }
    frames
}

fn client_id_of(req: &ClientMessage) -> Option<ClientMsgId> {
    match req {
        ClientMessage::Send { client_id, .. }
        | ClientMessage::Direct { client_id, .. }
        | ClientMessage::Edit { client_id, .. }
        | ClientMessage::Delete { client_id, .. } => Some(client_id.clone()),
        _ => None,
    }
}

async fn answer_to_probe(c: &mut Client, req: &ClientMessage) -> Vec<ServerMessage> {
    c.send(req).await;
    c.send(&ClientMessage::History {
        room: room(PROBE),
        before: None,
        after: None,
        limit: Some(1),
    })
    .await;
    let mut frames = Vec::new();
    loop {
        match c.recv().await {
            ServerMessage::History { room, .. } if room.as_str() == PROBE => return frames,
            m => frames.push(m),
        }
    }
}

/// The error among `frames`, if any.
pub fn error_of(frames: &[ServerMessage]) -> Option<ErrorCode> {
    frames.iter().find_map(|m| match m {
        ServerMessage::Error { code, .. } => Some(*code),
        _ => None,
    })
}

/// An owner's or admin's action; `Err(code)` when refused.
pub async fn moderate(
    c: &mut Client,
    room_s: Option<&str>,
    nick: &str,
    action: Action,
    for_secs: Option<u64>,
) -> Result<(), ErrorCode> {
    let req = ClientMessage::Moderate {
        room: room_s.map(room),
        nick: super::nick(nick),
        action,
        for_secs,
    };
    let frames = answer(c, &req).await;
    match error_of(&frames) {
        Some(code) => Err(code),
        None => {
            let done = frames
                .iter()
                .any(|m| matches!(m, ServerMessage::Moderated { action: a, .. } if *a == action));
            assert!(done, "no `moderated` for {action:?}: {frames:?}");
            Ok(())
        }
    }
}

/// Makes a room (invite-only or not) and joins it; panics if refused.
pub async fn create(c: &mut Client, room_s: &str, invite_only: bool) {
    let frames = answer(
        c,
        &ClientMessage::CreateRoom {
            room: room(room_s),
            invite_only,
        },
    )
    .await;
    assert!(
        frames
            .iter()
            .any(|m| matches!(m, ServerMessage::Joined { .. })),
        "create {room_s}: {frames:?}"
    );
}

/// Posts `t` to a room the client is in; the id it was stored under.
pub async fn post(c: &mut Client, room_s: &str, t: &str) -> u64 {
    let cid = c.say(room_s, t).await;
    match c
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
        .await
    {
        ServerMessage::Ack { id, client_id, .. } if client_id.as_str() == cid => id,
        other => panic!("post to {room_s}: {other:?}"),
    }
}

/// Edits (`Some(text)`) or deletes message `id` of `conv`; the ack's id, or the error.
pub async fn revise(
    c: &mut Client,
    conv: Conversation,
    id: u64,
    new_text: Option<&str>,
    client_id: &str,
) -> Result<u64, ErrorCode> {
    let req = match new_text {
        Some(t) => ClientMessage::Edit {
            conv,
            id,
            text: text(t),
            client_id: cid(client_id),
        },
        None => ClientMessage::Delete {
            conv,
            id,
            client_id: cid(client_id),
        },
    };
    c.send(&req).await;
    match c
        .recv_until(|m| matches!(m, ServerMessage::Ack { .. } | ServerMessage::Error { .. }))
        .await
    {
        ServerMessage::Ack { id, .. } => Ok(id),
        ServerMessage::Error { code, .. } => Err(code),
        _ => unreachable!(),
    }
}

pub fn in_room(r: &str) -> Conversation {
    Conversation::Room(room(r))
}

pub fn with(n: &str) -> Conversation {
    Conversation::Dm(super::nick(n))
}

/// A SQLite server on `dir` for conversation tests: `root` is an admin; registration and the
/// message rate are not what they test.
pub fn server(dir: &super::auth::DataDir) -> (super::Running, String) {
    super::run_binary(&[
        "--data-dir",
        dir.arg(),
        "--admin",
        "root",
        "--registration-rate",
        "0",
        "--rate-per-sec",
        "1000",
        "--rate-burst",
        "1000",
    ])
}

/// Every text frame that arrives within `d`.
pub async fn frames_within(c: &mut Client, d: std::time::Duration) -> Vec<String> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + d;
    while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, c.ws.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            out.push(t.to_string());
        }
    }
    out
}

/// The latest page of a room's history.
pub fn history(room_s: &str) -> ClientMessage {
    ClientMessage::History {
        room: room(room_s),
        before: None,
        after: None,
        limit: None,
    }
}

/// The latest page of the direct conversation with `other`.
pub fn dm_history(other: &str) -> ClientMessage {
    ClientMessage::DmHistory {
        with: super::nick(other),
        before: None,
        after: None,
        limit: None,
    }
}

/// The code a `join` of `room_s` is refused with (`None`: joined).
pub async fn join_refusal(c: &mut Client, room_s: &str) -> Option<ErrorCode> {
    match c.join(room_s, None).await {
        ServerMessage::Error { code, .. } => Some(code),
        _ => None,
    }
}

/// Says `hello` with `auth` and returns the client with `welcome`'s conversations.
pub async fn welcomed_with(url: &str, nick: Option<&str>, auth: Auth) -> (Client, Vec<ReadState>) {
    match super::auth::try_hello(url, nick, Some(auth)).await {
        (c, ServerMessage::Welcome { conversations, .. }) => (c, conversations),
        (_, other) => panic!("expected welcome, got {other:?}"),
    }
}

/// The next `read` event `c` gets.
pub async fn next_read(c: &mut Client) -> ReadState {
    match c.recv_until(|m| matches!(m, ServerMessage::Read(_))).await {
        ServerMessage::Read(s) => s,
        _ => unreachable!(),
    }
}
