//! The in-memory store: per-channel ring buffers and a bounded client-id index.

use super::client_ids::{ClientIds, CLIENT_ID_WINDOW};
use super::{Appended, History, Journal, Page, Rewrite, Rewrites, StoredAck, StoredMessage};
use crate::error::StoreError;
use async_trait::async_trait;
use shared::{MessageId, MessageText};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

struct Inner {
    channels: HashMap<String, VecDeque<StoredMessage>>,
    client_ids: ClientIds,
}

/// History in memory, `retention` messages per channel. A std mutex is enough: every
/// operation is a short, non-blocking update, never held across an await.
pub struct MemoryStore {
    retention: usize,
    epoch: String,
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new(retention: usize) -> Self {
        Self::with_window(retention, CLIENT_ID_WINDOW)
    }

    /// `new`, remembering `window` client ids rather than `CLIENT_ID_WINDOW`.
    pub fn with_window(retention: usize, window: usize) -> Self {
        MemoryStore {
            retention: retention.max(1),
            epoch: crate::util::random_hex(),
            inner: Mutex::new(Inner {
                channels: HashMap::new(),
                client_ids: ClientIds::new(window),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        crate::util::lock(&self.inner)
    }
}

#[async_trait]
impl History for MemoryStore {
    async fn last_id(&self, channel: &str) -> Result<MessageId, StoreError> {
        Ok(self
            .lock()
            .channels
            .get(channel)
            .and_then(|c| c.back())
            .map_or(0, |m| m.id))
    }

    async fn after(
        &self,
        channel: &str,
        after: MessageId,
        upto: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let inner = self.lock();
        let Some(log) = inner.channels.get(channel) else {
            return Ok(Page::default());
        };
        let start = log.partition_point(|m| m.id <= after);
        let mut iter = log.range(start..).take_while(|m| m.id <= upto);
        let messages: Vec<_> = iter.by_ref().take(limit).cloned().collect();
        let has_more = iter.next().is_some();
        Ok(Page { messages, has_more })
    }

    async fn before(
        &self,
        channel: &str,
        before: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let inner = self.lock();
        let Some(log) = inner.channels.get(channel) else {
            return Ok(Page::default());
        };
        let end = log.partition_point(|m| m.id < before);
        let start = end.saturating_sub(limit);
        let messages = log.range(start..end).cloned().collect();
        Ok(Page {
            messages,
            has_more: start > 0,
        })
    }

    fn epoch(&self) -> String {
        self.epoch.clone()
    }
}

#[async_trait]
impl Journal for MemoryStore {
    async fn append(&self, msg: StoredMessage) -> Result<Appended, StoreError> {
        let mut inner = self.lock();
        if let Some(cid) = &msg.client_id {
            let ack = StoredAck {
                id: msg.id,
                ts: msg.ts,
            };
            if let Some(original) = inner.client_ids.remember(&msg.sender, msg.author, cid, ack) {
                return Ok(Appended::Duplicate(original));
            }
        }
        let retention = self.retention;
        let log = inner.channels.entry(msg.channel.clone()).or_default();
        log.push_back(msg);
        while log.len() > retention {
            log.pop_front();
        }
        Ok(Appended::Stored)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl Rewrites for MemoryStore {
    async fn rewrite(
        &self,
        channel: &str,
        id: MessageId,
        change: Rewrite,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(log) = inner.channels.get_mut(channel) else {
            return Ok(false);
        };
        let at = log.partition_point(|m| m.id < id);
        let Some(m) = log.get_mut(at).filter(|m| m.id == id) else {
            return Ok(false);
        };
        if m.meta.target.is_some() || m.meta.deleted {
            return Ok(false);
        }
        match change {
            Rewrite::Edit(text) => {
                m.text = text;
                m.meta.edited = true;
            }
            Rewrite::Delete => {
                m.text = MessageText::tombstone();
                m.meta.deleted = true;
                // Its edits come after it.
                for e in log.range_mut(at + 1..) {
                    if e.meta.target == Some(id) {
                        e.text = MessageText::tombstone();
                    }
                }
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Meta;
    use shared::{ClientMsgId, Nickname};

    fn msg(id: u64, cid: Option<&str>) -> StoredMessage {
        StoredMessage {
            channel: "general".into(),
            id,
            sender: Nickname::new("a").expect("nick"),
            text: MessageText::new(format!("m{id}")).expect("text"),
            ts: id as i64,
            client_id: cid.map(|c| ClientMsgId::new(c).expect("cid")),
            author: None,
            meta: Default::default(),
        }
    }

    #[tokio::test]
    async fn pages_and_retention() {
        let s = MemoryStore::new(5);
        for id in 1..=8 {
            s.append(msg(id, None)).await.expect("append");
        }
        assert_eq!(s.last_id("general").await.expect("last"), 8);
        let p = s.before("general", u64::MAX, 3).await.expect("page");
        assert_eq!(
            p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![6, 7, 8]
        );
        assert!(p.has_more);
        let p = s.before("general", 6, 10).await.expect("page");
        assert_eq!(
            p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert!(!p.has_more);
        let p = s.after("general", 5, 7, 10).await.expect("page");
        assert_eq!(
            p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![6, 7]
        );
        assert!(!p.has_more);
        let p = s.after("general", 0, 8, 2).await.expect("page");
        assert_eq!(
            p.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
            vec![4, 5]
        );
        assert!(p.has_more);
    }

    #[tokio::test]
    async fn client_ids() {
        let s = MemoryStore::new(5);
        assert_eq!(
            s.append(msg(1, Some("x"))).await.expect("append"),
            Appended::Stored
        );
        match s.append(msg(2, Some("x"))).await.expect("append") {
            Appended::Duplicate(ack) => assert_eq!(ack.id, 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.last_id("general").await.expect("last"), 1);
        assert_eq!(
            s.append(msg(2, Some("y"))).await.expect("append"),
            Appended::Stored
        );
    }

    fn text(t: &str) -> MessageText {
        MessageText::new(t).expect("text")
    }

    /// Message `id` of `general` as history returns it.
    async fn get(s: &MemoryStore, id: u64) -> StoredMessage {
        let p = s.after("general", id - 1, id, 1).await.expect("page");
        p.messages.into_iter().next().expect("message")
    }

    #[tokio::test]
    async fn edits() {
        let s = MemoryStore::new(50);
        s.append(msg(1, None)).await.expect("append");
        let mut e = msg(2, None);
        e.text = text("new");
        e.meta = Meta {
            target: Some(1),
            edited: true,
            ..Meta::default()
        };
        s.append(e).await.expect("append");
        assert!(s
            .rewrite("general", 1, Rewrite::Edit(text("new")))
            .await
            .expect("edit"));
        let m = get(&s, 1).await;
        assert_eq!(m.text.as_str(), "new");
        assert!(m.meta.edited && !m.meta.deleted);
        // No such message, an edit itself, another channel: nothing to edit.
        for (channel, id) in [("general", 9), ("general", 2), ("other", 1)] {
            assert!(!s
                .rewrite(channel, id, Rewrite::Edit(text("x")))
                .await
                .expect("edit"));
        }
        assert_eq!(get(&s, 2).await.text.as_str(), "new");
    }

    #[tokio::test]
    async fn deletions_erase_the_message_and_its_edits() {
        let s = MemoryStore::new(50);
        let mut m = msg(1, None);
        m.meta.mentions = vec![Nickname::new("b").expect("nick")];
        s.append(m).await.expect("append");
        let mut e = msg(2, None);
        e.meta = Meta {
            target: Some(1),
            edited: true,
            ..Meta::default()
        };
        s.append(e).await.expect("append");
        s.append(msg(3, None)).await.expect("append");
        assert!(s.rewrite("general", 1, Rewrite::Delete).await.expect("del"));
        let m = get(&s, 1).await;
        assert!(m.text.is_empty() && m.meta.deleted);
        assert_eq!(m.meta.mentions.len(), 1, "meta stays");
        let e = get(&s, 2).await;
        assert!(e.text.is_empty() && e.meta.target == Some(1) && !e.meta.deleted);
        assert_eq!(get(&s, 3).await.text.as_str(), "m3");
        // Deleted already: neither edited nor deleted again.
        assert!(!s.rewrite("general", 1, Rewrite::Delete).await.expect("del"));
        assert!(!s
            .rewrite("general", 1, Rewrite::Edit(text("back")))
            .await
            .expect("edit"));
        assert!(get(&s, 1).await.text.is_empty());
    }
}
