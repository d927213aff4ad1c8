//! The Lua scripts of `RedisConversations`: each check-then-write runs as one script, so no
//! other command sees it half done. Key names follow `conversations.rs`.

/// Records rules `ARGV[1]` (invite-only, `1`/`0`) and `ARGV[2]` (owner, empty: the admins)
/// of room `KEYS[1]` unless it has rules: 1 recorded, 0 it had some.
pub(super) const CREATE_ROOM_LUA: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'io', ARGV[1], 'owner', ARGV[2])
return 1
";

/// Adds channel `ARGV[1]` with read mark `ARGV[2]` at time `ARGV[3]` to the conversations
/// (`KEYS[1]` marks, `KEYS[2]` activity) of one account, past `ARGV[4]` dropping the least
/// recently active direct one (ties: by channel) for a new direct one, and its mute
/// (`KEYS[3]`). 0 new, 1 existing, 2 full.
pub(super) const ADD_LUA: &str = r"
local ch = ARGV[1]
if redis.call('HEXISTS', KEYS[1], ch) == 1 then
  redis.call('ZADD', KEYS[2], ARGV[3], ch)
  return 1
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  if string.sub(ch, 1, 3) ~= 'dm:' then return 2 end
  local oldest = nil
  local start = 0
  while not oldest do
    local batch = redis.call('ZRANGE', KEYS[2], start, start + 99)
    if #batch == 0 then break end
    for _, c in ipairs(batch) do
      if string.sub(c, 1, 3) == 'dm:' then oldest = c break end
    end
    start = start + 100
  end
  if not oldest then return 2 end
  redis.call('HDEL', KEYS[1], oldest)
  redis.call('ZREM', KEYS[2], oldest)
  redis.call('SREM', KEYS[3], oldest)
end
redis.call('HSET', KEYS[1], ch, ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ch)
return 0
";

/// Removes channel `ARGV[1]` from one account's conversations, and its mute: 1 removed, 0
/// not there.
pub(super) const REMOVE_LUA: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
";

/// Mutes (`ARGV[2]` = `1`) or unmutes channel `ARGV[1]` in the mute set `KEYS[2]` if it is
/// one of the account's conversations (`KEYS[1]`): 1 done, 0 not listed.
pub(super) const SET_MUTED_LUA: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] == '1' then
  redis.call('SADD', KEYS[2], ARGV[1])
else
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
";

/// Moves the read mark of channel `ARGV[1]` in `KEYS[1]` forward to `ARGV[2]` (decimal ids
/// compared exactly: by length, then by digits). The mark now, or nil: not listed.
pub(super) const MARK_READ_LUA: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return false end
local new = ARGV[2]
if #new > #cur or (#new == #cur and new > cur) then
  redis.call('HSET', KEYS[1], ARGV[1], new)
  return new
end
return cur
";

/// Lua that forgets the entries of the until-hash `KEYS[1]` whose score in its expiry set
/// `KEYS[2]` is at most `ARGV[1]` (now).
macro_rules! purge_lua {
    () => {
        "for _, f in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])) do
  redis.call('HDEL', KEYS[1], f)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
"
    };
}

/// Records sanction `ARGV[2]` (`subject|kind`) until `ARGV[3]` in room `KEYS[1]` (its expiry
/// set `KEYS[2]`) at `ARGV[1]`, unless it is new and `ARGV[4]` are in force: 1 recorded, 0
/// full.
pub(super) const SANCTION_LUA: &str = concat!(
    purge_lua!(),
    "if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 0 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"
);

/// Lifts sanction `ARGV[1]` of room `KEYS[1]` (expiry set `KEYS[2]`): 1 lifted, 0 none.
pub(super) const LIFT_LUA: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
";

/// Bans field `ARGV[2]` (a name) and, if not empty, `ARGV[3]` (an address) until `ARGV[4]`
/// in `KEYS[1]` (expiry set `KEYS[2]`) at `ARGV[1]`, unless two more would pass `ARGV[5]` in
/// force: 1 banned, 0 full.
pub(super) const BAN_GUEST_LUA: &str = concat!(
    purge_lua!(),
    "if redis.call('ZCARD', KEYS[2]) + 2 > tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
end
return 1
"
);
