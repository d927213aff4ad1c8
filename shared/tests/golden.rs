//! Golden fixtures: the exact bytes on the wire for every message kind, both directions.
//! `UPDATE_GOLDEN=1 cargo test -p shared` rewrites them; review the diff before committing.

use shared::*;
use std::collections::BTreeSet;
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
        guest: false,
        target: None,
        edited: false,
        deleted: false,
        mentions: vec![],
    }
}

fn pw(s: &str) -> Password {
    Password::new(s).expect("valid password")
}

fn limits() -> Limits {
    Limits {
        max_message_bytes: 16384,
        max_text_bytes: 4000,
        history_page: 50,
        rate_per_sec: 10,
        rate_burst: 20,
    }
}

fn client_cases() -> Vec<(&'static str, ClientMessage)> {
    vec![
        (
            "client_hello",
            ClientMessage::Hello {
                nick: Some(nick("alice")),
                protocol: 1,
                resume_token: None,
                auth: None,
            },
        ),
        (
            "client_hello_resume",
            ClientMessage::Hello {
                nick: Some(nick("alice")),
                protocol: 1,
                resume_token: Some("3f2a9c".into()),
                auth: None,
            },
        ),
        (
            "client_hello_password",
            ClientMessage::Hello {
                nick: Some(nick("alice")),
                protocol: 1,
                resume_token: None,
                auth: Some(Auth::Password {
                    password: pw("correct horse"),
                }),
            },
        ),
        (
            "client_hello_register",
            ClientMessage::Hello {
                nick: Some(nick("alice")),
                protocol: 1,
                resume_token: None,
                auth: Some(Auth::Register {
                    password: pw("correct horse"),
                }),
            },
        ),
        (
            "client_hello_session",
            ClientMessage::Hello {
                nick: None,
                protocol: 1,
                resume_token: None,
                auth: Some(Auth::Session {
                    token: "s.7Hq2xZ".into(),
                }),
            },
        ),
        (
            "client_hello_jwt",
            ClientMessage::Hello {
                nick: None,
                protocol: 1,
                resume_token: None,
                auth: Some(Auth::Jwt {
                    token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiIsIm5hbWUiOiJhbGljZSJ9.c2ln".into(),
                }),
            },
        ),
        (
            "client_sign_out",
            ClientMessage::SignOut { everywhere: true },
        ),
        (
            "client_change_password",
            ClientMessage::ChangePassword {
                old: pw("correct horse"),
                new: pw("battery staple"),
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
        (
            "client_list_rooms",
            ClientMessage::ListRooms { after: None },
        ),
        (
            "client_list_rooms_after",
            ClientMessage::ListRooms {
                after: Some(room("general")),
            },
        ),
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
        (
            "client_dm_history",
            ClientMessage::DmHistory {
                with: nick("bob"),
                before: None,
                after: Some(7),
                limit: None,
            },
        ),
        (
            "client_create_room",
            ClientMessage::CreateRoom {
                room: room("ops"),
                invite_only: true,
            },
        ),
        (
            "client_moderate",
            ClientMessage::Moderate {
                room: Some(room("ops")),
                nick: nick("mallory"),
                action: Action::Ban,
                for_secs: Some(3600),
            },
        ),
        (
            "client_moderate_server_wide",
            ClientMessage::Moderate {
                room: None,
                nick: nick("mallory"),
                action: Action::Disable,
                for_secs: None,
            },
        ),
        (
            "client_edit",
            ClientMessage::Edit {
                conv: Conversation::Room(room("general")),
                id: 42,
                text: text("hello, world"),
                client_id: cid("c-3"),
            },
        ),
        (
            "client_delete",
            ClientMessage::Delete {
                conv: Conversation::Dm(nick("bob")),
                id: 7,
                client_id: cid("c-4"),
            },
        ),
        (
            "client_mark_read",
            ClientMessage::MarkRead {
                conv: Conversation::Room(room("general")),
                id: 42,
            },
        ),
        (
            "client_set_muted",
            ClientMessage::SetMuted {
                conv: Conversation::Dm(nick("bob")),
                muted: true,
            },
        ),
        ("client_conversations", ClientMessage::Conversations {}),
    ]
}

fn read_state() -> ReadState {
    ReadState {
        conv: Conversation::Dm(nick("bob")),
        last_read: 5,
        unread: 2,
        mentions: 1,
        first_unread: Some(6),
        muted: true,
    }
}

fn server_cases() -> Vec<(&'static str, ServerMessage)> {
    vec![
        (
            "server_welcome",
            ServerMessage::Welcome {
                nick: nick("alice"),
                guest: false,
                session: None,
                protocol: 1,
                default_room: room("general"),
                resume_token: "3f2a9c".into(),
                epoch: "9b1e07c2".into(),
                limits: limits(),
                admin: false,
                conversations: vec![],
            },
        ),
        (
            "server_welcome_member",
            ServerMessage::Welcome {
                nick: nick("alice"),
                guest: false,
                session: Some("s.7Hq2xZ".into()),
                protocol: 1,
                default_room: room("general"),
                resume_token: "3f2a9c".into(),
                epoch: "9b1e07c2".into(),
                limits: limits(),
                admin: false,
                conversations: vec![],
            },
        ),
        (
            "server_password_changed",
            ServerMessage::PasswordChanged {
                session: "s.9Kd4wY".into(),
            },
        ),
        (
            "server_joined",
            ServerMessage::Joined {
                room: room("general"),
                members: vec![nick("alice"), nick("bob")],
                guests: vec![],
                history: vec![msg()],
                has_more: true,
                invite_only: false,
                owner: None,
                muted_until: None,
                read: None,
            },
        ),
        (
            "server_joined_guests",
            ServerMessage::Joined {
                room: room("general"),
                members: vec![nick("alice"), nick("carol")],
                guests: vec![nick("carol")],
                history: vec![ChatMessage {
                    sender: nick("carol"),
                    guest: true,
                    ..msg()
                }],
                has_more: false,
                invite_only: false,
                owner: None,
                muted_until: None,
                read: None,
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
                has_more: true,
                after: None,
            },
        ),
        (
            "server_rooms_after",
            ServerMessage::Rooms {
                rooms: vec![],
                has_more: false,
                after: Some(room("general")),
            },
        ),
        ("server_message", ServerMessage::Message(msg())),
        (
            "server_message_guest",
            ServerMessage::Message(ChatMessage {
                sender: nick("carol"),
                guest: true,
                ..msg()
            }),
        ),
        (
            "server_direct",
            ServerMessage::Direct(DirectMessage {
                id: 7,
                from: nick("alice"),
                to: nick("bob"),
                text: text("psst"),
                ts: 1_764_000_000_456,
                guest: false,
                target: None,
                edited: false,
                deleted: false,
                mentions: vec![],
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
                guest: false,
            },
        ),
        (
            "server_presence_guest",
            ServerMessage::Presence {
                room: room("general"),
                nick: nick("carol"),
                state: PresenceState::Joined,
                guest: true,
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
            "server_message_edit",
            ServerMessage::Message(ChatMessage {
                id: 43,
                text: text("hello, world"),
                target: Some(42),
                edited: true,
                ..msg()
            }),
        ),
        (
            "server_message_delete",
            ServerMessage::Message(ChatMessage {
                id: 44,
                text: MessageText::tombstone(),
                target: Some(42),
                deleted: true,
                ..msg()
            }),
        ),
        (
            "server_message_mention",
            ServerMessage::Message(ChatMessage {
                text: text("@Bob look"),
                mentions: vec![nick("Bob")],
                ..msg()
            }),
        ),
        (
            "server_welcome_conversations",
            ServerMessage::Welcome {
                nick: nick("alice"),
                guest: false,
                session: None,
                protocol: 1,
                default_room: room("general"),
                resume_token: String::new(),
                epoch: "9b1e07c2".into(),
                limits: limits(),
                admin: true,
                conversations: vec![read_state()],
            },
        ),
        (
            "server_joined_private",
            ServerMessage::Joined {
                room: room("ops"),
                members: vec![nick("alice")],
                guests: vec![],
                history: vec![],
                has_more: false,
                invite_only: true,
                owner: Some(nick("alice")),
                muted_until: Some(1_764_000_360_000),
                read: Some(ReadState {
                    conv: Conversation::Room(room("ops")),
                    last_read: 0,
                    unread: 0,
                    mentions: 0,
                    first_unread: None,
                    muted: false,
                }),
            },
        ),
        (
            "server_dm_history",
            ServerMessage::DmHistory {
                with: nick("bob"),
                messages: vec![],
                has_more: false,
            },
        ),
        (
            "server_moderated",
            ServerMessage::Moderated {
                room: Some(room("ops")),
                nick: nick("mallory"),
                action: Action::Mute,
                by: nick("alice"),
                until: Some(1_764_000_360_000),
            },
        ),
        ("server_read", ServerMessage::Read(read_state())),
        (
            "server_conversations",
            ServerMessage::Conversations {
                conversations: vec![read_state()],
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
fn demo_frame_is_the_demos() {
    let m: DemoMessage = DemoMessage {
        sender: "alice".into(),
        msg: "hi \"you\"".into(),
    };
    check("demo_message", m.to_json());
}

/// Lists every variant of an enum with the name of its fixture (for messages) or its wire value,
/// as an exhaustive `match`: a variant added to the enum without a line here is a compile error
/// (E0004, "non-exhaustive patterns: `&ClientMessage::Foo` not covered") pointing at this list.
/// Also yields the list itself as a constant, so a test can check each name against the fixtures.
macro_rules! kinds {
    (fn $kind:ident(&$ty:ty) -> $all:ident { $($pat:pat => $name:literal,)+ }) => {
        fn $kind(value: &$ty) -> &'static str {
            match value {
                $($pat => $name,)+
            }
        }
        const $all: &[&str] = &[$($name),+];
    };
}

/// The same for enums of unit variants, listed with their wire values.
macro_rules! unit_kinds {
    (fn $kind:ident($ty:ident) -> $out:ty, $all:ident { $($variant:ident => $wire:expr,)+ }) => {
        fn $kind(value: $ty) -> $out {
            match value {
                $($ty::$variant => $wire,)+
            }
        }
        const $all: &[$ty] = &[$($ty::$variant),+];
    };
}

// Each message kind's fixture is the case of that name in `client_cases`/`server_cases` (and the
// file `tests/fixtures/<name>.json`); more cases of a kind are named `<name>_<something>`.
kinds! {
    fn client_kind(&ClientMessage) -> CLIENT_KINDS {
        ClientMessage::Hello { .. } => "client_hello",
        ClientMessage::SignOut { .. } => "client_sign_out",
        ClientMessage::ChangePassword { .. } => "client_change_password",
        ClientMessage::Join { .. } => "client_join",
        ClientMessage::Leave { .. } => "client_leave",
        ClientMessage::ListRooms { .. } => "client_list_rooms",
        ClientMessage::Send { .. } => "client_send",
        ClientMessage::Direct { .. } => "client_direct",
        ClientMessage::Typing { .. } => "client_typing",
        ClientMessage::History { .. } => "client_history",
        ClientMessage::DmHistory { .. } => "client_dm_history",
        ClientMessage::CreateRoom { .. } => "client_create_room",
        ClientMessage::Moderate { .. } => "client_moderate",
        ClientMessage::Edit { .. } => "client_edit",
        ClientMessage::Delete { .. } => "client_delete",
        ClientMessage::MarkRead { .. } => "client_mark_read",
        ClientMessage::SetMuted { .. } => "client_set_muted",
        ClientMessage::Conversations { .. } => "client_conversations",
    }
}

kinds! {
    fn server_kind(&ServerMessage) -> SERVER_KINDS {
        ServerMessage::Welcome { .. } => "server_welcome",
        ServerMessage::Joined { .. } => "server_joined",
        ServerMessage::Left { .. } => "server_left",
        ServerMessage::Rooms { .. } => "server_rooms",
        ServerMessage::Message(_) => "server_message",
        ServerMessage::Direct(_) => "server_direct",
        ServerMessage::Ack { .. } => "server_ack",
        ServerMessage::Presence { .. } => "server_presence",
        ServerMessage::PasswordChanged { .. } => "server_password_changed",
        ServerMessage::Typing { .. } => "server_typing",
        ServerMessage::History { .. } => "server_history",
        ServerMessage::DmHistory { .. } => "server_dm_history",
        ServerMessage::Moderated { .. } => "server_moderated",
        ServerMessage::Read(_) => "server_read",
        ServerMessage::Conversations { .. } => "server_conversations",
        ServerMessage::Error { .. } => "server_error",
    }
}

// Values inside messages: their JSON strings are wire bytes too.
unit_kinds! {
    fn error_code_wire(ErrorCode) -> &'static str, ERROR_CODES {
        BadJson => "bad_json",
        UnknownType => "unknown_type",
        InvalidMessage => "invalid_message",
        UnsupportedProtocol => "unsupported_protocol",
        HelloRequired => "hello_required",
        AlreadyHello => "already_hello",
        NickTaken => "nick_taken",
        InvalidNick => "invalid_nick",
        NotInRoom => "not_in_room",
        UnknownUser => "unknown_user",
        TooManyRooms => "too_many_rooms",
        RateLimited => "rate_limited",
        StoreUnavailable => "store_unavailable",
        Internal => "internal",
        SignInFailed => "sign_in_failed",
        TooManyAttempts => "too_many_attempts",
        SessionExpired => "session_expired",
        InvalidToken => "invalid_token",
        RegistrationClosed => "registration_closed",
        WeakPassword => "weak_password",
        GuestsNotAllowed => "guests_not_allowed",
        NotSignedIn => "not_signed_in",
        NotAllowed => "not_allowed",
        NotInvited => "not_invited",
        Banned => "banned",
        Muted => "muted",
        NoSuchMessage => "no_such_message",
        RoomExists => "room_exists",
        GuestsCannotCreateRooms => "guests_cannot_create_rooms",
    }
}

unit_kinds! {
    fn presence_wire(PresenceState) -> &'static str, PRESENCE_STATES {
        Joined => "joined",
        Left => "left",
    }
}

// Close reasons travel in close frames: the code and the reason text.
unit_kinds! {
    fn close_wire(CloseReason) -> (u16, &'static str), CLOSE_REASONS {
        Normal => (1000, "normal"),
        GoingAway => (1001, "going_away"),
        ProtocolError => (1002, "protocol_error"),
        UnsupportedData => (1003, "unsupported_data"),
        InvalidPayload => (1007, "invalid_payload"),
        PolicyViolation => (1008, "rate_limited"),
        MessageTooBig => (1009, "message_too_big"),
        InternalError => (1011, "internal_error"),
        TryAgainLater => (1013, "try_again_later"),
        NickTaken => (4001, "nick_taken"),
        InvalidNick => (4002, "invalid_nick"),
        HandshakeTimeout => (4003, "handshake_timeout"),
        IdleTimeout => (4004, "idle_timeout"),
        Replaced => (4005, "replaced"),
        UnsupportedProtocol => (4006, "unsupported_protocol"),
        SlowConsumer => (4008, "slow_consumer"),
        AuthFailed => (4009, "auth_failed"),
        SignedOut => (4010, "signed_out"),
        GuestsNotAllowed => (4011, "guests_not_allowed"),
        TooManyAttempts => (4012, "too_many_attempts"),
        Banned => (4013, "banned"),
    }
}

unit_kinds! {
    fn action_wire(Action) -> &'static str, ACTIONS {
        Invite => "invite",
        Remove => "remove",
        Transfer => "transfer",
        Kick => "kick",
        Ban => "ban",
        Unban => "unban",
        Mute => "mute",
        Unmute => "unmute",
        Disable => "disable",
    }
}

fn read_fixture(name: &str) -> String {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("message kind `{name}` has no fixture {path:?}: {e}"));
    text.trim_end_matches('\n').to_string()
}

#[test]
fn every_message_kind_has_a_fixture() {
    let client = client_cases();
    let server = server_cases();
    // Every kind has a case of its own name, and its fixture decodes to that kind.
    for &kind in CLIENT_KINDS {
        assert!(
            client.iter().any(|(name, _)| *name == kind),
            "ClientMessage kind `{kind}` has no case named `{kind}` in client_cases()"
        );
        let decoded = decode_client(&read_fixture(kind)).expect(kind);
        assert_eq!(client_kind(&decoded), kind, "fixture {kind}.json");
    }
    for &kind in SERVER_KINDS {
        assert!(
            server.iter().any(|(name, _)| *name == kind),
            "ServerMessage kind `{kind}` has no case named `{kind}` in server_cases()"
        );
        let decoded: ServerMessage = serde_json::from_str(&read_fixture(kind)).expect(kind);
        assert_eq!(server_kind(&decoded), kind, "fixture {kind}.json");
    }
    // Every case is named after its kind (`client_hello_resume` is a `client_hello`).
    let named = |name: &str, kind: &str| name == kind || name.starts_with(&format!("{kind}_"));
    for (name, value) in &client {
        let kind = client_kind(value);
        assert!(named(name, kind), "case `{name}` holds a `{kind}`");
    }
    for (name, value) in &server {
        let kind = server_kind(value);
        assert!(named(name, kind), "case `{name}` holds a `{kind}`");
    }
    // The fixture files are exactly the cases: none missing, none left over.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .map(|entry| {
            let name = entry.expect("fixture entry").file_name();
            let name = name.to_str().expect("UTF-8 file name");
            name.strip_suffix(".json").unwrap_or(name).to_string()
        })
        .collect();
    let cases: BTreeSet<String> = client
        .iter()
        .map(|(name, _)| *name)
        .chain(server.iter().map(|(name, _)| *name))
        .chain(["demo_message"])
        .map(String::from)
        .collect();
    assert_eq!(files, cases, "tests/fixtures/*.json against the cases");
}

#[test]
fn every_error_code_and_presence_state_has_its_wire_string() {
    for &code in ERROR_CODES {
        let wire = error_code_wire(code);
        assert_eq!(
            serde_json::to_string(&code).expect("encode"),
            format!("\"{wire}\"")
        );
        let back: ErrorCode = serde_json::from_str(&format!("\"{wire}\"")).expect(wire);
        assert_eq!(back, code);
    }
    for &state in PRESENCE_STATES {
        let wire = presence_wire(state);
        assert_eq!(
            serde_json::to_string(&state).expect("encode"),
            format!("\"{wire}\"")
        );
        let back: PresenceState = serde_json::from_str(&format!("\"{wire}\"")).expect(wire);
        assert_eq!(back, state);
    }
}

#[test]
fn every_action_has_its_wire_string() {
    for &action in ACTIONS {
        let wire = action_wire(action);
        assert_eq!(action.as_str(), wire);
        assert_eq!(
            serde_json::to_string(&action).expect("encode"),
            format!("\"{wire}\"")
        );
    }
    assert_eq!(Action::ALL.len(), ACTIONS.len());
}

#[test]
fn every_close_reason_has_its_code_and_label() {
    for &reason in CLOSE_REASONS {
        let (code, label) = close_wire(reason);
        assert_eq!((reason.code(), reason.label()), (code, label), "{reason:?}");
        assert!(
            CloseReason::ALL.contains(&reason),
            "CloseReason::ALL lacks {reason:?}"
        );
    }
    assert_eq!(CloseReason::ALL.len(), CLOSE_REASONS.len());
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
