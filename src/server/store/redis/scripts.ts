/**
 * The Lua scripts of the Redis store. Every change to a channel is one script, so
 * Redis applies it atomically: a publish either stores the message, moves the
 * channel's last id and announces it, or does none of that.
 *
 * Data model, for a store with `keyPrefix` P and a channel id C (the id always comes
 * last in a key, so no id can make two keys collide):
 *
 * - `P` + `channel:` + C: hash `last` (`time:tag` of the newest message ever
 *   published), `requested` (unix second a subscriber last asked), `created`.
 * - `P` + `messages:` + C: stream of the buffered messages; the entry id IS the
 *   message id (`time-tag`), fields `b` (body) and `c` (Content-Type, absent when
 *   the publish had none). Reading "the first message after a cursor" is one
 *   `XRANGE (time-tag + COUNT 1`.
 * - `P` + `publish:` + sha1(C + NUL + key): the id a publish with that idempotency
 *   key got, so a retry returns it instead of storing the message twice.
 * - `P` + `daemons`: sorted set daemon id → millisecond (Redis clock) until which the
 *   daemon is alive; `P` + `daemon:` + D: hash channel → subscribers waiting on
 *   that daemon. A daemon that dies stops refreshing both and its subscribers stop
 *   counting within seconds.
 * - `P` + `events`: the one pub/sub channel of the store. Payloads are `m` + JSON
 *   head + `\n` + body (a message) or `d` + JSON head (a delete).
 *
 * Needs Redis 6.2 or later (`XRANGE` exclusive ranges, `XTRIM MINID`).
 *
 * @module
 */
import { createHash } from 'node:crypto';

/** A Lua script, run with `EVALSHA` (loaded up front; sent whole with `EVAL` if the server lost it). */
export interface RedisScript {
  readonly name: string;
  readonly lua: string;
  readonly sha1: string;
  /** Number of leading arguments that are keys. */
  readonly keys: number;
}

function script(name: string, keys: number, body: string): RedisScript {
  return rawScript(name, keys, `${PRELUDE}\n${body}`);
}

function rawScript(name: string, keys: number, lua: string): RedisScript {
  return { name, lua, keys, sha1: createHash('sha1').update(lua).digest('hex') };
}

/**
 * Shared helpers. Arguments common to the channel scripts:
 * KEYS[1] channel hash, KEYS[2] message stream, KEYS[3] daemons set;
 * ARGV[1] channel id, ARGV[2] daemon hash prefix, ARGV[3] maxMessages,
 * ARGV[4] minMessages, ARGV[5] messageTimeout (seconds, 0 = never),
 * ARGV[6] idle channel TTL (seconds).
 */
