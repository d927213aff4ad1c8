//! Who may do what in an invite-only room, as one table against the real binary: every
//! request kind, asked by a member, a non-member, a banned member, a muted member, a guest,
//! the owner and an admin, gets the answer (or the error code) its row names. Run on the
//! SQLite store and on the memory store.

mod common;

use common::auth::{chat_url, register, DataDir};
use common::conv::{answer, cid, create, error_of, moderate, post};
use common::{nick, room, run_binary, text, Client};
use shared::{Action, ClientMessage, Conversation, ServerMessage};

const PW: &str = "correct horse 1";
const ROOM: &str = "priv";

/// The roles, in the order of each row's answers.
const ROLES: [&str; 7] = [
    "member",
    "nonmember",
    "banned",
    "muted",
    "guest",
    "owner",
    "admin",
];
/// Who plays each role.
const NAMES: [&str; 7] = ["mia", "nora", "bert", "muti", "gus", "olive", "root"];

/// What a request gets: a success (by the kind of its answer) or an error's wire code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok(&'static str),
    Err(&'static str),
}
use Want::{Err as E, Ok as O};

/// One request kind: how to ask it for the role at `i` (with the ids the setup made), and
/// what each role gets.
struct Row {
    name: &'static str,
    ask: fn(i: usize, ids: &[u64]) -> ClientMessage,
    want: [Want; 7],
}

/// The table. (One row per line: `rustfmt` would make it a column.)
#[rustfmt::skip]
fn rows() -> Vec<Row> {
    vec![
        Row { name: "join", ask: |_, _| ClientMessage::Join { room: room(ROOM), after: None }, want: reads("joined") },
        Row { name: "join (resume)", ask: |_, ids| ClientMessage::Join { room: room(ROOM), after: Some(ids[0] - 1) }, want: reads("joined") },
        Row { name: "history", ask: |_, _| ClientMessage::History { room: room(ROOM), before: None, after: None, limit: None }, want: reads("history") },
        Row {
            name: "list_rooms",
            ask: |_, _| ClientMessage::ListRooms { after: None },
            want: [O("listed"), O("unlisted"), O("unlisted"), O("listed"), O("unlisted"), O("listed"), O("listed")],
        },
        Row {
            name: "send",
            ask: |i, _| ClientMessage::Send { room: room(ROOM), text: text("hello"), client_id: cid(&format!("s{i}")) },
            want: [O("ack"), E("not_in_room"), E("not_in_room"), E("muted"), E("not_in_room"), O("ack"), O("ack")],
        },
        Row {
            name: "typing",
            ask: |_, _| ClientMessage::Typing { room: room(ROOM) },
            want: [O("quiet"), E("not_in_room"), E("not_in_room"), E("muted"), E("not_in_room"), O("quiet"), O("quiet")],
        },
        Row {
            name: "delete another's message",
            ask: |i, ids| ClientMessage::Delete { conv: Conversation::Room(room(ROOM)), id: ids[i], client_id: cid(&format!("d{i}")) },
            want: [E("not_allowed"), E("not_in_room"), E("not_in_room"), E("not_allowed"), E("not_signed_in"), O("ack"), O("ack")],
        },
        Row {
            name: "edit another's message",
            ask: |i, ids| ClientMessage::Edit { conv: Conversation::Room(room(ROOM)), id: ids[7], text: text("mine now"), client_id: cid(&format!("e{i}")) },
            want: [E("not_allowed"), E("not_in_room"), E("not_in_room"), E("not_allowed"), E("not_signed_in"), O("ack"), E("not_allowed")],
        },
        Row {
            name: "mark_read",
            ask: |_, ids| ClientMessage::MarkRead { conv: Conversation::Room(room(ROOM)), id: ids[0] },
            want: [O("read"), E("not_in_room"), E("not_in_room"), O("read"), E("not_signed_in"), O("read"), O("read")],
        },
        Row { name: "kick", ask: |_, _| moderation(Action::Kick, "kim"), want: moderators() },
        Row { name: "invite", ask: |i, _| moderation(Action::Invite, &format!("ivy{i}")), want: moderators() },
        Row { name: "mute", ask: |_, _| moderation(Action::Mute, "kim"), want: moderators() },
        Row {
            name: "disable an account (server-wide)",
            ask: |i, _| ClientMessage::Moderate { room: None, nick: nick(&format!("ivy{i}")), action: Action::Disable, for_secs: None },
            want: [E("not_allowed"), E("not_allowed"), E("not_allowed"), E("not_allowed"), E("not_signed_in"), E("not_allowed"), O("moderated")],
        },
        Row {
            name: "create_room",
            ask: |i, _| ClientMessage::CreateRoom { room: room(&format!("new{i}")), invite_only: false },
            want: [O("joined"), O("joined"), O("joined"), O("joined"), E("guests_cannot_create_rooms"), O("joined"), O("joined")],
        },
        Row {
            name: "create_room (taken)",
            ask: |_, _| ClientMessage::CreateRoom { room: room(ROOM), invite_only: false },
            want: [E("room_exists"), E("not_invited"), E("banned"), E("room_exists"), E("not_invited"), E("room_exists"), E("room_exists")],
        },
        // Last: once the admin has banned the owner, the owner is out too.
        Row {
            name: "ban the owner",
            ask: |_, _| moderation(Action::Ban, "olive"),
            want: [E("not_allowed"), E("not_allowed"), E("not_allowed"), E("not_allowed"), E("not_signed_in"), E("not_allowed"), O("moderated")],
        },
    ]
}

