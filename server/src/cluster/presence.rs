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

    fn rooms(&self) -> BoxFuture<'static, Result<Vec<RoomInfo>, StoreError>> {
        let mut c = self.conn();
        async move {
            let names: Vec<String> = c.smembers(ROOMS).await.map_err(unavailable)?;
            let mut out = Vec::new();
            for n in names {
                let Ok(name) = RoomName::new(n) else { continue };
                let members: u32 = c
                    .hlen(members_key(name.as_str()))
                    .await
                    .map_err(unavailable)?;
                out.push(RoomInfo { name, members });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(out)
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
