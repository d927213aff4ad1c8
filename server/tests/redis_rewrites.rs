//! Edits and deletions on Redis streams against a real redis-server: history pages show an
//! edited message's text now and a deleted one as a tombstone at its place, and a deleted
//! text is left nowhere in Redis.

mod common;

use common::cluster::Redis;
use server::broker::{Outgoing, Published, SharedLog};
use server::cluster::Cluster;
use server::store::{History, Meta, Page, Rewrite, Rewrites};
use shared::{MessageId, MessageText, Nickname};

const CH: &str = "general";

fn nick(s: &str) -> Nickname {
    Nickname::new(s).expect("nickname")
}

fn text(s: &str) -> MessageText {
    MessageText::new(s).expect("text")
}

async fn append(c: &Cluster, t: &MessageText, meta: Meta) -> MessageId {
    let sender = nick("alice");
    let out = Outgoing {
        channel: CH,
        sender: &sender,
        text: t,
        ts: 1_000,
        client_id: None,
        to: None,
        author: Some(7),
        meta: &meta,
    };
    match c.append(out).await.expect("append") {
        Published::Stored(id) => id,
        other => panic!("{other:?}"),
    }
}

fn edit_of(id: MessageId) -> Meta {
    Meta {
        target: Some(id),
        edited: true,
        ..Meta::default()
    }
}

fn ids(p: &Page) -> Vec<MessageId> {
    p.messages.iter().map(|m| m.id).collect()
}

/// Every value of every key in Redis, as one text.
async fn everything(url: &str) -> String {
    let client = redis::Client::open(url).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("scan");
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let mut all = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("type");
        let mut cmd = match kind.as_str() {
            "string" => redis::cmd("GET"),
            "hash" => redis::cmd("HGETALL"),
            "zset" => redis::cmd("ZRANGE"),
            "set" => redis::cmd("SMEMBERS"),
            "list" => redis::cmd("LRANGE"),
            "stream" => redis::cmd("XRANGE"),
            other => panic!("{key}: type {other}"),
        };
        cmd.arg(&key);
        match kind.as_str() {
            "zset" | "list" => cmd.arg(0).arg(-1),
            "stream" => cmd.arg("-").arg("+"),
            _ => &mut cmd,
        };
        let value: redis::Value = cmd.query_async(&mut conn).await.expect("read");
        all.push_str(&format!("{key} = {value:?}\n"));
    }
    all
}

