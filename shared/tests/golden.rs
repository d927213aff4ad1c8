//! Golden fixtures: the exact bytes on the wire for every message kind, both directions.
//! `UPDATE_GOLDEN=1 cargo test -p shared` rewrites them; review the diff before committing.

use shared::*;
use std::path::PathBuf;

fn nick(s: &str) -> Nickname {
    Nickname::new(s).expect("valid nickname")
}
fn room(s: &str) -> RoomName {
    RoomName::new(s).expect("valid room")
}
fn text(s: &str) -> MessageText {
    MessageText::new(s).expect("valid text")
}
fn cid(s: &str) -> ClientMsgId {
    ClientMsgId::new(s).expect("valid client id")
}

fn msg() -> ChatMessage {
    ChatMessage {
        id: 42,
        room: room("general"),
        sender: nick("alice"),
        text: text("hello <b>world</b> \"quoted\" é"),
        ts: 1_764_000_000_123,
    }
}

fn client_cases() -> Vec<(&'static str, ClientMessage)> {
    vec![
        (
            "client_hello",
            ClientMessage::Hello {
                nick: nick("alice"),
                protocol: 1,
                resume_token: None,
            },
        ),
        (
            "client_hello_resume",
            ClientMessage::Hello {
                nick: nick("alice"),
                protocol: 1,
                resume_token: Some("3f2a9c".into()),
            },
        ),
        (
            "client_join",
            ClientMessage::Join {
                room: room("general"),
                after: None,
            },
        ),
        (
            "client_join_after",
            ClientMessage::Join {
                room: room("general"),
                after: Some(41),
            },
        ),
        ("client_leave", ClientMessage::Leave { room: room("rust") }),
        ("client_list_rooms", ClientMessage::ListRooms),
        (
            "client_send",
            ClientMessage::Send {
                room: room("general"),
                text: text("hi all"),
                client_id: cid("c-1"),
            },
        ),
        (
            "client_direct",
            ClientMessage::Direct {
                to: nick("bob"),
                text: text("psst"),
                client_id: cid("c-2"),
            },
        ),
        (
            "client_typing",
            ClientMessage::Typing {
                room: room("general"),
            },
        ),
        (
            "client_history",
            ClientMessage::History {
                room: room("general"),
                before: Some(42),
                after: None,
                limit: Some(50),
            },
        ),
    ]
}

fn server_cases() -> Vec<(&'static str, ServerMessage)> {
    vec![
        (
            "server_welcome",
            ServerMessage::Welcome {
                nick: nick("alice"),
                protocol: 1,
                default_room: room("general"),
                resume_token: "3f2a9c".into(),
                epoch: "9b1e07c2".into(),
                limits: Limits {
                    max_message_bytes: 16384,
                    max_text_bytes: 4000,
                    history_page: 50,
                    rate_per_sec: 10,
                    rate_burst: 20,
                },
            },
        ),
        (
            "server_joined",
            ServerMessage::Joined {
                room: room("general"),
                members: vec![nick("alice"), nick("bob")],
                history: vec![msg()],
                has_more: true,
            },
        ),
        ("server_left", ServerMessage::Left { room: room("rust") }),
        (
            "server_rooms",
            ServerMessage::Rooms {
                rooms: vec![RoomInfo {
                    name: room("general"),
                    members: 2,
                }],
            },
        ),
        ("server_message", ServerMessage::Message(msg())),
        (
            "server_direct",
            ServerMessage::Direct(DirectMessage {
                id: 7,
                from: nick("alice"),
                to: nick("bob"),
                text: text("psst"),
                ts: 1_764_000_000_456,
            }),
        ),
        (
            "server_ack",
            ServerMessage::Ack {
                client_id: cid("c-1"),
                id: 42,
                ts: 1_764_000_000_123,
                duplicate: false,
            },
        ),
        (
            "server_presence",
            ServerMessage::Presence {
                room: room("general"),
                nick: nick("bob"),
                state: PresenceState::Joined,
            },
        ),
        (
            "server_typing",
            ServerMessage::Typing {
                room: room("general"),
                nick: nick("bob"),
                expires_in_ms: 5000,
            },
        ),
        (
            "server_history",
            ServerMessage::History {
                room: room("general"),
                messages: vec![msg()],
                has_more: false,
            },
        ),
        (
            "server_error",
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                client_id: Some(cid("c-9")),
            },
        ),
    ]
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"))
}

fn check(name: &str, encoded: String) -> String {
    let path = fixture(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{encoded}\n")).expect("write fixture");
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let golden = golden.trim_end_matches('\n').to_string();
    assert_eq!(
        encoded, golden,
        "{name}: encoding differs from the golden bytes"
    );
    golden
}

#[test]
fn client_messages_match_golden_bytes_and_round_trip() {
    for (name, value) in client_cases() {
        let golden = check(name, value.to_json());
        assert_eq!(decode_client(&golden), Ok(value), "{name}");
    }
}

#[test]
fn server_messages_match_golden_bytes_and_round_trip() {
    for (name, value) in server_cases() {
        let golden = check(name, value.to_json());
        let back: ServerMessage = serde_json::from_str(&golden).expect(name);
        assert_eq!(back, value, "{name}");
    }
}

#[test]
fn legacy_frame_is_the_demos() {
    let m = LegacyMessage {
        sender: "alice".into(),
        msg: "hi \"you\"".into(),
    };
    check("legacy_message", m.to_json());
}

#[test]
fn every_message_kind_has_a_fixture() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let count = std::fs::read_dir(dir).expect("fixtures dir").count();
    assert_eq!(count, client_cases().len() + server_cases().len() + 1);
}

#[test]
fn rejections() {
    let cases: &[(&str, ErrorCode)] = &[
        ("", ErrorCode::BadJson),
        ("nope", ErrorCode::BadJson),
        ("{\"type\":\"send\"", ErrorCode::BadJson),
        ("null", ErrorCode::BadJson),
        ("{\"kind\":\"send\"}", ErrorCode::UnknownType),
        ("{\"type\":7}", ErrorCode::UnknownType),
        ("{\"type\":\"SEND\"}", ErrorCode::UnknownType),
        (
            r#"{"type":"send","room":"general","text":"x"}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"send","room":"general","text":"","client_id":"a"}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"send","room":"no spaces","text":"x","client_id":"a"}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"send","room":"general","text":"x","client_id":"a b"}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"join","room":"general","after":-1}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"join","room":"general","extra":1}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"hello","nick":"","protocol":1}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"hello","nick":"bob","protocol":"1"}"#,
            ErrorCode::InvalidMessage,
        ),
    ];
    for (input, code) in cases {
        let err = decode_client(input).expect_err(input);
        assert_eq!(err.code, *code, "{input}: {}", err.message);
        assert!(!err.message.is_empty());
    }
    let long = format!(
        r#"{{"type":"send","room":"general","text":"{}","client_id":"a"}}"#,
        "x".repeat(4001)
    );
    assert_eq!(
        decode_client(&long).expect_err("too long").code,
        ErrorCode::InvalidMessage
    );
}
