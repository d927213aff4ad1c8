//! [`Rewrites`] on Redis. A stream entry cannot change, so:
//!
//! - an edit records the text now in `chat:edits:<channel>` (id → text), which history reads
//!   put in place of the original's text, marking it edited;
//! - a deletion removes the original entry and every edit entry of it from the stream (the
//!   append script lists edit entries in `chat:editof:<channel>`, scored by the message they
//!   edit), drops its edited text, and records a tombstone (`id|ts|author|sender`) in
//!   `chat:tombs:<channel>`, scored by id, which history reads merge in at its place.
//!
//! Each rewrite is one Lua script. It also forgets the edits, edit entries and tombstones
//! of messages below both the stream's first entry and its last `maxlen` ids: those the
//! stream's cap trimmed.

use super::{edit_entries_key, edits_key, log_key, seq_key, tombs_key, unavailable, Cluster};
use crate::error::StoreError;
use crate::store::{Rewrite, Rewrites};
use async_trait::async_trait;
use redis::Script;
use shared::MessageId;

/// Rewrites message `ARGV[1]` of stream `KEYS[1]`: with `ARGV[2]` = `e`, its text becomes
/// `ARGV[3]` (edits hash `KEYS[2]`); with `d`, its entry and its edit entries (listed in
/// `KEYS[3]`) are deleted and a tombstone recorded in `KEYS[4]`. Then forgets what the cap
/// (`ARGV[4]`, ids from `KEYS[5]`) trimmed. 0: no such message, not an original, or deleted.
const REWRITE_LUA: &str = r"
local id = ARGV[1]
local found = redis.call('XRANGE', KEYS[1], id .. '-0', id .. '-0')
if #found == 0 then return 0 end
local f, raw = {}, found[1][2]
for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
if f['g'] and f['g'] ~= '' and f['g'] ~= '0' then return 0 end
if ARGV[2] == 'e' then
  redis.call('HSET', KEYS[2], id, ARGV[3])
else
  for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], id, id)) do
    redis.call('XDEL', KEYS[1], entry)
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], id, id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('XDEL', KEYS[1], id .. '-0')
  redis.call('ZADD', KEYS[4], id, id .. '|' .. (f['ts'] or '0') .. '|' .. (f['a'] or '0') .. '|' .. (f['s'] or ''))
end
local bound = (tonumber(redis.call('GET', KEYS[5]) or '0') or 0) - tonumber(ARGV[4])
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #first > 0 then
  bound = math.min(bound, tonumber(string.match(first[1][1], '^%d+')) or 0)
end
if bound > 0 then
  local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. bound, 'WITHSCORES')
  for i = 2, #stale, 2 do redis.call('HDEL', KEYS[2], stale[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. bound)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. bound)
end
return 1
";

#[async_trait]
impl Rewrites for Cluster {
    async fn rewrite(
        &self,
        channel: &str,
        id: MessageId,
        change: Rewrite,
    ) -> Result<bool, StoreError> {
        self.durability()?;
        let (mode, text) = match &change {
            Rewrite::Edit(text) => ("e", text.as_str()),
            Rewrite::Delete => ("d", ""),
        };
        let done: i64 = Script::new(REWRITE_LUA)
            .key(log_key(channel))
            .key(edits_key(channel))
            .key(edit_entries_key(channel))
            .key(tombs_key(channel))
            .key(seq_key(channel))
            .arg(id)
            .arg(mode)
            .arg(text)
            .arg(self.maxlen)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(done == 1)
    }
}