/// A read of the room: the members, the muted one, the owner and the admin get `ok`; the
/// others are refused.
fn reads(ok: &'static str) -> [Want; 7] {
    [
        O(ok),
        E("not_invited"),
        E("banned"),
        O(ok),
        E("not_invited"),
        O(ok),
        O(ok),
    ]
}

/// An owner's action: the owner and the admin may; a guest is told to sign in.
fn moderators() -> [Want; 7] {
    let no = E("not_allowed");
    [
        no,
        no,
        no,
        no,
        E("not_signed_in"),
        O("moderated"),
        O("moderated"),
    ]
}

fn moderation(action: Action, target: &str) -> ClientMessage {
    ClientMessage::Moderate {
        room: Some(room(ROOM)),
        nick: nick(target),
        action,
        for_secs: None,
    }
}

/// What `frames` (the answer to one request by `me`) amount to, in the terms of a row whose
/// success is `kind`: its error, or the frame of that kind that answers it.
fn got(kind: &str, me: &str, frames: &[ServerMessage]) -> Want {
    if let Some(code) = error_of(frames) {
        let wire = serde_json::to_string(&code).expect("code");
        return E(Box::leak(
            wire.trim_matches('"').to_string().into_boxed_str(),
        ));
    }
    let answered = frames.iter().find_map(|m| match (kind, m) {
        ("joined", ServerMessage::Joined { .. }) => Some("joined"),
        ("history", ServerMessage::History { .. }) => Some("history"),
        ("ack", ServerMessage::Ack { .. }) => Some("ack"),
        ("read", ServerMessage::Read(_)) => Some("read"),
        ("moderated", ServerMessage::Moderated { by, .. }) if by.as_str() == me => {
            Some("moderated")
        }
        ("listed" | "unlisted", ServerMessage::Rooms { rooms, .. }) => {
            let listed = rooms.iter().any(|r| r.name.as_str() == ROOM);
            Some(if listed { "listed" } else { "unlisted" })
        }
        _ => None,
    });
    O(answered.unwrap_or("quiet"))
}

/// The table on a server started with `args`.
async fn table(args: &[&str]) {
    // Each client asks dozens of things at once: the message rate is not what this tests.
    let mut all = vec![
        "--admin",
        "root",
        "--guests-create-rooms",
        "false",
        "--registration-rate",
        "0",
        "--rate-per-sec",
        "1000",
        "--rate-burst",
        "1000",
    ];
    all.extend_from_slice(args);
    let (_server, addr) = run_binary(&all);
    let url = chat_url(&addr);
    let mut owner = register(&url, "olive", PW).await.0;
    create(&mut owner, ROOM, true).await;
    let mut clients = Vec::new();
    for (role, name) in ROLES.iter().zip(NAMES) {
        let c = match *role {
            "owner" => None,
            "guest" => {
                let mut c = Client::open(&url).await;
                c.hello(name).await;
                Some(c)
            }
            _ => Some(register(&url, name, PW).await.0),
        };
        clients.push(c);
    }
    let _kim = register(&url, "kim", PW).await;
    for i in 0..7 {
        let _ivy = register(&url, &format!("ivy{i}"), PW).await;
    }
    for who in ["mia", "bert", "muti", "kim"] {
        moderate(&mut owner, Some(ROOM), who, Action::Invite, None)
            .await
            .expect("invite");
    }
    moderate(&mut owner, Some(ROOM), "bert", Action::Ban, None)
        .await
        .expect("ban");
    moderate(&mut owner, Some(ROOM), "muti", Action::Mute, Some(3600))
        .await
        .expect("mute");
    // One message of the owner's per role to delete, and one to edit.
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(post(&mut owner, ROOM, &format!("owner's message {i}")).await);
    }
    // The owner's own connection is the one that is in the room already.
    clients[5] = Some(owner);
    let mut failures = Vec::new();
    for row in rows() {
        for (i, c) in clients.iter_mut().enumerate() {
            let c = c.as_mut().expect("client");
            let frames = answer(c, &(row.ask)(i, &ids)).await;
            let kind = row.want.iter().find_map(|w| match w {
                O(k) => Some(*k),
                E(_) => None,
            });
            let got = got(kind.unwrap_or("quiet"), NAMES[i], &frames);
            if got != row.want[i] {
                failures.push(format!(
                    "{} by {}: want {:?}, got {:?} ({frames:?})",
                    row.name, ROLES[i], row.want[i], got
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_by_every_role_sqlite() {
    let dir = DataDir::new("conv-table");
    table(&["--data-dir", dir.arg()]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_by_every_role_memory() {
    table(&["--store", "memory"]).await;
}
