#![allow(clippy::unwrap_used)] // assertions of a test suite, compiled for the integration tests too
//! The behaviours every [`Conversations`] backend promises, as one suite: run on memory and
//! SQLite by the unit tests, and on a real redis-server by `tests/redis_conversations.rs`.
//! Times are passed in, so nothing waits for a clock. Each run needs a fresh backend.

use super::{
    subject, Added, Conversations, RoomRules, Sanction, SanctionKind, MAX_CONVERSATIONS,
    MAX_SANCTIONS_PER_ROOM,
};
use shared::{Timestamp, FOREVER};

const T: Timestamp = 1_700_000_000_000;

/// Runs every check against `c`, which must be empty.
pub async fn run(c: &dyn Conversations) {
    rooms(c).await;
    conversations(c).await;
    read_marks(c).await;
    mutes(c).await;
    sanctions(c).await;
    guest_bans(c).await;
    bounds(c).await;
}

async fn rooms(c: &dyn Conversations) {
    assert_eq!(c.rules("ops").await.unwrap(), None);
    let private = RoomRules {
        invite_only: true,
        owner: Some(7),
    };
    assert!(c.create_room("ops", private).await.unwrap());
    assert!(
        !c.create_room(
            "ops",
            RoomRules {
                invite_only: false,
                owner: Some(8)
            }
        )
        .await
        .unwrap(),
        "a room's rules are made once"
    );
    assert_eq!(c.rules("ops").await.unwrap(), Some(private));
    let public = RoomRules {
        invite_only: false,
        owner: Some(9),
    };
    c.set_rules("ops", public).await.unwrap();
    assert_eq!(c.rules("ops").await.unwrap(), Some(public));
    c.set_rules("ops", private).await.unwrap();
    c.set_rules(
        "legacy",
        RoomRules {
            invite_only: false,
            owner: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(c.rules("legacy").await.unwrap().unwrap().owner, None);
    let among = c
        .invite_only_among(&["general".into(), "ops".into(), "legacy".into()])
        .await
        .unwrap();
    assert_eq!(among, vec!["ops".to_string()]);
    assert!(c.invite_only_among(&[]).await.unwrap().is_empty());
}

async fn conversations(c: &dyn Conversations) {
    assert!(c.list(1, 10).await.unwrap().is_empty());
    assert!(!c.has(1, "general").await.unwrap());
    assert_eq!(c.add(1, "general", 5, T).await.unwrap(), Added::New);
    assert_eq!(c.add(1, "dm:a:b", 0, T + 2).await.unwrap(), Added::New);
    assert_eq!(c.add(1, "ops", 9, T + 1).await.unwrap(), Added::New);
    assert!(c.has(1, "general").await.unwrap());
    assert!(!c.has(2, "general").await.unwrap(), "per account");
    // Most recently active first.
    assert_eq!(
        c.list(1, 10).await.unwrap(),
        vec![
            ("dm:a:b".to_string(), 0),
            ("ops".to_string(), 9),
            ("general".to_string(), 5)
        ]
    );
    assert_eq!(c.list(1, 2).await.unwrap().len(), 2, "at most limit");
    // Adding again keeps the mark, refreshes the activity.
    assert_eq!(
        c.add(1, "general", 99, T + 3).await.unwrap(),
        Added::Existing
    );
    assert_eq!(c.read_mark(1, "general").await.unwrap(), Some(5));
    assert_eq!(c.list(1, 1).await.unwrap()[0].0, "general");
    assert!(c.remove(1, "ops").await.unwrap());
    assert!(!c.remove(1, "ops").await.unwrap());
    assert!(!c.has(1, "ops").await.unwrap());
    assert_eq!(c.read_mark(1, "ops").await.unwrap(), None);
    assert_eq!(c.list(1, 10).await.unwrap().len(), 2);
}

async fn read_marks(c: &dyn Conversations) {
    assert_eq!(
        c.mark_read(3, "general", 4).await.unwrap(),
        None,
        "not listed"
    );
    assert!(!c.has(3, "general").await.unwrap(), "marking adds nothing");
    c.add(3, "general", 2, T).await.unwrap();
    assert_eq!(c.mark_read(3, "general", 4).await.unwrap(), Some(4));
    assert_eq!(
        c.mark_read(3, "general", 3).await.unwrap(),
        Some(4),
        "never back"
    );
    assert_eq!(c.mark_read(3, "general", 10).await.unwrap(), Some(10));
    assert_eq!(c.read_mark(3, "general").await.unwrap(), Some(10));
    assert_eq!(
        c.list(3, 5).await.unwrap(),
        vec![("general".to_string(), 10)]
    );
}

async fn mutes(c: &dyn Conversations) {
    assert!(
        !c.set_muted(4, "general", true).await.unwrap(),
        "not listed"
    );
    assert!(c.muted(4).await.unwrap().is_empty(), "muting adds nothing");
    c.add(4, "general", 0, T).await.unwrap();
    c.add(4, "dm:bob:dee", 0, T).await.unwrap();
    c.add(5, "general", 0, T).await.unwrap();
    assert!(c.set_muted(4, "general", true).await.unwrap());
    assert!(c.set_muted(4, "dm:bob:dee", true).await.unwrap());
    assert!(c.set_muted(4, "general", true).await.unwrap(), "again");
    assert_eq!(c.muted(4).await.unwrap(), ["dm:bob:dee", "general"]);
    assert!(c.muted(5).await.unwrap().is_empty(), "one account's own");
    c.add(4, "general", 0, T + 1).await.unwrap();
    assert_eq!(c.muted(4).await.unwrap().len(), 2, "kept when active again");
    assert!(c.set_muted(4, "general", false).await.unwrap());
    assert_eq!(c.muted(4).await.unwrap(), ["dm:bob:dee"]);
    // Leaving forgets the mute: coming back is unmuted.
    assert!(c.remove(4, "dm:bob:dee").await.unwrap());
    c.add(4, "dm:bob:dee", 0, T + 2).await.unwrap();
    assert!(c.muted(4).await.unwrap().is_empty());
}

async fn sanctions(c: &dyn Conversations) {
    let (alice, guest) = (subject(Some(11), "alice"), subject(None, "mallory"));
    assert_eq!(alice, "a:11");
    assert_eq!(guest, "g:mallory");
    assert!(c.sanctions("ops", T).await.unwrap().is_empty());
    let ban = Sanction {
        subject: alice.clone(),
        kind: SanctionKind::Ban,
        until: FOREVER,
    };
    let mute = Sanction {
        subject: guest.clone(),
        kind: SanctionKind::Mute,
        until: T + 1_000,
    };
    assert!(c.sanction("ops", ban.clone(), T).await.unwrap());
    assert!(c.sanction("ops", mute.clone(), T).await.unwrap());
    let mut now = c.sanctions("ops", T).await.unwrap();
    now.sort_by(|a, b| a.subject.cmp(&b.subject));
    assert_eq!(now, vec![ban.clone(), mute.clone()]);
    assert!(
        c.sanctions("general", T).await.unwrap().is_empty(),
        "per room"
    );
    // Expired ones are not in force.
    assert_eq!(
        c.sanctions("ops", T + 1_000).await.unwrap(),
        vec![ban.clone()]
    );
    // Replacing: one per subject and kind.
    let longer = Sanction {
        until: T + 5_000,
        ..mute.clone()
    };
    assert!(c.sanction("ops", longer.clone(), T).await.unwrap());
    assert_eq!(c.sanctions("ops", T + 2_000).await.unwrap().len(), 2);
    assert!(c.lift("ops", &alice, SanctionKind::Ban).await.unwrap());
    assert!(!c.lift("ops", &alice, SanctionKind::Ban).await.unwrap());
    assert!(
        !c.lift("ops", &guest, SanctionKind::Ban).await.unwrap(),
        "kind apart"
    );
    assert_eq!(c.sanctions("ops", T).await.unwrap(), vec![longer]);
}

async fn guest_bans(c: &dyn Conversations) {
    assert!(!c.guest_banned("eve", Some("10.0.0.1"), T).await.unwrap());
    assert!(c
        .ban_guest("eve", Some("10.0.0.1"), T + 1_000, T)
        .await
        .unwrap());
    assert!(c.guest_banned("eve", None, T).await.unwrap(), "by name");
    assert!(
        c.guest_banned("other", Some("10.0.0.1"), T).await.unwrap(),
        "by address"
    );
    assert!(!c.guest_banned("other", Some("10.0.0.2"), T).await.unwrap());
    assert!(
        !c.guest_banned("eve", Some("10.0.0.1"), T + 1_000)
            .await
            .unwrap(),
        "expired"
    );
    assert!(c.ban_guest("troll", None, FOREVER, T).await.unwrap());
    assert!(c
        .guest_banned("troll", Some("10.9.9.9"), T + 1)
        .await
        .unwrap());
    assert!(!c
        .guest_banned("other", Some("10.9.9.9"), T + 1)
        .await
        .unwrap());
}

async fn bounds(c: &dyn Conversations) {
    // Conversations: a new direct conversation drops the least recently active one; a new
    // room is refused.
    let acct = 50;
    for i in 0..MAX_CONVERSATIONS {
        let ch = if i % 2 == 0 {
            format!("dm:x{i}:y")
        } else {
            format!("room{i}")
        };
        assert_eq!(c.add(acct, &ch, 0, T + i as i64).await.unwrap(), Added::New);
    }
    assert_eq!(
        c.add(acct, "one-more", 0, T + 5_000).await.unwrap(),
        Added::Full
    );
    assert!(!c.has(acct, "one-more").await.unwrap());
    assert_eq!(
        c.add(acct, "dm:new:z", 0, T + 5_001).await.unwrap(),
        Added::New
    );
    assert!(
        !c.has(acct, "dm:x0:y").await.unwrap(),
        "the oldest direct one went"
    );
    assert!(c.has(acct, "room1").await.unwrap(), "rooms stay");
    assert!(c.has(acct, "dm:x2:y").await.unwrap());
    assert_eq!(
        c.list(acct, usize::MAX).await.unwrap().len(),
        MAX_CONVERSATIONS
    );
    // A dropped conversation's mute goes with it.
    assert!(c.set_muted(acct, "dm:x2:y", true).await.unwrap());
    assert_eq!(
        c.add(acct, "dm:new:w", 0, T + 5_002).await.unwrap(),
        Added::New
    );
    assert!(!c.has(acct, "dm:x2:y").await.unwrap());
    assert!(c.muted(acct).await.unwrap().is_empty());
    assert!(c.set_muted(acct, "dm:new:w", true).await.unwrap());
    assert_eq!(c.muted(acct).await.unwrap(), ["dm:new:w"]);

    // Sanctions: a room holds a bounded number in force; replacing one is always allowed.
    for i in 0..MAX_SANCTIONS_PER_ROOM {
        let s = Sanction {
            subject: format!("a:{i}"),
            kind: SanctionKind::Ban,
            until: FOREVER,
        };
        assert!(c.sanction("full", s, T).await.unwrap());
    }
    let extra = Sanction {
        subject: "a:999999".into(),
        kind: SanctionKind::Ban,
        until: FOREVER,
    };
    assert!(!c.sanction("full", extra.clone(), T).await.unwrap());
    let again = Sanction {
        subject: "a:0".into(),
        kind: SanctionKind::Ban,
        until: T + 10,
    };
    assert!(c.sanction("full", again, T).await.unwrap(), "replacing");
    // Once that one expires, there is room again.
    assert!(c.sanction("full", extra, T + 10).await.unwrap());
}