const PRELUDE = `
local channel_key, stream_key, daemons_key = KEYS[1], KEYS[2], KEYS[3]
local channel, daemon_prefix = ARGV[1], ARGV[2]
local max_messages, min_messages = tonumber(ARGV[3]), tonumber(ARGV[4])
local timeout, idle_ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
local clock = redis.call('TIME')
local now = tonumber(clock[1])
local now_ms = now * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function split_id(text)
  local time, tag = string.match(text, '^(%d+)[-:](%d+)$')
  return tonumber(time), tonumber(tag)
end

-- Drop expired messages (older than timeout seconds) but keep the newest min_messages.
-- A message of second s is expired once now - s > timeout: it lived at least timeout seconds.
local function drop_expired()
  if timeout <= 0 then return end
  local count = redis.call('XLEN', stream_key)
  if count <= min_messages then return end
  local keep_from = now - timeout
  if min_messages > 0 then
    local newest = redis.call('XREVRANGE', stream_key, '+', '-', 'COUNT', min_messages)
    local oldest_kept = newest[#newest][1]
    local time = split_id(oldest_kept)
    if time < keep_from then
      redis.call('XTRIM', stream_key, 'MINID', oldest_kept)
      return
    end
  end
  redis.call('XTRIM', stream_key, 'MINID', keep_from .. '-0')
end

-- Subscribers waiting on the channel, summed over the daemons that are still alive.
local function subscribers()
  local total = 0
  for _, daemon in ipairs(redis.call('ZRANGEBYSCORE', daemons_key, now_ms, '+inf')) do
    local count = redis.call('HGET', daemon_prefix .. daemon, channel)
    if count then total = total + tonumber(count) end
  end
  return total
end

-- Keys live while they are needed: buffered messages until they expire (forever when
-- they never expire), a channel without messages for idle_ttl after its last use.
local function refresh_ttl()
  local count = redis.call('XLEN', stream_key)
  if count == 0 then
    redis.call('DEL', stream_key)
    if redis.call('TTL', channel_key) < idle_ttl then redis.call('EXPIRE', channel_key, idle_ttl) end
  elseif timeout <= 0 or min_messages > 0 then
    redis.call('PERSIST', channel_key)
    redis.call('PERSIST', stream_key)
  else
    local ttl = math.max(timeout + 1, idle_ttl)
    redis.call('EXPIRE', channel_key, ttl)
    redis.call('EXPIRE', stream_key, ttl)
  end
end

-- {messages, seconds since last request or -1, subscribers, last id or false}
local function info()
  local requested = redis.call('HGET', channel_key, 'requested')
  local ago = -1
  if requested then ago = math.max(0, now - tonumber(requested)) end
  local last = redis.call('HGET', channel_key, 'last')
  return {redis.call('XLEN', stream_key), ago, subscribers(), last or false}
end

local function exists()
  return redis.call('EXISTS', channel_key) == 1 or subscribers() > 0
end
`;

/**
 * Append a message. KEYS[4] idempotency key ('' for none). ARGV[7] events channel,
 * ARGV[8] '1' to create an unknown channel, ARGV[9] '1' when a Content-Type is
 * given, ARGV[10] Content-Type, ARGV[11] body, ARGV[12] idempotency TTL (seconds),
 * ARGV[13] the newest second ids had before Redis lost its data (0 when it did not).
 *
 * Returns false when the channel does not exist and may not be created, else
 * {time, tag, duplicate 0/1, info...}.
 */
export const PUBLISH = script(
  'publish',
  4,
  `
local idempotency_key = KEYS[4]
if idempotency_key ~= '' then
  local earlier = redis.call('GET', idempotency_key)
  if earlier then
    local time, tag = split_id(earlier)
    drop_expired()
    local result = {time, tag, 1}
    for _, value in ipairs(info()) do table.insert(result, value) end
    return result
  end
end
if ARGV[8] ~= '1' and not exists() then return false end

-- The id comes from Redis' clock, never from a daemon: same second -> next tag,
-- later second -> tag 0; a clock that stepped back keeps the last second.
local time, tag = now, 0
local last = redis.call('HGET', channel_key, 'last')
if last then
  local last_time, last_tag = split_id(last)
  if last_time >= now then time, tag = last_time, last_tag + 1 end
elseif now <= tonumber(ARGV[13]) then
  -- Redis lost its data and came back within the second of ids handed out before:
  -- start after that second, so no subscriber's cursor is at or past the new id.
  time = tonumber(ARGV[13]) + 1
end
local entry = {'b', ARGV[11]}
if ARGV[9] == '1' then table.insert(entry, 'c'); table.insert(entry, ARGV[10]) end
-- The first write; if it fails nothing else was written.
redis.call('XADD', stream_key, 'MAXLEN', max_messages, time .. '-' .. tag, unpack(entry))
redis.call('HSET', channel_key, 'last', time .. ':' .. tag)
redis.call('HSETNX', channel_key, 'created', now)
drop_expired()
refresh_ttl()
if idempotency_key ~= '' then
  redis.call('SET', idempotency_key, time .. ':' .. tag, 'EX', tonumber(ARGV[12]))
end
local head = {c = channel, t = time, g = tag}
if ARGV[9] == '1' then head.y = ARGV[10] end
redis.call('PUBLISH', ARGV[7], 'm' .. cjson.encode(head) .. '\\n' .. ARGV[11])
local result = {time, tag, 0}
for _, value in ipairs(info()) do table.insert(result, value) end
return result
`,
);

