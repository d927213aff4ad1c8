//! Nickname claims: `chat:users` maps a nickname's [`NickKey`] to `node|resume-token`, so
//! nicknames that cannot be told apart are one claim across nodes. A claim held by a node
//! whose heartbeat lapsed is free, except after a cluster-wide outage: before the first
//! heartbeat since (no `chat:pulse`) and in the grace it starts (`nodes.rs`). A node back
//! from an outage writes its claims again (`reassert`).

use super::nodes::{GRACE_KEY, PULSE_KEY};
use super::{bus, node_key, unavailable, Cluster, RELEASE_LUA, USERS};
use crate::broker::{Claim, Event, Registry};
use crate::error::StoreError;
use crate::nick_key::NickKey;
use async_trait::async_trait;
use redis::{AsyncCommands, Script};
use shared::Nickname;

const CLAIM_LUA: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local node, tok = string.match(cur, '^([^|]*)|(.*)$')
  if ARGV[4] ~= '' and ARGV[4] == tok then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
    return {2, node, ARGV[3]}
  end
  if node ~= ARGV[2] and (redis.call('EXISTS', 'chat:node:' .. node) == 1
      or redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 0) then
    return {0}
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
return {1}
";

/// Writes each (key, token) of ARGV[2..] for node ARGV[1], unless another node holds the key
/// now; returns those keys. Another node got it after this one (this one looked dead, or the
/// user resumed there and the kick was missed): the newer claim wins, even if its node has
/// not refreshed its heartbeat since the outage.
const REASSERT_LUA: &str = r"
local lost = {}
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local node = cur and string.match(cur, '^([^|]*)|')
  if node and node ~= ARGV[1] then
    table.insert(lost, ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[1] .. '|' .. ARGV[i + 1])
  end
end
return lost
";

/// Claims re-asserted per script call: Redis runs nothing else while a script runs.
const REASSERT_BATCH: usize = 256;

#[async_trait]
impl Registry for Cluster {
    async fn claim(
        &self,
        key: &NickKey,
        nick: &Nickname,
        token: &str,
        resume: Option<&str>,
    ) -> Result<Claim, StoreError> {
        let r: Vec<String> = Script::new(CLAIM_LUA)
            .key(USERS)
            .key(GRACE_KEY)
            .key(PULSE_KEY)
            .arg(key.as_str())
            .arg(&self.node)
            .arg(token)
            .arg(resume.unwrap_or(""))
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(match r.first().map(String::as_str) {
            Some("1") => Claim::New,
            Some("2") => {
                let node = r.get(1).cloned().unwrap_or_default();
                let token = r.get(2).cloned().unwrap_or_default();
                if node != self.node {
                    let kick = Event::Kick {
                        nick: nick.to_string(),
                        node,
                    };
                    let _ = bus::publish_now(&mut self.conn(), &kick).await;
                }
                Claim::TakenOver { token }
            }
            _ => Claim::Taken,
        })
    }

    /// Releases a nickname held by this node.
    fn release(&self, key: &NickKey) {
        let (mut c, node, key) = (self.conn(), self.node.clone(), key.as_str().to_owned());
        tokio::spawn(async move {
            let released = Script::new(RELEASE_LUA)
                .key(USERS)
                .arg(&key)
                .arg(&node)
                .invoke_async::<i64>(&mut c)
                .await;
            if let Err(e) = released {
                tracing::warn!(cause = %e, "nickname release failed");
            }
        });
    }

    /// Whether a nickname with `key` is connected to any live node.
    async fn online(&self, key: &NickKey) -> Result<bool, StoreError> {
        let v: Option<String> = self
            .conn()
            .hget(USERS, key.as_str())
            .await
            .map_err(unavailable)?;
        let Some(node) = v.as_deref().and_then(|v| v.split('|').next()) else {
            return Ok(false);
        };
        let alive: bool = self
            .conn()
            .exists(node_key(node))
            .await
            .map_err(unavailable)?;
        Ok(alive)
    }

    async fn reassert(&self, users: Vec<(NickKey, String)>) -> Result<Vec<NickKey>, StoreError> {
        let mut lost = Vec::new();
        for batch in users.chunks(REASSERT_BATCH) {
            let script = Script::new(REASSERT_LUA);
            let mut call = script.key(USERS);
            call.arg(&self.node);
            for (key, token) in batch {
                call.arg(key.as_str()).arg(token);
            }
            let taken: Vec<String> = call
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
            lost.extend(
                batch
                    .iter()
                    .filter(|(key, _)| taken.iter().any(|t| t == key.as_str()))
                    .map(|(key, _)| key.clone()),
            );
        }
        Ok(lost)
    }
}
