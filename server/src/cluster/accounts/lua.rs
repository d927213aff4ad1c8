//! The Lua scripts of `RedisAccounts`: each change that touches more than one key runs as
//! one script, so no other command sees it half done. Key names follow `accounts.rs`.

/// Creates an account unless its key (or its external `sub`) is taken or the cap is reached:
/// -1 taken, -2 full, else the new id.
pub(super) const CREATE_LUA: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return -1 end
if ARGV[2] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return -1 end
local cap = tonumber(ARGV[3])
if cap > 0 and redis.call('HLEN', KEYS[1]) >= cap then return -2 end
local id = redis.call('INCR', KEYS[3])
local acct = 'chat:acct:' .. id
redis.call('HSET', acct, 'name', ARGV[4], 'key', ARGV[1], 'disabled', '0', 'created', ARGV[6])
if ARGV[5] ~= '' then redis.call('HSET', acct, 'phc', ARGV[5]) end
if ARGV[2] ~= '' then
  redis.call('HSET', acct, 'ext', ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[2], id)
end
redis.call('HSET', KEYS[1], ARGV[1], id)
redis.call('ZADD', KEYS[4], id, id)
return id
";

/// Lua that deletes every session listed in the sorted set `KEYS[2]`, and the set.
macro_rules! drop_sessions_lua {
    () => {
        "for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', 'chat:sess:' .. h)
end
redis.call('DEL', KEYS[2])
"
    };
}

/// Sets field `ARGV[1]` of account `KEYS[1]` to `ARGV[2]`, and with `ARGV[3]` = 1 deletes its
/// sessions too. 0: no such account.
pub(super) const SET_LUA: &str = concat!(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' then
",
    drop_sessions_lua!(),
    "end
return 1
"
);

/// Deletes every session of one account.
pub(super) const DROP_SESSIONS_LUA: &str = concat!(drop_sessions_lua!(), "return 1\n");

/// Records session `ARGV[1]` of account `ARGV[2]` at `ARGV[3]`, living `ARGV[4]` ms; drops the
/// account's sessions that expired by themselves, then its least recently used ones past
/// `ARGV[5]`.
pub(super) const CREATE_SESSION_LUA: &str = r"
redis.call('HSET', KEYS[1], 'a', ARGV[2], 'c', ARGV[3], 'u', ARGV[3], 'h', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', 'chat:sess:' .. h) == 0 then redis.call('ZREM', KEYS[2], h) end
end
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if over > 0 then
  for _, h in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    redis.call('DEL', 'chat:sess:' .. h)
    redis.call('ZREM', KEYS[2], h)
  end
end
return 1
";

/// Looks session `KEYS[1]` (hash hex `ARGV[1]`) up at `ARGV[2]` under idle lifetime `ARGV[3]`
/// and absolute lifetime `ARGV[4]`: deletes it if expired (nil), else writes its last use if
/// older than `ARGV[5]` ms, sets its expiry to when it would expire unused, and returns
/// {account, stored hex}.
pub(super) const SESSION_LUA: &str = r"
local v = redis.call('HMGET', KEYS[1], 'a', 'c', 'u', 'h')
if not v[1] then return false end
local now, c, u = tonumber(ARGV[2]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
local set = 'chat:acct:' .. v[1] .. ':sess'
local idle, absolute = tonumber(ARGV[3]), tonumber(ARGV[4])
if now - u >= idle or now - c >= absolute then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', set, ARGV[1])
  return false
end
if now - u >= tonumber(ARGV[5]) then
  u = now
  redis.call('HSET', KEYS[1], 'u', ARGV[2])
  redis.call('ZADD', set, ARGV[2], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], math.min(u + idle, c + absolute) - now)
return {v[1], v[4] or ''}
";

/// Deletes session `KEYS[1]` (hash hex `ARGV[1]`); returns its account, or nil.
pub(super) const DELETE_SESSION_LUA: &str = r"
local a = redis.call('HGET', KEYS[1], 'a')
if not a then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', 'chat:acct:' .. a .. ':sess', ARGV[1])
return a
";
