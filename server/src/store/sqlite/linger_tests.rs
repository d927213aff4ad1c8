//! The fsync of early-answered groups waiting, once the hub is idle, for more groups to share
//! it (`linger.rs`), seen from the store's side: marks, acks and the fsyncs counted in the
//! metrics.

use super::tests::{durable, msg, not_durable_yet, tmpdir, KEEP};
use super::*;
use crate::metrics::tests::value;
use crate::metrics::Metrics;

/// The fsync held for the hub an hour at most (these tests say when the hub is idle), and for
/// another group up to `linger`.
fn lingering(linger: Duration) -> SyncWaits {
    SyncWaits {
        defer_max: Duration::from_secs(3600),
        linger,
    }
}

#[tokio::test]
async fn a_group_committed_while_the_fsync_lingers_shares_it_once_delivered() {
    let dir = tmpdir("linger-shared");
    let s = SqliteStore::open_with(&dir, KEEP, true, lingering(Duration::from_secs(3600)))
        .expect("open");
    let metrics = Metrics::new();
    s.record_timings(&metrics.timings);
    let (first, m1) = s
        .append_marked(msg("general", 1, Some("c1")))
        .await
        .expect("append");
    assert!(matches!(first, Appended::Stored));
    // Delivered (the hub is idle), yet not fsynced: the fsync waits for more groups.
    s.deliveries_idle();
    let early = not_durable_yet(&s, m1).await;
    assert!(early, "fsynced at once, with nothing else to share it");
    // Readable meanwhile (committed).
    assert_eq!(s.last_id("general").await.expect("last"), 1);
    let (_, m2) = s
        .append_marked(msg("general", 2, Some("c2")))
        .await
        .expect("append");
    assert!(m2 > m1, "the second append was a group of its own");
    // Delivered: the fsync runs now, for both groups, without waiting any longer.
    s.deliveries_idle();
    durable(
        &s,
        m2,
        "fsynced once the group that shared it was delivered",
    )
    .await;
    assert!(s.sync.synced() >= m1);
    let fsyncs = value(&metrics.render(0), "chat_store_fsync_seconds_count");
    assert_eq!(fsyncs, Some(1.0), "two groups, one fsync");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_wait_nothing_else_shares_ends_by_itself_and_the_ack_follows() {
    let dir = tmpdir("linger-alone");
    let s = SqliteStore::open_with(&dir, KEEP, true, lingering(Duration::from_millis(200)))
        .expect("open");
    for id in 1..=3 {
        let (_, mark) = s
            .append_marked(msg("general", id, None))
            .await
            .expect("append");
        s.deliveries_idle();
        durable(
            &s,
            mark,
            "durable once the linger is over, with nothing else sent",
        )
        .await;
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_flush_or_closing_does_not_wait_for_the_linger() {
    let dir = tmpdir("linger-flush");
    let s = SqliteStore::open_with(&dir, KEEP, true, lingering(Duration::from_secs(3600)))
        .expect("open");
    let (_, mark) = s
        .append_marked(msg("general", 1, None))
        .await
        .expect("append");
    s.deliveries_idle();
    tokio::time::timeout(Duration::from_secs(10), s.flush())
        .await
        .expect("a flush does not wait an hour")
        .expect("flush");
    s.wait_durable(mark).await.expect("durable after the flush");
    let (_, mark) = s
        .append_marked(msg("general", 2, None))
        .await
        .expect("append");
    s.deliveries_idle();
    let sync = s.sync.clone();
    drop(s);
    assert!(sync.synced() >= mark, "closed without its fsync");
    let _ = std::fs::remove_dir_all(&dir);
}
