use super::*;

fn msg(id: u64) -> StoredMessage {
    StoredMessage {
        channel: "general".into(),
        id,
        sender: Nickname::new("a").expect("nick"),
        text: MessageText::new(format!("m{id}")).expect("text"),
        ts: 1_700_000_000_000 + id as i64,
        client_id: None,
        author: None,
        meta: Meta::default(),
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("chat-prealloc-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn wal_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("chat.db-wal"))
        .expect("the WAL")
        .len()
}

const KEEP: Retention = Retention {
    per_channel: 0,
    max_age: None,
    every: Duration::from_secs(30),
};

fn ids(p: &Page) -> Vec<u64> {
    p.messages.iter().map(|m| m.id).collect()
}

/// Working size with a new database's 4 KiB pages and SQLite's checkpoint at 1,000 of them.
const WORKING: u64 = 32 + (1000 + 64) * (4096 + 24);

#[tokio::test]
async fn the_wal_is_written_out_at_the_start_and_commits_go_over_it() {
    let dir = tmpdir("start");
    let s = SqliteStore::open(&dir, KEEP, true).expect("open");
    assert_eq!(
        wal_len(&dir),
        WORKING,
        "written out before the first commit"
    );
    for id in 1..=50 {
        s.append(msg(id)).await.expect("append");
    }
    assert_eq!(wal_len(&dir), WORKING, "50 commits wrote over the zeros");
    drop(s);
    // The shutdown's checkpoint truncates it; the next start writes it out again.
    let s = SqliteStore::open(&dir, KEEP, true).expect("reopen");
    assert_eq!(wal_len(&dir), WORKING);
    let page = s.after("general", 0, 100, 100).await.expect("read");
    assert_eq!(ids(&page), (1..=50).collect::<Vec<_>>());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a crash leaves: committed frames, then the zeros written at the start. A copy of the
/// files taken while the store is open (nothing checkpointed, the shutdown never ran) must open
/// with every fsynced message, and the zeros must end the log rather than fail it.
#[tokio::test]
async fn a_crash_in_a_written_out_wal_keeps_every_synced_message() {
    let dir = tmpdir("crash");
    let copy = tmpdir("crash-copy");
    let s = SqliteStore::open(&dir, KEEP, true).expect("open");
    for id in 1..=20 {
        let (_, mark) = s.append_marked(msg(id)).await.expect("append");
        s.wait_durable(mark).await.expect("durable");
    }
    std::fs::create_dir_all(&copy).expect("mkdir");
    for f in ["chat.db", "chat.db-wal"] {
        std::fs::copy(dir.join(f), copy.join(f)).expect("copy");
    }
    let frames = std::fs::read(copy.join("chat.db-wal")).expect("read the WAL");
    assert_eq!(frames.len() as u64, WORKING);
    assert!(
        frames[..32].iter().any(|b| *b != 0),
        "the commits wrote a header"
    );
    assert!(
        frames[frames.len() - 4096..].iter().all(|b| *b == 0),
        "zeros after the last frame"
    );
    drop(s);

    let r = SqliteStore::open(&copy, KEEP, true).expect("open the crash copy");
    let page = r.after("general", 0, 100, 100).await.expect("read");
    assert_eq!(ids(&page), (1..=20).collect::<Vec<_>>());
    r.append(msg(21)).await.expect("append after recovery");
    drop(r);
    let r = SqliteStore::open(&copy, KEEP, true).expect("reopen");
    let page = r.after("general", 0, 100, 100).await.expect("read");
    assert_eq!(ids(&page), (1..=21).collect::<Vec<_>>());
    drop(r);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&copy);
}

#[test]
fn a_wal_that_is_already_as_long_is_left_as_it_is() {
    let dir = tmpdir("as-long");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let wal = dir.join("w");
    std::fs::write(&wal, vec![7u8; 100]).expect("write");
    assert_eq!(wal_prealloc::extend(&wal, 64).expect("extend"), 0);
    assert_eq!(std::fs::read(&wal).expect("read"), vec![7u8; 100]);
    assert_eq!(wal_prealloc::extend(&wal, 300).expect("extend"), 200);
    let bytes = std::fs::read(&wal).expect("read");
    assert_eq!(&bytes[..100], &[7u8; 100][..], "what was there stays");
    assert!(bytes[100..].iter().all(|b| *b == 0) && bytes.len() == 300);
    // No WAL yet (SQLite has not made one): nothing is created in its place.
    assert!(wal_prealloc::extend(&dir.join("none"), 300).is_err());
    assert!(!dir.join("none").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
