//! Room memberships: `chat:members:<room>` maps nickname to node; `chat:rooms` lists rooms.

use super::{members_key, unavailable, Cluster, RELEASE_LUA, ROOMS};
use crate::broker::{Change, Presence, Restored};
use crate::error::StoreError;
use futures_util::future::{BoxFuture, FutureExt};
use redis::{AsyncCommands, Script};
use shared::{Nickname, RoomInfo, RoomName};

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
        async move {
            // Only if it still names this node: the user may have moved to another.
            let removed: i64 = Script::new(RELEASE_LUA)
                .key(&key)
                .arg(&nick)
                .arg(&node)
                .invoke_async(&mut c)
                .await
                .map_err(unavailable)?;
            if removed != 1 {
                return Ok(None);
            }
            let size: usize = c.hlen(&key).await.map_err(unavailable)?;
            Ok(Some(size))
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
