use super::*;
use crate::store::{Rewrite, Rewrites};

fn text(t: &str) -> MessageText {
    MessageText::new(t).expect("text")
}

fn msg(id: u64, t: &str) -> StoredMessage {
    StoredMessage {
        channel: "general".into(),
        id,
        sender: Nickname::new("a").expect("nick"),
        text: text(t),
        ts: 1_700_000_000_000 + id as i64,
        client_id: None,
        author: Some(7),
        meta: Meta::default(),
    }
}

/// An edit of `target`, as the hub appends it.
fn edit_of(id: u64, target: u64, t: &str) -> StoredMessage {
    let mut m = msg(id, t);
    m.meta.target = Some(target);
    m.meta.edited = true;
    m
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("chat-rewrite-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

const KEEP: Retention = Retention {
    per_channel: 0,
    max_age: None,
    every: Duration::from_secs(30),
};

/// Message `id` of `general`, read with `after` and with `before` (the two must agree).
async fn get(s: &SqliteStore, id: u64) -> StoredMessage {
    let a = s.after("general", id - 1, id, 1).await.expect("after");
    let b = s.before("general", id + 1, 1).await.expect("before");
    assert_eq!(a.messages, b.messages);
    a.messages.into_iter().next().expect("message")
}

#[tokio::test]
async fn edits_replace_the_text_of_plain_messages_only() {
    let dir = tmpdir("edit");
    let s = SqliteStore::open(&dir, KEEP, true).expect("open");
    s.append(msg(1, "first")).await.expect("append");
    s.append(msg(2, "second")).await.expect("append");
    s.append(edit_of(3, 1, "first, again"))
        .await
        .expect("append");
    let edit = |id, t: &str| s.rewrite("general", id, Rewrite::Edit(text(t)));
    assert!(edit(1, "first, again").await.expect("edit"));
    let m = get(&s, 1).await;
    assert_eq!(m.text.as_str(), "first, again");
    assert!(m.meta.edited && !m.meta.deleted && m.meta.target.is_none());
    assert_eq!(get(&s, 2).await.text.as_str(), "second");
    // No such message, an edit, a message of another channel: false, nothing changed.
    assert!(!edit(9, "x").await.expect("edit"));
    assert!(!edit(3, "x").await.expect("edit"));
    assert!(!s
        .rewrite("other", 1, Rewrite::Edit(text("x")))
        .await
        .expect("edit"));
    assert_eq!(get(&s, 3).await.text.as_str(), "first, again");
    // A deleted message stays deleted.
    assert!(s.rewrite("general", 2, Rewrite::Delete).await.expect("del"));
    assert!(!edit(2, "back").await.expect("edit"));
    assert!(!s.rewrite("general", 2, Rewrite::Delete).await.expect("del"));
    assert!(get(&s, 2).await.text.is_empty());
}

#[tokio::test]
async fn an_edit_queued_right_after_the_append_finds_it() {
    let dir = tmpdir("order");
    let s = SqliteStore::open(&dir, KEEP, true).expect("open");
    let (done, appended) = oneshot::channel();
    s.send(Op::Append(Append {
        msg: msg(1, "typo"),
        done,
    }))
    .expect("send");
    let edited = s.rewrite("general", 1, Rewrite::Edit(text("fixed")));
    assert!(edited.await.expect("edit"));
    appended.await.expect("answer").0.expect("append");
    assert_eq!(get(&s, 1).await.text.as_str(), "fixed");
}

#[tokio::test]
async fn deletions_leave_a_tombstone_and_erase_the_edits() {
    let dir = tmpdir("delete");
    let s = SqliteStore::open(&dir, KEEP, true).expect("open");
    s.append(msg(1, "oops")).await.expect("append");
    s.append(edit_of(2, 1, "oops, edited"))
        .await
        .expect("append");
    s.append(msg(3, "other")).await.expect("append");
    s.append(edit_of(4, 1, "oops, edited twice"))
        .await
        .expect("append");
    assert!(s.rewrite("general", 1, Rewrite::Delete).await.expect("del"));
    let m = get(&s, 1).await;
    assert!(m.text.is_empty() && m.meta.deleted && m.meta.target.is_none());
    for id in [2, 4] {
        let e = get(&s, id).await;
        assert!(e.text.is_empty(), "edit {id} erased");
        assert_eq!(e.meta.target, Some(1));
        assert!(e.meta.edited && !e.meta.deleted);
    }
    assert_eq!(get(&s, 3).await.text.as_str(), "other");
    let page = s.before("general", u64::MAX, 10).await.expect("page");
    assert_eq!(page.messages.len(), 4);
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The bytes of `chat.db` and of `chat.db-wal` (when there is one), as on disk now.
fn files(dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.join("chat.db")).expect("read chat.db");
    match std::fs::read(dir.join("chat.db-wal")) {
        Ok(wal) => bytes.extend(wal),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot read the WAL: {e}"),
    }
    bytes
}

const SECRET: &str = "SECRET-7f3a9c";
const SECRET_EDIT: &str = "SECRET-EDIT-91b2";
const KEPT: &str = "KEEP-5d1e";

fn assert_erased(dir: &Path, when: &str) {
    let bytes = files(dir);
    assert!(contains(&bytes, KEPT), "{when}: the kept message is found");
    assert!(
        !contains(&bytes, SECRET),
        "{when}: the deleted text is gone"
    );
    assert!(
        !contains(&bytes, SECRET_EDIT),
        "{when}: the edit's text is gone"
    );
}

async fn no_copy_of_deleted_text_in_the_files(sync_full: bool) {
    let dir = tmpdir(&format!("erase-{sync_full}"));
    {
        let s = SqliteStore::open(&dir, KEEP, sync_full).expect("open");
        for id in 1..=200 {
            let t = match id {
                60 => SECRET.to_string(),
                130 => KEPT.to_string(),
                _ => format!("message {id} of the history, long enough to fill pages"),
            };
            s.append(msg(id, &t)).await.expect("append");
            if id == 100 {
                // Part of it checkpointed into chat.db, the rest only in the WAL.
                s.flush().await.expect("flush");
            }
        }
        s.append(edit_of(201, 60, SECRET_EDIT))
            .await
            .expect("append");
        assert!(s
            .rewrite("general", 60, Rewrite::Edit(text(SECRET_EDIT)))
            .await
            .expect("edit"));
        s.before("general", u64::MAX, 50).await.expect("page");
        s.after("general", 0, u64::MAX, 80).await.expect("page");
        assert_eq!(get(&s, 60).await.text.as_str(), SECRET_EDIT);
        let bytes = files(&dir);
        assert!(contains(&bytes, SECRET) && contains(&bytes, SECRET_EDIT));

        assert!(s
            .rewrite("general", 60, Rewrite::Delete)
            .await
            .expect("del"));
        assert_erased(&dir, "open");
        assert!(get(&s, 60).await.text.is_empty());
        assert!(get(&s, 201).await.text.is_empty());
        assert_eq!(get(&s, 130).await.text.as_str(), KEPT);
    }
    assert_erased(&dir, "closed");
}

#[tokio::test]
async fn no_copy_of_deleted_text_in_the_files_with_full_sync() {
    no_copy_of_deleted_text_in_the_files(true).await;
}

#[tokio::test]
async fn no_copy_of_deleted_text_in_the_files_without_full_sync() {
    no_copy_of_deleted_text_in_the_files(false).await;
}

#[tokio::test]
async fn meta_edits_and_tombstones_survive_a_reopen() {
    let dir = tmpdir("reopen");
    let nick = |n: &str| Nickname::new(n).expect("nick");
    let mut plain = msg(1, "hi @b @c");
    plain.meta.mentions = vec![nick("b"), nick("c")];
    let mut edit = edit_of(3, 1, "hello @b");
    edit.meta.mentions = vec![nick("b")];
    let mut deletion = msg(4, "x");
    deletion.text = MessageText::tombstone();
    deletion.meta = Meta {
        target: Some(2),
        deleted: true,
        ..Meta::default()
    };
    {
        let s = SqliteStore::open(&dir, KEEP, true).expect("open");
        s.append(plain.clone()).await.expect("append");
        s.append(msg(2, "gone")).await.expect("append");
        s.append(edit.clone()).await.expect("append");
        s.append(deletion.clone()).await.expect("append");
        s.append(msg(5, "plain")).await.expect("append");
        let rewrite = |id, change| s.rewrite("general", id, change);
        assert!(rewrite(1, Rewrite::Edit(text("hello @b")))
            .await
            .expect("edit"));
        assert!(rewrite(2, Rewrite::Delete).await.expect("del"));
    }
    let s = SqliteStore::open(&dir, KEEP, true).expect("reopen");
    let mut want = plain;
    want.text = text("hello @b");
    want.meta.edited = true;
    assert_eq!(get(&s, 1).await, want, "edited, mentions as appended");
    let mut gone = msg(2, "x");
    gone.text = MessageText::tombstone();
    gone.meta.deleted = true;
    assert_eq!(get(&s, 2).await, gone);
    assert_eq!(get(&s, 3).await, edit);
    assert_eq!(get(&s, 4).await, deletion);
    assert_eq!(get(&s, 5).await, msg(5, "plain"));
}

#[tokio::test]
async fn a_read_holding_its_snapshot_puts_the_erasure_off_until_a_later_checkpoint() {
    let dir = tmpdir("held");
    {
        let s = SqliteStore::open(&dir, KEEP, true).expect("open");
        s.append(msg(1, SECRET)).await.expect("append");
        s.append(msg(2, KEPT)).await.expect("append");
        // A reader of its own, as the store's own is between two reads.
        let held = super::schema::open_conn(&dir.join("chat.db")).expect("open");
        held.execute_batch("BEGIN; SELECT count(*) FROM messages;")
            .expect("snapshot");
        // The checkpoint gives up after a few tries; the deletion itself is done.
        assert!(s.rewrite("general", 1, Rewrite::Delete).await.expect("del"));
        assert!(contains(&files(&dir), SECRET), "still in the WAL");
        held.execute_batch("COMMIT").expect("end");
        assert!(get(&s, 1).await.text.is_empty());
    }
    // The shutdown's checkpoint truncates the WAL.
    assert_erased(&dir, "closed");
}
