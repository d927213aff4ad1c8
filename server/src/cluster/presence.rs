//! Room memberships: `chat:members:<room>` maps nickname to node; `chat:rooms` lists rooms.

use super::{members_key, unavailable, Cluster, ROOMS};
use crate::broker::{Change, Presence, Restored};
use crate::error::StoreError;
use futures_util::future::{BoxFuture, FutureExt};
use redis::{AsyncCommands, Script};
use shared::{Nickname, RoomInfo, RoomName};

/// `RELEASE_LUA` for a membership, then the room's size after it (-1: nothing was removed),
/// and the room out of `chat:rooms` once nobody is in it. One script: a join between the
/// count and the removal cannot happen.
const LEAVE_LUA: &str = concat!(
    names_node_lua!(),
    "if not names_node then
  return -1
end
redis.call('HDEL', KEYS[1], ARGV[1])
local n = redis.call('HLEN', KEYS[1])
if n == 0 then
  redis.call('SREM', KEYS[2], ARGV[3])
end
return n
"
);

impl Presence for Cluster {
    fn join(&self, room: &RoomName, nick: &Nickname) -> BoxFuture<'static, Change> {
        let (mut c, node) = (self.conn(), self.node.clone());
        let (key, room, nick) = (
            members_key(room.as_str()),
            room.to_string(),
            nick.to_string(),
        );
        async move {
            let (added, _, size): (i64, i64, usize) = redis::pipe()
                .hset(&key, &nick, &node)
                .sadd(ROOMS, &room)
                .hlen(&key)
                .query_async(&mut c)
                .await
                .map_err(unavailable)?;
            Ok((added == 1).then_some(size))
        }
        .boxed()
    }

    fn leave(&self, room: &RoomName, nick: &Nickname) -> BoxFuture<'static, Change> {
        let (mut c, node) = (self.conn(), self.node.clone());
        let (key, nick) = (members_key(room.as_str()), nick.to_string());
        let room = room.to_string();
        async move {
            // Only if it still names this node: the user may have moved to another. The last
            // to leave takes the room out of the listing's set, which so stays bounded by the
            // rooms someone is in.
            let size: i64 = Script::new(LEAVE_LUA)
                .key(&key)
                .key(ROOMS)
                .arg(&nick)
                .arg(&node)
                .arg(&room)
                .invoke_async(&mut c)
                .await
                .map_err(unavailable)?;
            Ok(usize::try_from(size).ok())
        }
        .boxed()
    }

    fn members(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Nickname>, StoreError>> {
        let mut c = self.conn();
        let key = members_key(room.as_str());
        async move {
            let names: Vec<String> = c.hkeys(&key).await.map_err(unavailable)?;
            let mut v: Vec<Nickname> = names
                .into_iter()
                .filter_map(|n| Nickname::new(n).ok())
                .collect();
            v.sort();
            v.truncate(limit);
            Ok(v)
        }
        .boxed()
    }

    fn rooms(
        &self,
        after: Option<RoomName>,
        limit: usize,
    ) -> BoxFuture<'static, Result<(Vec<RoomInfo>, bool), StoreError>> {
        let mut c = self.conn();
        async move {
            let names: Vec<String> = c.smembers(ROOMS).await.map_err(unavailable)?;
            let mut names: Vec<RoomName> = names
                .into_iter()
                .filter_map(|n| RoomName::new(n).ok())
                .filter(|n| after.as_ref().is_none_or(|a| n > a))
                .collect();
            names.sort();
            let more = names.len() > limit;
            names.truncate(limit);
            if names.is_empty() {
                return Ok((Vec::new(), more));
            }
            let mut pipe = redis::pipe();
            for n in &names {
                pipe.hlen(members_key(n.as_str()));
            }
            let sizes: Vec<u32> = pipe.query_async(&mut c).await.map_err(unavailable)?;
            // A room everyone left stays in the set; it is not listed.
            let out = names
                .into_iter()
                .zip(sizes)
                .filter(|(_, members)| *members > 0)
                .map(|(name, members)| RoomInfo { name, members })
                .collect();
            Ok((out, more))
        }
        .boxed()
    }

    /// `HSETNX`: a membership another node holds now stays its.
    fn reassert(&self, memberships: Vec<(RoomName, Nickname)>) -> BoxFuture<'static, Restored> {
        let (mut c, node) = (self.conn(), self.node.clone());
        async move {
            if memberships.is_empty() {
                return Ok(Vec::new());
            }
            let mut pipe = redis::pipe();
            for (room, nick) in &memberships {
                let key = members_key(room.as_str());
                pipe.hset_nx(&key, nick.as_str(), &node)
                    .sadd(ROOMS, room.as_str())
                    .ignore()
                    .hlen(&key);
            }
            let answers: Vec<(bool, usize)> =
                pipe.query_async(&mut c).await.map_err(unavailable)?;
            Ok(memberships
                .into_iter()
                .zip(answers)
                .filter(|(_, (added, _))| *added)
                .map(|((room, nick), (_, size))| (room, nick, size))
                .collect())
        }
        .boxed()
    }
}
