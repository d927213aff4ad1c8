use super::*;

fn key(s: &str, c: &str) -> (Nickname, ClientMsgId) {
    (
        Nickname::new(s).expect("nick"),
        ClientMsgId::new(c).expect("cid"),
    )
}

fn ack(id: u64) -> StoredAck {
    StoredAck { id, ts: 0 }
}

#[test]
fn window_forgets_oldest_and_keeps_first_ack() {
    let mut ids = ClientIds::new(3);
    for (i, c) in ["a", "b", "c", "d"].iter().enumerate() {
        let (s, c) = key("x", c);
        ids.insert(&s, None, &c, ack(i as u64 + 1));
    }
    assert_eq!(ids.len(), 3);
    let (s, a) = key("x", "a");
    assert!(ids.get(&s, None, &a).is_none(), "the oldest is forgotten");
    let (s, b) = key("x", "b");
    assert_eq!(ids.get(&s, None, &b).map(|a| a.id), Some(2));
    assert!(!ids.insert(&s, None, &b, ack(99)));
    assert_eq!(
        ids.get(&s, None, &b).map(|a| a.id),
        Some(2),
        "first ack kept"
    );
    let (other, b2) = key("y", "b");
    assert!(ids.get(&other, None, &b2).is_none(), "ids are per sender");

    ids.forget_newest(2);
    assert_eq!(ids.len(), 1);
    let (s, d) = key("x", "d");
    assert!(ids.get(&s, None, &d).is_none());
    assert_eq!(ids.get(&s, None, &b).map(|a| a.id), Some(2));
}

/// One sender flooding fresh ids pushes out only its own: everyone else's stay.
#[test]
fn a_flood_of_fresh_ids_evicts_only_the_flooder() {
    let mut ids = ClientIds::with_per_sender(1_000, 10);
    for u in 0..50 {
        let (s, c) = key(&format!("user{u}"), "kept");
        ids.insert(&s, None, &c, ack(u));
    }
    for i in 0..100_000 {
        let (s, c) = key("flooder", &format!("f{i}"));
        ids.insert(&s, None, &c, ack(1_000 + i));
    }
    for u in 0..50 {
        let (s, c) = key(&format!("user{u}"), "kept");
        assert_eq!(
            ids.get(&s, None, &c).map(|a| a.id),
            Some(u),
            "user{u} kept its id"
        );
    }
    let (s, c) = key("flooder", "f99999");
    assert!(
        ids.get(&s, None, &c).is_some(),
        "the flooder keeps its newest"
    );
    let (s, c) = key("flooder", "f99989");
    assert!(ids.get(&s, None, &c).is_none(), "and only its newest 10");
    assert_eq!(ids.len(), 60);
    assert!(
        ids.order.len() <= 2 * ids.len() + 1024,
        "stale keys are compacted away"
    );
}

/// Many senders: the window as a whole keeps the newest `capacity`.
#[test]
fn many_senders_share_the_window_oldest_first() {
    let mut ids = ClientIds::with_per_sender(100, 10);
    for u in 0..300 {
        let (s, c) = key(&format!("u{u}"), "x");
        ids.insert(&s, None, &c, ack(u));
    }
    assert_eq!(ids.len(), 100);
    assert_eq!(
        ids.senders.len(),
        100,
        "senders with nothing left are dropped"
    );
    let (s, c) = key("u199", "x");
    assert!(ids.get(&s, None, &c).is_none());
    let (s, c) = key("u200", "x");
    assert_eq!(ids.get(&s, None, &c).map(|a| a.id), Some(200));
}

/// The sender and the client id are hashed apart: the same strings split differently are
/// different entries.
#[test]
fn sender_and_id_do_not_run_together() {
    let mut ids = ClientIds::new(10);
    let (s, c) = key("ab", "c");
    ids.insert(&s, None, &c, ack(1));
    let (s, c) = key("a", "bc");
    assert!(ids.get(&s, None, &c).is_none());
}

#[test]
fn the_flag_defaults_to_the_window() {
    assert_eq!(crate::Config::default().client_id_window, CLIENT_ID_WINDOW);
}
