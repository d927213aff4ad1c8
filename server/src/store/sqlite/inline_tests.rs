//! Appends committed on the sender's thread while the writer sleeps (`Inbox::claim`,
//! `Committer::try_one`): one per nap, never waiting for a lock, and their acks still after
//! the fsync.

use super::schema::open_migrated;
use super::tests::{durable, msg, not_durable_yet, tmpdir, KEEP};
use super::*;
use crate::metrics::tests::value;
use crate::metrics::Metrics;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The fsync held for the hub an hour at most (these tests say when the hub is idle); no
/// waiting for more groups.
fn held_for_the_hub() -> SyncWaits {
    SyncWaits {
        defer_max: Duration::from_secs(3600),
        linger: Duration::ZERO,
    }
}

/// Waits until the writer sleeps and a sender may commit by itself.
async fn writer_napping(s: &SqliteStore) {
    napping(s, |_| true).await
}

/// Waits until the writer sleeps, a sender may commit by itself, and `in_round` holds of
/// whether it sleeps in a round.
async fn napping(s: &SqliteStore, in_round: impl Fn(bool) -> bool) {
    for _ in 0..5000 {
        if s.inbox.napping().is_some_and(&in_round) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the writer never slept");
}

type Append<'a> = Pin<Box<dyn Future<Output = Result<(Appended, u64), StoreError>> + Send + 'a>>;

/// Starts an append and polls it once: `Err` with the future when it is not done yet.
fn poll_once(s: &SqliteStore, id: u64) -> Result<(Appended, u64), Append<'_>> {
    let mut append: Append<'_> = Box::pin(s.append_marked(msg("general", id, None)));
    let waker = futures_util::task::noop_waker_ref();
    match append.as_mut().poll(&mut Context::from_waker(waker)) {
        Poll::Ready(r) => Ok(r.expect("append")),
        Poll::Pending => Err(append),
    }
}

#[tokio::test]
async fn an_append_that_finds_the_writer_asleep_is_committed_at_once_and_acked_after_the_fsync() {
    let dir = tmpdir("inline-one");
    let s = SqliteStore::open_with(&dir, KEEP, true, held_for_the_hub()).expect("open");
    let metrics = Metrics::new();
    s.record_timings(&metrics.timings);
    writer_napping(&s).await;
    let Ok((outcome, mark)) = poll_once(&s, 1) else {
        panic!("not committed on the first poll");
    };
    assert!(matches!(outcome, Appended::Stored));
    // Committed (readable), not yet durable: the fsync waits for the hub to deliver it.
    assert_eq!(s.last_id("general").await.expect("last"), 1);
    let early = not_durable_yet(&s, mark).await;
    assert!(early, "fsynced before the hub delivered it");
    s.deliveries_idle();
    durable(&s, mark, "the writer fsyncs it once it is delivered").await;
    let rendered = metrics.render(0);
    assert_eq!(
        value(&rendered, "chat_store_commit_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        value(&rendered, "chat_store_fsync_seconds_count"),
        Some(1.0)
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn one_sender_per_nap_commits_by_itself_and_the_next_goes_through_the_writer() {
    let dir = tmpdir("inline-nap");
    let s = SqliteStore::open_with(&dir, KEEP, true, held_for_the_hub()).expect("open");
    writer_napping(&s).await;
    let (_, m1) = poll_once(&s, 1).unwrap_or_else(|_| panic!("first: not at once"));
    // The writer woke for it, and sleeps again, in a round, until the hub has delivered it.
    napping(&s, |in_round| in_round).await;
    let (_, m2) = poll_once(&s, 2).unwrap_or_else(|_| panic!("second: not at once"));
    assert!(m2 > m1, "a group of its own");
    // That nap is taken: the third goes through the inbox, and the writer commits it.
    assert!(
        s.inbox.napping().is_none(),
        "the nap is still there to take"
    );
    assert!(
        !s.inbox.claim(),
        "two senders may commit by themselves in one nap"
    );
    let (outcome, m3) = tokio::time::timeout(
        Duration::from_secs(10),
        s.append_marked(msg("general", 3, None)),
    )
    .await
    .expect("the writer commits it")
    .expect("append");
    assert!(matches!(outcome, Appended::Stored));
    assert!(m3 > m2);
    s.deliveries_idle();
    durable(&s, m3, "durable").await;
    let p = s.before("general", 10, 10).await.expect("page");
    assert_eq!(p.messages.len(), 3);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_append_that_would_wait_for_another_connections_write_goes_to_the_writer() {
    let dir = tmpdir("inline-locked");
    let s = SqliteStore::open_with(&dir, KEEP, true, held_for_the_hub()).expect("open");
    let other = open_migrated(&dir.join("chat.db")).expect("other");
    other.execute_batch("BEGIN IMMEDIATE").expect("write lock");
    writer_napping(&s).await;
    let Err(append) = poll_once(&s, 1) else {
        panic!("committed through another connection's write lock");
    };
    // The writer's thread waits for the lock; the caller's did not.
    tokio::time::sleep(Duration::from_millis(100)).await;
    other.execute_batch("COMMIT").expect("commit");
    let (outcome, mark) = tokio::time::timeout(Duration::from_secs(10), append)
        .await
        .expect("the writer commits it once the lock is free")
        .expect("append");
    assert!(matches!(outcome, Appended::Stored));
    s.deliveries_idle();
    s.wait_durable(mark).await.expect("durable");
    assert_eq!(s.last_id("general").await.expect("last"), 1);
    // The failed try left nothing behind: the next one commits by itself again.
    writer_napping(&s).await;
    assert!(poll_once(&s, 2).is_ok());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_append_never_waits_for_the_writer_holding_its_connection() {
    let dir = tmpdir("inline-held");
    let s = SqliteStore::open_with(&dir, KEEP, true, held_for_the_hub()).expect("open");
    writer_napping(&s).await;
    // As when the writer woke (a deadline) just as the sender claimed its nap.
    let held = crate::util::lock(&s.committer);
    let Err(append) = poll_once(&s, 1) else {
        panic!("committed through a connection the writer holds");
    };
    drop(held);
    let (outcome, _) = tokio::time::timeout(Duration::from_secs(10), append)
        .await
        .expect("the writer commits it")
        .expect("append");
    assert!(matches!(outcome, Appended::Stored));
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
