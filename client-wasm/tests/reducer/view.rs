//! What the message list shows: lines grouped by sender and time.

use client_wasm::state::*;

#[test]
fn groups_by_sender_and_time() {
    let line = |id: u64, ts: i64| Line {
        key: id.to_string(),
        text: format!("m{id}"),
        ts,
        status: LineStatus::Delivered,
        flags: LineFlags::default(),
    };
    let groups = group_lines(
        vec![
            ("bob".into(), line(1, 0)),
            ("bob".into(), line(2, 1000)),
            ("amy".into(), line(3, 2000)),
            ("amy".into(), line(4, 2000 + GROUP_GAP_MS)),
            ("bob".into(), line(5, 3000 + GROUP_GAP_MS)),
        ],
        "amy",
        utc_day,
        None,
    );
    let shape: Vec<(&str, usize, bool)> = groups
        .iter()
        .map(|g| (g.sender.as_str(), g.lines.len(), g.mine))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("bob", 2, false),
            ("amy", 1, true),
            ("amy", 1, true),
            ("bob", 1, false)
        ]
    );
}
