//! History reads from the shared streams (`chat:log:<channel>`, entry id `<id>-0`).

use super::{log_key, seq_key, unavailable, Cluster};
use crate::error::StoreError;
use crate::store::{History, Page, StoredMessage};
use async_trait::async_trait;
use redis::AsyncCommands;
use shared::{ClientMsgId, MessageId, MessageText, Nickname};
use std::collections::HashMap;

fn parse_entries(channel: &str, raw: Vec<(String, HashMap<String, String>)>) -> Vec<StoredMessage> {
    raw.into_iter()
        .filter_map(|(id, fields)| {
            let id: MessageId = id.split('-').next()?.parse().ok()?;
            Some(StoredMessage {
                channel: channel.to_string(),
                id,
                sender: Nickname::new(fields.get("s")?.as_str()).ok()?,
                text: MessageText::new(fields.get("t")?.as_str()).ok()?,
                ts: fields.get("ts")?.parse().ok()?,
                client_id: fields
                    .get("c")
                    .and_then(|c| ClientMsgId::new(c.as_str()).ok()),
                // Entries from before accounts have no author: guests.
                author: fields
                    .get("a")
                    .and_then(|a| a.parse().ok())
                    .filter(|&a: &u64| a != 0),
                meta: Default::default(),
            })
        })
        .collect()
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
        let raw: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(log_key(channel))
            .arg(format!("({after}-0"))
            .arg(format!("{upto}-0"))
            .arg("COUNT")
            .arg(limit + 1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let messages = parse_entries(channel, raw);
        Ok(Page::from_overfetch(messages, limit, false))
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
        let raw: Vec<(String, HashMap<String, String>)> = redis::cmd("XREVRANGE")
            .arg(log_key(channel))
            .arg(format!("({before}-0"))
            .arg("-")
            .arg("COUNT")
            .arg(limit + 1)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        let messages = parse_entries(channel, raw);
        Ok(Page::from_overfetch(messages, limit, true))
    }

    fn epoch(&self) -> String {
        self.epoch.clone()
    }
}
