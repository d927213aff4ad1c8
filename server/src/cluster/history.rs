//! History reads from the shared streams (`chat:log:<channel>`, entry id `<id>-0`), with the
//! rewrites of `rewrites.rs` applied: an edited message shows its text now (from
//! `chat:edits:<channel>`), and a deleted one is a tombstone (from `chat:tombs:<channel>`)
//! at its place.

use super::{edits_key, log_key, seq_key, tombs_key, unavailable, Cluster};
use crate::error::StoreError;
use crate::store::{History, Meta, Page, StoredMessage};
use async_trait::async_trait;
use redis::AsyncCommands;
use shared::{ClientMsgId, MessageId, MessageText, Nickname};
use std::collections::HashMap;

type Entries = Vec<(String, HashMap<String, String>)>;

fn parse_entries(channel: &str, raw: Entries) -> Vec<StoredMessage> {
    raw.into_iter()
        .filter_map(|(id, fields)| {
            let id: MessageId = id.split('-').next()?.parse().ok()?;
            let text = fields.get("t")?;
            let text = if text.is_empty() {
                MessageText::tombstone()
            } else {
                MessageText::new(text.as_str()).ok()?
            };
            let target = fields
                .get("g")
                .and_then(|g| g.parse().ok())
                .filter(|&g: &MessageId| g != 0);
            let flags = fields.get("f").and_then(|f| f.parse().ok()).unwrap_or(0);
            let mentions = fields
                .get("m")
                .map(String::as_str)
                .filter(|m| !m.is_empty());
            Some(StoredMessage {
                channel: channel.to_string(),
                id,
                sender: Nickname::new(fields.get("s")?.as_str()).ok()?,
                text,
                ts: fields.get("ts")?.parse().ok()?,
                client_id: fields
                    .get("c")
                    .and_then(|c| ClientMsgId::new(c.as_str()).ok()),
                // Entries from before accounts have no author: guests.
                author: fields
                    .get("a")
                    .and_then(|a| a.parse().ok())
                    .filter(|&a: &u64| a != 0),
                meta: Meta::from_columns(target, flags, mentions),
            })
        })
        .collect()
}

/// Tombstones from their members in `chat:tombs:<channel>`: `id|ts|author|sender`.
fn parse_tombstones(channel: &str, members: Vec<String>) -> Vec<StoredMessage> {
    members
        .into_iter()
        .filter_map(|m| {
            let mut parts = m.splitn(4, '|');
            let id = parts.next()?.parse().ok()?;
            let ts = parts.next()?.parse().ok()?;
            let author = parts.next()?.parse().ok().filter(|&a: &u64| a != 0);
            let sender = Nickname::new(parts.next()?).ok()?;
            Some(StoredMessage {
                channel: channel.to_string(),
                id,
                sender,
                text: MessageText::tombstone(),
                ts,
                client_id: None,
                author,
                meta: Meta {
                    deleted: true,
                    ..Meta::default()
                },
            })
        })
        .collect()
}

impl Cluster {
    /// A page from stream entries and tombstones (each at most `limit + 1`, in the order of
    /// the query), merged by id, with the edited texts applied.
    async fn page(
        &self,
        channel: &str,
        raw: Entries,
        tombs: Vec<String>,
        limit: usize,
        newest_first: bool,
    ) -> Result<Page, StoreError> {
        let mut all = parse_entries(channel, raw);
        all.extend(parse_tombstones(channel, tombs));
        // A tombstone sorts before an entry of the same id, and only the first is kept.
        all.sort_by_key(|m| (m.id, !m.meta.deleted));
        all.dedup_by_key(|m| m.id);
        if newest_first {
            all.reverse();
        }
        all.truncate(limit + 1);
        let originals: Vec<usize> = (0..all.len().min(limit))
            .filter(|&i| all[i].meta.target.is_none() && !all[i].meta.deleted)
            .collect();
        if !originals.is_empty() {
            let ids: Vec<MessageId> = originals.iter().map(|&i| all[i].id).collect();
            let edits: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(edits_key(channel))
                .arg(&ids)
                .query_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
            for (i, text) in originals.into_iter().zip(edits) {
                if let Some(text) = text.and_then(|t| MessageText::new(t).ok()) {
                    all[i].text = text;
                    all[i].meta.edited = true;
                }
            }
        }
        Ok(Page::from_overfetch(all, limit, newest_first))
    }
}

#[async_trait]
impl History for Cluster {
    async fn last_id(&self, channel: &str) -> Result<MessageId, StoreError> {
        let v: Option<u64> = self
            .conn()
            .get(seq_key(channel))
            .await
            .map_err(unavailable)?;
        Ok(v.unwrap_or(0))
    }

    async fn after(
        &self,
        channel: &str,
        after: MessageId,
        upto: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        if upto <= after {
            return Ok(Page::default());
        }
        // One transaction: a deletion lands wholly before or wholly after the read.
        let (raw, tombs): (Entries, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("XRANGE")
            .arg(log_key(channel))
            .arg(format!("({after}-0"))
            .arg(format!("{upto}-0"))
            .arg("COUNT")
            .arg(limit + 1)
            .cmd("ZRANGEBYSCORE")
            .arg(tombs_key(channel))
            .arg(format!("({after}"))
            .arg(upto)
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        self.page(channel, raw, tombs, limit, false).await
    }

    async fn before(
        &self,
        channel: &str,
        before: MessageId,
        limit: usize,
    ) -> Result<Page, StoreError> {
        if before <= 1 {
            return Ok(Page::default());
        }
        let (raw, tombs): (Entries, Vec<String>) = redis::pipe()
            .atomic()
            .cmd("XREVRANGE")
            .arg(log_key(channel))
            .arg(format!("({before}-0"))
            .arg("-")
            .arg("COUNT")
            .arg(limit + 1)
            .cmd("ZREVRANGEBYSCORE")
            .arg(tombs_key(channel))
            .arg(format!("({before}"))
            .arg("-inf")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        self.page(channel, raw, tombs, limit, true).await
    }

    fn epoch(&self) -> String {
        self.epoch.clone()
    }
}
