//! Pages that fit the server's budget: a catch-up after a reconnect pages forward up to a cap,
//! then shows the latest page below a gap marker; the room listing comes in pages.

use crate::helpers::*;
use client_wasm::state::Action;
use client_wasm::state::*;
use shared::*;

fn history_json(ids: std::ops::RangeInclusive<u64>, has_more: bool) -> String {
    ServerMessage::History {
        room: room("general"),
        messages: ids
            .map(|id| ChatMessage {
                id,
                room: room("general"),
                sender: nick("bob"),
                text: MessageText::new(format!("m{id}")).expect("text"),
                ts: T0 + id as i64,
                guest: false,
                target: None,
                edited: false,
                deleted: false,
                mentions: Vec::new(),
            })
            .collect(),
        has_more,
    }
    .to_json()
}

fn asked_after(fx: &[Effect]) -> Option<Option<u64>> {
    sent(fx).into_iter().find_map(|m| match m {
        ClientMessage::History { before, after, .. } => {
            assert_eq!(before, None);
            Some(after)
        }
        _ => None,
    })
}

#[test]
fn a_long_catch_up_stops_at_the_cap_and_marks_the_gap() {
    let mut s = reconnected("carol");
    let fx = s.apply(
        Action::Received(joined_json("general", &["carol"], &[], true)),
        T0,
    );
    // An empty page with has_more would loop; it asks from where it is.
    assert_eq!(asked_after(&fx), Some(Some(2)));
    let mut next = 3u64;
    let mut pages = 0;
    loop {
        let fx = s.apply(Action::Received(history_json(next..=next + 249, true)), T0);
        next += 250;
        pages += 1;
        match asked_after(&fx) {
            Some(Some(after)) => assert_eq!(after, next - 1, "page {pages}"),
            Some(None) => break,
            None => panic!("the catch-up stopped without asking for the latest page"),
        }
        assert!(pages < 100, "the catch-up never stops");
    }
    assert_eq!(pages as usize * 250, RESUME_CAP, "it stops at the cap");
    let general = &s.rooms["general"];
    assert_eq!(general.paging, Paging::Latest);
    assert!(general.messages.is_empty(), "what was held is dropped");
    assert_eq!(
        general.gap_after,
        Some(2),
        "the gap starts after what was seen"
    );
    // The latest page shows below the marker, with older pages to load.
    let fx = s.apply(Action::Received(history_json(9_951..=10_000, true)), T0);
    assert!(sent(&fx).is_empty());
    let general = &s.rooms["general"];
    assert_eq!(
        room_ids(&s, "general"),
        (9_951..=10_000).collect::<Vec<_>>()
    );
    assert_eq!(general.paging, Paging::Idle);
    assert!(general.has_older && general.gap_after.is_some());
    // Loading older keeps the marker until a page reaches what was seen.
    let fx = s.apply(Action::LoadOlder, T0);
    assert!(matches!(
        sent(&fx)[..],
        [ClientMessage::History {
            before: Some(9_951),
            ..
        }]
    ));
    s.apply(Action::Received(history_json(9_901..=9_950, true)), T0);
    assert!(s.rooms["general"].gap_after.is_some());
    s.apply(Action::LoadOlder, T0);
    s.apply(Action::Received(history_json(1..=2, false)), T0);
    assert_eq!(s.rooms["general"].gap_after, None);
}

#[test]
fn a_short_catch_up_has_no_gap() {
    let mut s = reconnected("carol");
    s.apply(
        Action::Received(joined_json("general", &["carol"], &[], true)),
        T0,
    );
    let fx = s.apply(Action::Received(history_json(3..=300, false)), T0);
    assert_eq!(asked_after(&fx), None);
    let general = &s.rooms["general"];
    assert_eq!(general.paging, Paging::Idle);
    assert_eq!(general.gap_after, None);
    assert_eq!(general.messages.len(), 300);
}

fn rooms_json(names: &[&str], has_more: bool, after: Option<&str>) -> String {
    ServerMessage::Rooms {
        rooms: names
            .iter()
            .map(|n| RoomInfo {
                name: room(n),
                members: 1,
            })
            .collect(),
        has_more,
        after: after.map(room),
    }
    .to_json()
}

fn directory(s: &ChatState) -> Vec<String> {
    s.directory.iter().map(|r| r.name.to_string()).collect()
}

#[test]
fn the_room_listing_is_fetched_page_by_page() {
    let mut s = online("carol");
    let fx = s.apply(Action::Received(rooms_json(&["a", "b"], true, None)), T0);
    assert_eq!(
        sent(&fx),
        vec![ClientMessage::ListRooms {
            after: Some(room("b"))
        }]
    );
    // A page answering something else (an older listing's) is dropped.
    let fx = s.apply(Action::Received(rooms_json(&["x"], false, Some("q"))), T0);
    assert!(sent(&fx).is_empty());
    let fx = s.apply(Action::Received(rooms_json(&["c"], false, Some("b"))), T0);
    assert!(sent(&fx).is_empty());
    assert_eq!(directory(&s), ["a", "b", "c"]);
    // A new first page replaces the listing.
    s.apply(Action::Received(rooms_json(&["d"], false, None)), T0);
    assert_eq!(directory(&s), ["d"]);
}

#[test]
fn the_room_listing_stops_at_its_cap() {
    let mut s = online("carol");
    let names: Vec<String> = (0..MAX_DIRECTORY + 10)
        .map(|i| format!("r{i:05}"))
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let fx = s.apply(Action::Received(rooms_json(&refs, true, None)), T0);
    assert!(sent(&fx).is_empty(), "a full directory asks for no more");
    assert_eq!(s.directory.len(), MAX_DIRECTORY);
}
