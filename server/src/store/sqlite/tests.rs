use super::retention::Pruner;
use super::schema::{open_conn, MIGRATIONS};
use super::wal::Wal;
use super::*;
use crate::util::now_ms;

pub(super) fn msg(channel: &str, id: u64, cid: Option<&str>) -> StoredMessage {
    StoredMessage {
        channel: channel.into(),
        id,
        sender: Nickname::new("a").expect("nick"),
        text: MessageText::new(format!("m{id}")).expect("text"),
        ts: now_ms(),
        client_id: cid.map(|c| ClientMsgId::new(c).expect("cid")),
        author: None,
        meta: Default::default(),
    }
}

pub(super) fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("chat-sqlite-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The fsync of an early answer held for the hub up to `defer_max`; the default linger.
pub(super) fn held(defer_max: Duration) -> SyncWaits {
    SyncWaits {
        defer_max,
        ..Default::default()
    }
}

/// Waits (10 s at most) until `mark` is durable; `why` says what should have made it so.
pub(super) async fn durable(s: &SqliteStore, mark: u64, why: &str) {
    tokio::time::timeout(Duration::from_secs(10), s.wait_durable(mark))
        .await
        .expect(why)
        .expect("durable");
}

/// Whether `mark` stays short of durable for 300 ms.
pub(super) async fn not_durable_yet(s: &SqliteStore, mark: u64) -> bool {
    tokio::time::timeout(Duration::from_millis(300), s.wait_durable(mark))
        .await
        .is_err()
}

pub(super) const KEEP: Retention = Retention {
    per_channel: 0,
    max_age: None,
    every: Duration::from_secs(30),
};

#[tokio::test]
async fn persists_pages_and_client_ids_across_reopen() {
    let dir = tmpdir("reopen");
    {
        let s = SqliteStore::open(&dir, KEEP, true).expect("open");
        for id in 1..=10 {
            s.append(msg("general", id, Some(&format!("c{id}"))))
                .await
                .expect("append");
        }
        s.append(msg("dm:a:b", 1, None)).await.expect("append");
    }
    let epoch = SqliteStore::open(&dir, KEEP, true).expect("reopen").epoch();
    let s = SqliteStore::open(&dir, KEEP, true).expect("reopen");
    assert_eq!(s.epoch(), epoch, "the epoch is stored with the history");
    assert_eq!(epoch.len(), 32);
    assert_eq!(s.last_id("general").await.expect("last"), 10);
    assert_eq!(s.last_id("nowhere").await.expect("last"), 0);
    let p = s.before("general", 11, 3).await.expect("page");
    assert_eq!(
        p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![8, 9, 10]
    );
    assert!(p.has_more);
    let p = s.after("general", 7, 9, 10).await.expect("page");
    assert_eq!(
        p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![8, 9]
    );
    assert!(!p.has_more);
    // A resend of client id c4, even under another id and channel, is recognised.
    match s
        .append(msg("other", 99, Some("c4")))
        .await
        .expect("append")
    {
        Appended::Duplicate(a) => assert_eq!(a.id, 4),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.last_id("other").await.expect("last"), 0);
}

/// History is read on the caller's thread when the lookup connection is free, and on the
/// blocking pool when it is taken: the same pages either way, each with the latest commit.
#[tokio::test]
#[allow(clippy::await_holding_lock)] // held on purpose: the reads must find it taken
async fn a_history_read_the_lookup_cannot_take_goes_to_the_pool() {
    let dir = tmpdir("lookup");
    let s = SqliteStore::open(&dir, KEEP, true).expect("open");
    let ids = |p: Page| p.messages.iter().map(|m| m.id).collect::<Vec<_>>();
    for id in 1..=5 {
        s.append(msg("general", id, None)).await.expect("append");
    }
    assert_eq!(
        ids(s.after("general", 3, 5, 10).await.expect("page")),
        [4, 5]
    );
    let held = s.lookup.hold();
    s.append(msg("general", 6, None)).await.expect("append");
    assert_eq!(s.last_id("general").await.expect("last"), 6);
    assert_eq!(ids(s.before("general", 7, 2).await.expect("page")), [5, 6]);
    assert_eq!(
        ids(s.after("general", 3, 6, 10).await.expect("page")),
        [4, 5, 6]
    );
    drop(held);
    s.append(msg("general", 7, None)).await.expect("append");
    assert_eq!(s.last_id("general").await.expect("last"), 7);
    assert_eq!(ids(s.before("general", 8, 2).await.expect("page")), [6, 7]);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn concurrent_appends_share_commits() {
    let dir = tmpdir("group");
    let s = Arc::new(SqliteStore::open(&dir, KEEP, true).expect("open"));
    let (senders, each) = (20, 20);
    let mut tasks = Vec::new();
    for ch in 0..senders {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut marks = Vec::new();
            for id in 1..=each {
                let (_, mark) = s
                    .append_marked(msg(&format!("room{ch}"), id, None))
                    .await
                    .expect("append");
                marks.push(mark);
            }
            marks
        }));
    }
    // An append's mark is the number of the group commit (one transaction) that stored it.
    let mut commits = std::collections::HashSet::new();
    for t in tasks {
        commits.extend(t.await.expect("task"));
    }
    for ch in 0..senders {
        assert_eq!(s.last_id(&format!("room{ch}")).await.expect("last"), each);
    }
    let appends = (senders * each) as usize;
    assert!(
        commits.len() <= appends / 2,
        "{appends} concurrent appends took {} commits",
        commits.len()
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_append_is_written_before_it_is_fsynced_and_the_mark_says_when() {
    for full in [true, false] {
        let dir = tmpdir(&format!("durable-{full}"));
        let s = SqliteStore::open(&dir, KEEP, full).expect("open");
        let mut last = 0;
        for id in 1..=3 {
            let (stored, mark) = s
                .append_marked(msg("general", id, None))
                .await
                .expect("append");
            assert!(matches!(stored, Appended::Stored));
            assert!(
                mark > last,
                "each group gets the next number: {mark} after {last}"
            );
            last = mark;
            durable(&s, mark, "the fsync follows").await;
        }
        // Committed, so readable (the reader is another connection) as soon as answered.
        let page = s.after("general", 0, 10, 10).await.expect("read");
        assert_eq!(page.messages.len(), 3);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
    // The fsync held back (it waits for the hub, which never reports idle here, or an hour):
    // the answered append is in the WAL and readable, its mark is not synced, and
    // `wait_durable` returns once the fsync has published the mark, not before.
    let dir = tmpdir("durable-held");
    let hour = Duration::from_secs(3600);
    let s = SqliteStore::open_with(&dir, KEEP, true, held(hour)).expect("open");
    let (stored, mark) = s
        .append_marked(msg("general", 1, None))
        .await
        .expect("append");
    assert!(matches!(stored, Appended::Stored));
    let wal = Wal::new(&dir.join("chat.db"));
    let in_wal = std::fs::metadata(&wal.path).expect("the WAL").len();
    assert!(in_wal > 0, "answered before it was written to the WAL");
    assert_eq!(s.last_id("general").await.expect("last"), 1);
    let synced = s.sync.synced();
    assert!(
        synced < mark,
        "mark {mark} synced ({synced}) before its fsync"
    );
    let early = not_durable_yet(&s, mark).await;
    assert!(early, "wait_durable({mark}) returned before the fsync");
    s.deliveries_idle();
    durable(&s, mark, "the fsync follows").await;
    let synced = s.sync.synced();
    assert!(
        synced >= mark,
        "wait_durable({mark}) returned at synced {synced}"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_early_answer_is_fsynced_once_the_hub_is_idle_and_its_ack_waits_for_that() {
    let dir = tmpdir("defer");
    let hour = Duration::from_secs(3600);
    let s = SqliteStore::open_with(&dir, KEEP, true, held(hour)).expect("open");
    let (stored, mark) = s
        .append_marked(msg("general", 1, Some("c1")))
        .await
        .expect("append");
    assert!(matches!(stored, Appended::Stored));
    // Answered, so deliverable and readable at once; not durable until the hub is idle.
    assert_eq!(s.last_id("general").await.expect("last"), 1);
    let early = not_durable_yet(&s, mark).await;
    assert!(early, "fsynced before the hub went idle");
    s.deliveries_idle();
    durable(&s, mark, "the fsync follows the hub's idle").await;
    // A resend of a stored client id has nothing to deliver: its fsync does not wait.
    let (dup, mark) = s
        .append_marked(msg("general", 9, Some("c1")))
        .await
        .expect("resend");
    assert!(matches!(dup, Appended::Duplicate(_)));
    durable(&s, mark, "a resend's fsync does not wait for the hub").await;
    // A flush does not wait for the hub: it fsyncs what was put off.
    let (_, mark) = s
        .append_marked(msg("general", 2, None))
        .await
        .expect("append");
    tokio::time::timeout(Duration::from_secs(10), s.flush())
        .await
        .expect("flushed")
        .expect("flush");
    s.wait_durable(mark).await.expect("durable after a flush");
    // Nor does closing: the writer fsyncs what was put off before it exits.
    let (_, mark) = s
        .append_marked(msg("general", 3, None))
        .await
        .expect("append");
    let sync = s.sync.clone();
    drop(s);
    assert!(sync.synced() >= mark, "closed without its fsync");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn when_the_hub_never_goes_idle_the_fsync_runs_at_its_deadline() {
    let dir = tmpdir("defer-deadline");
    let s =
        SqliteStore::open_with(&dir, KEEP, true, held(Duration::from_millis(50))).expect("open");
    for id in 1..=3 {
        let (_, mark) = s
            .append_marked(msg("general", id, None))
            .await
            .expect("append");
        durable(
            &s,
            mark,
            "durable by the deadline, with no word from the hub",
        )
        .await;
    }
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The page size of the store's database in `dir`.
fn page_size(dir: &Path) -> i64 {
    let c = Connection::open(dir.join("chat.db")).expect("open");
    c.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
        .expect("page_size")
}

#[tokio::test]
async fn a_new_database_gets_4_kib_pages_and_keeps_them_across_restarts() {
    let dir = tmpdir("page-size");
    let s = SqliteStore::open(&dir, KEEP, false).expect("open");
    s.append(msg("general", 1, None)).await.expect("append");
    drop(s);
    assert_eq!(page_size(&dir), 4096);
    let s = SqliteStore::open(&dir, KEEP, false).expect("reopen");
    s.append(msg("general", 2, None)).await.expect("append");
    let page = s.after("general", 0, 10, 10).await.expect("read");
    assert_eq!(page.messages.len(), 2);
    drop(s);
    assert_eq!(page_size(&dir), 4096);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Databases made when new ones had 16 KiB pages keep them: SQLite cannot change the page
/// size of a file in WAL mode, and the store does not try.
#[tokio::test]
async fn a_database_made_with_16_kib_pages_keeps_them_and_its_messages() {
    let dir = tmpdir("page-size-16k");
    std::fs::create_dir_all(&dir).expect("mkdir");
    {
        let c = Connection::open(dir.join("chat.db")).expect("open");
        c.execute_batch(
            "PRAGMA page_size = 16384;
             PRAGMA journal_mode = WAL;",
        )
        .expect("16 KiB pages");
        c.execute_batch(MIGRATIONS[0]).expect("v1");
        c.execute_batch(
            "PRAGMA user_version = 1;
             INSERT INTO messages VALUES ('general', 1, 'a', 'one', 10, NULL);",
        )
        .expect("a row");
    }
    assert_eq!(page_size(&dir), 16384);
    let s = SqliteStore::open(&dir, KEEP, true).expect("migrated");
    s.append(msg("general", 2, None)).await.expect("append");
    let page = s.after("general", 0, 10, 10).await.expect("read");
    assert_eq!(
        page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [1, 2]
    );
    drop(s);
    assert_eq!(page_size(&dir), 16384);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The writer, the accounts, the conversations and an operator's CLI all migrate the file
/// they open; started together on a new file, each step must run once ("duplicate column
/// name" before the steps took the write lock before reading the version).
#[test]
fn connections_migrating_one_new_file_together_each_step_runs_once() {
    for round in 0..20 {
        let dir = tmpdir(&format!("migrate-race-{round}"));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let db = dir.join("chat.db");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (db, barrier) = (db.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    super::schema::open_migrated(&db).map(|_| ())
                })
            })
            .collect();
        for t in threads {
            t.join()
                .expect("thread")
                .expect("every connection migrates");
        }
        let c = Connection::open(&db).expect("open");
        let (version, page): (i64, i64) = c
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version),
                        (SELECT page_size FROM pragma_page_size)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("version");
        assert_eq!((version, page), (MIGRATIONS.len() as i64, 4096));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Runs one whole retention pass; returns what each of its steps deleted.
fn pass(p: &mut Pruner, conn: &Connection) -> Vec<usize> {
    let mut steps = vec![p.step(conn).expect("step")];
    while p.busy() {
        steps.push(p.step(conn).expect("step"));
    }
    steps
}

fn ids(conn: &Connection, channel: &str) -> Vec<u64> {
    conn.prepare("SELECT id FROM messages WHERE channel = ?1 ORDER BY id")
        .expect("prepare")
        .query_map([channel], |r| r.get::<_, i64>(0))
        .expect("query")
        .map(|id| id.expect("id") as u64)
        .collect()
}

fn old(channel: &str, id: u64) -> StoredMessage {
    let mut m = msg(channel, id, None);
    m.ts = 1000;
    m
}

fn limits(per_channel: u64, max_age: Option<Duration>) -> Retention {
    Retention {
        per_channel,
        max_age,
        every: Duration::ZERO,
    }
}

#[tokio::test]
async fn a_full_table_is_trimmed_to_the_cap_over_passes() {
    let dir = tmpdir("retention-cap");
    let s = SqliteStore::open(&dir, KEEP, false).expect("open");
    // Interleaved like concurrent rooms; "gaps" has ids missing (resends, failed groups).
    for id in 1..=25 {
        s.append(msg("a", id, None)).await.expect("append");
        if id <= 7 {
            s.append(msg("b", id, None)).await.expect("append");
        }
    }
    for id in [1, 2, 3, 10, 20, 30] {
        s.append(msg("gaps", id, None)).await.expect("append");
    }
    s.flush().await.expect("flush");
    let conn = open_conn(&dir.join("chat.db")).expect("conn");
    let mut p = Pruner::new(limits(5, None), 4);
    let first = pass(&mut p, &conn);
    assert!(first.iter().all(|&n| n <= 4), "{first:?}");
    // 20 of "a" in batches of 4, 2 of "b", 1 of "gaps".
    assert_eq!(first.iter().sum::<usize>(), 23, "{first:?}");
    assert_eq!(ids(&conn, "a"), (21..=25).collect::<Vec<_>>());
    assert_eq!(ids(&conn, "b"), (3..=7).collect::<Vec<_>>());
    assert_eq!(ids(&conn, "gaps"), vec![2, 3, 10, 20, 30]);
    // New messages: the next pass trims them back to the cap; one after it has nothing left.
    for id in 26..=28 {
        s.append(msg("a", id, None)).await.expect("append");
    }
    s.flush().await.expect("flush");
    assert_eq!(pass(&mut p, &conn).iter().sum::<usize>(), 3);
    assert_eq!(ids(&conn, "a"), (24..=28).collect::<Vec<_>>());
    assert_eq!(pass(&mut p, &conn).iter().sum::<usize>(), 0);
    assert_eq!(s.last_id("a").await.expect("last"), 28);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn age_retention_deletes_old_messages_in_batches() {
    let dir = tmpdir("retention-age");
    let s = SqliteStore::open(&dir, KEEP, false).expect("open");
    for id in 1..=10 {
        s.append(old("old", id)).await.expect("append");
    }
    for id in 1..=3 {
        s.append(old("general", id)).await.expect("append");
    }
    for id in 4..=6 {
        s.append(msg("general", id, None)).await.expect("append");
    }
    s.flush().await.expect("flush");
    let conn = open_conn(&dir.join("chat.db")).expect("conn");
    let mut p = Pruner::new(limits(0, Some(Duration::from_secs(3600))), 4);
    assert_eq!(pass(&mut p, &conn), vec![4, 4, 4, 1, 0]);
    assert_eq!(ids(&conn, "old"), Vec::<u64>::new());
    assert_eq!(ids(&conn, "general"), vec![4, 5, 6]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_step_deletes_at_most_one_batch() {
    let dir = tmpdir("retention-batch");
    let s = SqliteStore::open(&dir, KEEP, false).expect("open");
    for id in 1..=40 {
        s.append(old(&format!("r{}", id % 3), id))
            .await
            .expect("append");
    }
    for id in 1..=40 {
        s.append(msg("big", id, None)).await.expect("append");
    }
    s.flush().await.expect("flush");
    let conn = open_conn(&dir.join("chat.db")).expect("conn");
    let mut p = Pruner::new(limits(10, Some(Duration::from_secs(3600))), 3);
    let steps = pass(&mut p, &conn);
    assert!(steps.iter().all(|&n| n <= 3), "{steps:?}");
    assert_eq!(steps.iter().sum::<usize>(), 40 + 30);
    assert_eq!(ids(&conn, "big"), (31..=40).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The count down a channel's index to the oldest message kept takes several steps when the
/// cap is large; messages that arrive meanwhile never make it cut too deep.
#[tokio::test]
async fn a_cap_counted_over_several_steps_keeps_the_newest() {
    let dir = tmpdir("retention-count");
    let s = SqliteStore::open(&dir, KEEP, false).expect("open");
    for id in (1..=120).filter(|id| id % 7 != 0) {
        s.append(msg("general", id, None)).await.expect("append");
    }
    s.flush().await.expect("flush");
    let conn = open_conn(&dir.join("chat.db")).expect("conn");
    // A batch of 1 counts 20 entries a step: 50 take three steps.
    let mut p = Pruner::new(limits(50, None), 1);
    let mut steps = Vec::new();
    while steps.len() < 3 || p.busy() {
        if steps.len() == 2 {
            s.append(msg("general", 121, None)).await.expect("append");
            s.flush().await.expect("flush");
        }
        steps.push(p.step(&conn).expect("step"));
    }
    assert!(steps.iter().all(|&n| n <= 1), "{steps:?}");
    let kept = ids(&conn, "general");
    assert!(kept.len() >= 50 && kept.len() <= 51, "{kept:?}");
    assert_eq!(kept.last(), Some(&121));
    let want: Vec<u64> = (1..=121).filter(|id| id % 7 != 0).rev().take(50).collect();
    assert!(want.iter().all(|id| kept.contains(id)), "{kept:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn ids_go_on_after_retention_deleted_a_whole_channel() {
    let dir = tmpdir("retention-ids");
    {
        let s = SqliteStore::open(&dir, KEEP, false).expect("open");
        for id in 1..=3 {
            s.append(old("old", id)).await.expect("append");
        }
        s.flush().await.expect("flush");
        let conn = open_conn(&dir.join("chat.db")).expect("conn");
        let mut p = Pruner::new(limits(2, Some(Duration::from_secs(3600))), 2);
        assert_eq!(pass(&mut p, &conn).iter().sum::<usize>(), 3);
        assert_eq!(ids(&conn, "old"), Vec::<u64>::new());
        assert_eq!(s.last_id("old").await.expect("last"), 3);
        s.append(old("old", 4)).await.expect("append");
        s.flush().await.expect("flush");
        pass(&mut p, &conn);
        assert_eq!(s.last_id("old").await.expect("last"), 4);
    }
    // And after a restart.
    let s = SqliteStore::open(&dir, KEEP, false).expect("reopen");
    assert_eq!(s.last_id("old").await.expect("last"), 4);
    assert_eq!(s.last_id("never").await.expect("last"), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The writer starts passes by itself, and runs them to the end while no append comes.
#[tokio::test]
async fn the_writer_applies_retention_by_itself() {
    let dir = tmpdir("retention-writer");
    let every = Retention {
        per_channel: 3,
        max_age: None,
        every: Duration::from_millis(20),
    };
    let s = SqliteStore::open(&dir, every, false).expect("open");
    for id in 1..=2000 {
        s.append(msg("general", id, None)).await.expect("append");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let p = s.after("general", 0, u64::MAX, 10).await.expect("page");
        if p.messages.iter().map(|m| m.id).collect::<Vec<_>>() == vec![1998, 1999, 2000] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not trimmed: {p:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_resend_within_one_group_is_a_duplicate() {
    let dir = tmpdir("samegroup");
    let s = SqliteStore::open(&dir, KEEP, true).expect("open");
    let (a, b) = tokio::join!(
        s.append(msg("general", 1, Some("same"))),
        s.append(msg("general", 2, Some("same")))
    );
    let outcomes = [a.expect("append"), b.expect("append")];
    assert_eq!(outcomes[0], Appended::Stored);
    match &outcomes[1] {
        Appended::Duplicate(ack) => assert_eq!(ack.id, 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.last_id("general").await.expect("last"), 1);
}

#[tokio::test]
async fn migrating_a_version_2_database_keeps_its_client_ids() {
    let dir = tmpdir("v2");
    std::fs::create_dir_all(&dir).expect("mkdir");
    {
        let c = Connection::open(dir.join("chat.db")).expect("open");
        c.execute_batch(MIGRATIONS[0]).expect("v1");
        c.execute_batch(MIGRATIONS[1]).expect("v2");
        c.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO messages VALUES ('general', 1, 'a', 'one', 10, 'c1');
             INSERT INTO messages VALUES ('general', 2, 'a', 'two', 20, NULL);
             INSERT INTO messages VALUES ('dm:a:b', 1, 'a', 'three', 30, 'c3');",
        )
        .expect("rows");
    }
    let s = SqliteStore::open(&dir, KEEP, true).expect("migrated");
    for (cid, channel, id) in [("c1", "general", 1), ("c3", "dm:a:b", 1)] {
        match s
            .append(msg("general", 9, Some(cid)))
            .await
            .expect("append")
        {
            Appended::Duplicate(a) => assert_eq!(a.id, id, "{channel}"),
            other => panic!("{cid}: {other:?}"),
        }
    }
    assert_eq!(
        s.append(msg("general", 3, Some("new")))
            .await
            .expect("append"),
        Appended::Stored
    );
    drop(s);
    let c = Connection::open(dir.join("chat.db")).expect("open");
    let (version, index): (i64, i64) = c
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version),
                    (SELECT count(*) FROM sqlite_master
                     WHERE name IN ('messages_client_id', 'sends'))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("query");
    assert_eq!((version, index), (MIGRATIONS.len() as i64, 0));
    let s = SqliteStore::open(&dir, KEEP, true).expect("reopen");
    match s
        .append(msg("general", 4, Some("new")))
        .await
        .expect("append")
    {
        Appended::Duplicate(a) => assert_eq!(a.id, 3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn refuses_foreign_or_corrupt_files_without_touching_them() {
    let dir = tmpdir("corrupt");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let db = dir.join("chat.db");
    let garbage = b"this is not a database, and it must stay exactly like this".repeat(100);
    std::fs::write(&db, &garbage).expect("write");
    let e = SqliteStore::open(&dir, KEEP, true).err().expect("refused");
    assert!(matches!(e, StoreError::Corrupt(_)), "{e}");
    assert_eq!(std::fs::read(&db).expect("read"), garbage);

    let dir2 = tmpdir("foreign");
    std::fs::create_dir_all(&dir2).expect("mkdir");
    let c = Connection::open(dir2.join("chat.db")).expect("open");
    c.execute_batch("CREATE TABLE mine (x); INSERT INTO mine VALUES (1);")
        .expect("create");
    drop(c);
    let e = SqliteStore::open(&dir2, KEEP, true).err().expect("refused");
    assert!(e.to_string().contains("refusing"), "{e}");

    let dir3 = tmpdir("newer");
    std::fs::create_dir_all(&dir3).expect("mkdir");
    let c = Connection::open(dir3.join("chat.db")).expect("open");
    c.execute_batch("PRAGMA user_version = 99;")
        .expect("pragma");
    drop(c);
    let e = SqliteStore::open(&dir3, KEEP, true).err().expect("refused");
    assert!(e.to_string().contains("newer"), "{e}");

    let file = tmpdir("notadir");
    std::fs::write(&file, "x").expect("write");
    let e = SqliteStore::open(&file, KEEP, true).err().expect("refused");
    assert!(e.to_string().contains("not a directory"), "{e}");
}

#[test]
fn a_second_store_on_the_same_directory_is_refused_until_the_first_closes() {
    let dir = tmpdir("locked");
    let first = SqliteStore::open(&dir, KEEP, true).expect("open");
    let e = SqliteStore::open(&dir, KEEP, true)
        .err()
        .expect("the second is refused");
    let want = format!(
        "data directory {} is in use by another server (pid {})",
        dir.display(),
        std::process::id()
    );
    assert!(e.to_string().contains(&want), "{e}");
    drop(first);
    SqliteStore::open(&dir, KEEP, true).expect("free again once the first is closed");
}

/// A real fault, no hook: the writer opens the WAL by name for its first fsync, so a WAL
/// unlinked under SQLite (which keeps writing to its open descriptor) makes that fsync fail,
/// as a disk that stops taking writes would.
#[tokio::test]
async fn a_failed_fsync_makes_the_store_unready_and_reports_it_for_good() {
    let dir = tmpdir("fsync-fails");
    let s = SqliteStore::open(&dir, KEEP, true).expect("open");
    assert_eq!(s.ready().await, Ok(()));
    let wal = dir.join("chat.db-wal");
    assert!(wal.exists(), "SQLite keeps its WAL from the open on");
    std::fs::remove_file(&wal).expect("unlink the WAL");

    let (_, mark) = s.append_marked(msg("r", 1, None)).await.expect("committed");
    assert!(s.wait_durable(mark).await.is_err(), "not durable");
    let reason = tokio::time::timeout(Duration::from_secs(5), s.failed())
        .await
        .expect("the failure is reported");
    assert!(reason.contains("fsync"), "{reason}");
    let unready = s.ready().await.expect_err("not ready any more");
    assert!(unready.contains("fsync"), "{unready}");
    assert!(
        s.append(msg("r", 2, None)).await.is_err(),
        "stopped for good"
    );
}

/// Each op that waited behind a step holds the next one back for `OPS_PER_DELAYED` (300)
/// more, unless the writer goes idle; a step that delayed nothing only rests as long as it
/// took.
#[test]
fn retention_waits_for_300_ops_per_op_a_step_delayed() {
    let off = Pruner::new(limits(0, None), 10);
    assert!(off.next_step().is_none() && !off.due());
    let mut p = Pruner::new(limits(5, None), 10);
    assert!(p.due());
    p.rest(Duration::from_millis(500), 0);
    assert!(!p.due());
    let wait = p.next_step().expect("on") - std::time::Instant::now();
    assert!(wait <= Duration::from_millis(500), "{wait:?}");
    p.rest(Duration::ZERO, 2);
    p.ops_came(599);
    assert!(!p.due());
    p.ops_came(1);
    assert!(p.due());
    // Or once no op has come for 50 ms.
    p.rest(Duration::ZERO, 1);
    p.ops_came(1);
    assert!(!p.due());
    let wait = p.next_step().expect("on") - std::time::Instant::now();
    assert!(
        wait > Duration::from_millis(20) && wait <= Duration::from_millis(50),
        "{wait:?}"
    );
}
