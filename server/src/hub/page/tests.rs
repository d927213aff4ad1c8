use super::*;
use shared::{MessageText, Nickname};

fn stored(id: u64, bytes: usize) -> StoredMessage {
    StoredMessage {
        channel: "general".into(),
        id,
        sender: Nickname::new("ann").expect("nick"),
        text: MessageText::new("x".repeat(bytes)).expect("text"),
        ts: 0,
        client_id: None,
        author: None,
        meta: Default::default(),
    }
}

fn page(n: u64, bytes: usize, has_more: bool) -> Page {
    Page {
        messages: (1..=n).map(|id| stored(id, bytes)).collect(),
        has_more,
    }
}

fn ids(m: &[ChatMessage]) -> Vec<u64> {
    m.iter().map(|m| m.id).collect()
}

#[test]
fn a_page_within_budget_is_whole() {
    let (msgs, more) = fit(page(5, 100, false), 10_000, Keep::Newest);
    assert_eq!(ids(&msgs), [1, 2, 3, 4, 5]);
    assert!(!more);
    let (_, more) = fit(page(5, 100, true), 10_000, Keep::Oldest);
    assert!(more, "the store's has_more is kept");
}

#[test]
fn a_page_over_budget_is_cut_at_the_end_it_does_not_keep() {
    let one = json_len(&fit(page(1, 1000, false), usize::MAX, Keep::Oldest).0[0]);
    let budget = one * 3 + one / 2;
    let (msgs, more) = fit(page(10, 1000, false), budget, Keep::Newest);
    assert_eq!(ids(&msgs), [8, 9, 10]);
    assert!(more);
    let (msgs, more) = fit(page(10, 1000, false), budget, Keep::Oldest);
    assert_eq!(ids(&msgs), [1, 2, 3]);
    assert!(more);
    let json = serde_json::to_string(&msgs).expect("json");
    assert!(json.len() <= budget, "{} > {budget}", json.len());
}

#[test]
fn a_page_always_moves_on() {
    let (msgs, more) = fit(page(3, 4000, false), 10, Keep::Oldest);
    assert_eq!(ids(&msgs), [1]);
    assert!(more);
    let (msgs, more) = fit(page(0, 1, false), 10, Keep::Oldest);
    assert!(msgs.is_empty() && !more);
}

#[test]
fn the_budget_is_under_the_outbound_bound() {
    assert_eq!(budget(1024 * 1024), 256 * 1024 - ENVELOPE);
    assert_eq!(budget(64 * 1024), 32 * 1024 - ENVELOPE);
}