/**
 * The first buffered message after a cursor. ARGV[7] the XRANGE start (`-` for the
 * oldest, `(time-tag` for strictly after, `time-0` for from the start of a second).
 *
 * Returns {exists 0/1, last id or false, entry or false} where entry is
 * {id, {field, value, ...}}.
 */
export const NEXT = script(
  'next',
  3,
  `
drop_expired()
local found = exists()
if redis.call('EXISTS', channel_key) == 1 then
  redis.call('HSET', channel_key, 'requested', now)
  refresh_ttl()
end
local entries = redis.call('XRANGE', stream_key, ARGV[7], '+', 'COUNT', 1)
return {found and 1 or 0, redis.call('HGET', channel_key, 'last') or false, entries[1] or false}
`,
);

/** The buffered messages after a cursor (catch-up after a lost subscription). ARGV[7] the start. */
export const AFTER = script(
  'after',
  3,
  `
drop_expired()
return redis.call('XRANGE', stream_key, ARGV[7], '+')
`,
);

/** Channel info, or false when the channel does not exist. */
export const INFO = script(
  'info',
  3,
  `
drop_expired()
if not exists() then return false end
return info()
`,
);

/** Delete a channel and announce it. ARGV[7] events channel. Returns the info before, or false. */
export const DELETE = script(
  'delete',
  3,
  `
drop_expired()
if not exists() then return false end
local before = info()
redis.call('DEL', channel_key, stream_key)
redis.call('PUBLISH', ARGV[7], 'd' .. cjson.encode({c = channel}))
return before
`,
);

/**
 * Change this daemon's subscriber count for a channel by a delta (+1 / -1): deltas
 * commute, so two changes applied in another order than sent give the same count.
 * KEYS[4] this daemon's hash. ARGV[7] the delta, ARGV[8] the daemon hash TTL in ms,
 * ARGV[9] '1' to create the channel (a subscriber starts waiting on it).
 */
export const SUBSCRIBERS = script(
  'subscribers',
  4,
  `
local count = redis.call('HINCRBY', KEYS[4], channel, tonumber(ARGV[7]))
if count <= 0 then redis.call('HDEL', KEYS[4], channel) end
redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[8]))
if ARGV[9] == '1' then
  -- The subscriber asked just now (its read did not record it on a new channel).
  redis.call('HSETNX', channel_key, 'created', now)
  redis.call('HSET', channel_key, 'requested', now)
  refresh_ttl()
end
return count
`,
);

/**
 * Keep this daemon alive for ARGV[1] ms (Redis clock) and forget daemons dead for a
 * minute. KEYS[1] daemons set, KEYS[2] this daemon's hash; ARGV[2] daemon id;
 * ARGV[3] '1' to replace the hash with the channel, count pairs in ARGV[4..] (all
 * of this daemon's counts, written after a reconnect).
 */
export const HEARTBEAT = rawScript(
  'heartbeat',
  2,
  `
local clock = redis.call('TIME')
local now_ms = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local alive = tonumber(ARGV[1])
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[2])
  for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
end
redis.call('ZADD', KEYS[1], now_ms + alive, ARGV[2])
redis.call('PEXPIRE', KEYS[2], alive)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - 60000)
return now_ms
`,
);

/** Every script, loaded before first use (`SCRIPT LOAD` at open and after a reconnect). */
export const ALL_SCRIPTS: readonly RedisScript[] = [
  PUBLISH,
  NEXT,
  AFTER,
  INFO,
  DELETE,
  SUBSCRIBERS,
  HEARTBEAT,
];