#[tokio::test]
async fn edits_and_deletions_in_history() {
    let redis = Redis::start_with("rewrites", &[]);
    let c = Cluster::connect(&redis.url(), 100, false)
        .await
        .expect("cluster");
    let mentions = Meta {
        mentions: vec![nick("bob")],
        ..Meta::default()
    };
    let hello = append(&c, &text("hello @bob"), mentions.clone()).await;
    let secret = append(&c, &text("SECRET-original"), Meta::default()).await;
    let kept = append(&c, &text("keep-me"), Meta::default()).await;
    let secret_edit = append(&c, &text("SECRET-edit"), edit_of(secret)).await;
    let kept_edit = append(&c, &text("keep-me edited"), edit_of(kept)).await;
    let last = append(&c, &text("last"), Meta::default()).await;
    assert_eq!(
        [hello, secret, kept, secret_edit, kept_edit, last],
        [1, 2, 3, 4, 5, 6]
    );

    assert!(c
        .rewrite(CH, kept, Rewrite::Edit(text("keep-me edited")))
        .await
        .expect("edit"));
    assert!(c
        .rewrite(CH, secret, Rewrite::Edit(text("SECRET-edit")))
        .await
        .expect("edit"));
    assert!(
        !c.rewrite(CH, kept_edit, Rewrite::Delete)
            .await
            .expect("edit entry"),
        "an edit entry is not rewritten"
    );
    assert!(c
        .rewrite(CH, secret, Rewrite::Delete)
        .await
        .expect("delete"));
    assert!(
        !c.rewrite(CH, secret, Rewrite::Delete).await.expect("again"),
        "deleted already"
    );
    assert!(!c
        .rewrite(CH, secret, Rewrite::Edit(text("x")))
        .await
        .expect("edit deleted"));
    assert!(!c.rewrite(CH, 99, Rewrite::Delete).await.expect("missing"));
    let deletion = Meta {
        target: Some(secret),
        deleted: true,
        ..Meta::default()
    };
    let gone = append(&c, &MessageText::tombstone(), deletion.clone()).await;
    assert_eq!(gone, 7);

    // The whole history: the edit entry of the deleted message went with it.
    let page = c.after(CH, 0, 7, 10).await.expect("after");
    assert_eq!(ids(&page), vec![1, 2, 3, 5, 6, 7]);
    assert!(!page.has_more);
    let m = &page.messages;
    assert_eq!(m[0].meta, mentions);
    assert_eq!(m[0].author, Some(7));
    assert!(m[1].meta.deleted && m[1].text.is_empty(), "{:?}", m[1]);
    assert_eq!(
        (m[1].sender.as_str(), m[1].ts, m[1].author),
        ("alice", 1_000, Some(7))
    );
    assert_eq!(m[2].text.as_str(), "keep-me edited");
    assert!(m[2].meta.edited && m[2].meta.target.is_none());
    assert_eq!(m[3].meta, edit_of(kept));
    assert_eq!(m[4].text.as_str(), "last");
    assert!(!m[4].meta.edited);
    assert_eq!(m[5].meta, deletion);
    assert!(m[5].text.is_empty());

    // Pages around the tombstone.
    let page = c.after(CH, 0, 7, 2).await.expect("after");
    assert_eq!((ids(&page), page.has_more), (vec![1, 2], true));
    let page = c.after(CH, 1, 7, 2).await.expect("after");
    assert_eq!((ids(&page), page.has_more), (vec![2, 3], true));
    let page = c.after(CH, 3, 6, 5).await.expect("after");
    assert_eq!((ids(&page), page.has_more), (vec![5, 6], false));
    let page = c.before(CH, 8, 3).await.expect("before");
    assert_eq!((ids(&page), page.has_more), (vec![5, 6, 7], true));
    let page = c.before(CH, 5, 3).await.expect("before");
    assert_eq!((ids(&page), page.has_more), (vec![1, 2, 3], false));
    let page = c.before(CH, 3, 1).await.expect("before");
    assert_eq!((ids(&page), page.has_more), (vec![2], true));
    assert!(page.messages[0].meta.deleted);
    let page = c.before(CH, 2, 5).await.expect("before");
    assert_eq!((ids(&page), page.has_more), (vec![1], false));

    // No copy of the deleted text anywhere; the kept one is there.
    let all = everything(&redis.url()).await;
    assert!(!all.contains("SECRET-"), "{all}");
    assert!(all.contains("keep-me edited"), "{all}");
    assert!(all.contains("hello @bob"), "{all}");
}

#[tokio::test]
async fn another_node_reads_the_rewrites() {
    let redis = Redis::start_with("rewrites-shared", &[]);
    let a = Cluster::connect(&redis.url(), 100, false).await.expect("a");
    let b = Cluster::connect(&redis.url(), 100, false).await.expect("b");
    let one = append(&a, &text("one"), Meta::default()).await;
    let two = append(&a, &text("two"), Meta::default()).await;
    assert!(b
        .rewrite(CH, one, Rewrite::Edit(text("one, edited")))
        .await
        .expect("edit"));
    assert!(b.rewrite(CH, two, Rewrite::Delete).await.expect("delete"));
    let page = a.before(CH, 3, 10).await.expect("before");
    assert_eq!(ids(&page), vec![1, 2]);
    assert_eq!(page.messages[0].text.as_str(), "one, edited");
    assert!(page.messages[1].meta.deleted);
}
