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
 *   message id (`time-tag`), fields `b` (body), `c` (Content-Type) and `e`
 *   (`X-EventSource-Event`), the last two absent when the publish had none. Reading "the first message after a cursor" is one
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
import type { ChannelInfo, Message, MessageId, StoreEvent } from '../types.js';

/**
 * A Lua script with its arguments and reply typed once: `encode` puts the arguments in
 * the order the Lua reads them (KEYS, then ARGV), `parse` turns Redis' reply into the
 * shape callers use. Run with `EVALSHA` (loaded up front; sent whole with `EVAL` if the
 * server lost it).
 */
export interface RedisScript<Args, Reply> {
  readonly name: string;
  readonly lua: string;
  readonly sha1: string;
  /** The script's KEYS and ARGV for these arguments. */
  encode(args: Args): ScriptCall;
  /** The reply as the store uses it (Redis' reply as `callBuffer` gives it: Buffers, numbers, arrays, null). */
  parse(reply: unknown): Reply;
}

/** What `EVALSHA` sends after the script's hash. */
export interface ScriptCall {
  keys: string[];
  argv: (string | Buffer)[];
}

/** Any script, whatever its arguments and reply (for loading them all). */
export type AnyRedisScript = RedisScript<never, unknown>;

/**
 * Define a script: its Lua text, how its arguments are sent and how its reply is read.
 *
 * @param name a name for errors and logs
 * @param lua the whole script
 * @param encode the arguments as KEYS and ARGV
 * @param parse the reply as callers use it
 * @returns the script, with its SHA1 for `EVALSHA`
 * @example
 * const GET = defineScript('get', "return redis.call('GET', KEYS[1])",
 *   (key: string) => ({ keys: [key], argv: [] }), (reply) => (reply as Buffer | null)?.toString());
 */
export function defineScript<Args, Reply>(
  name: string,
  lua: string,
  encode: (args: Args) => ScriptCall,
  parse: (reply: unknown) => Reply,
): RedisScript<Args, Reply> {
  return { name, lua, sha1: createHash('sha1').update(lua).digest('hex'), encode, parse };
}

/** A channel script: the shared helpers, then `body`; its arguments start with a {@link ChannelScope}. */
function channelScript<Args extends { scope: ChannelScope }, Reply>(
  name: string,
  body: string,
  extra: (args: Args) => ScriptCall,
  parse: (reply: unknown) => Reply,
): RedisScript<Args, Reply> {
  return defineScript(
    name,
    `${PRELUDE}\n${body}`,
    (args) => {
      const { keys, argv } = extra(args);
      const { scope } = args;
      return {
        keys: [scope.channelKey, scope.streamKey, scope.daemonsKey, ...keys],
        argv: [
          scope.channel,
          scope.daemonPrefix,
          String(scope.maxMessages),
          String(scope.minMessages),
          String(scope.messageTimeout),
          String(scope.idleTtl),
          ...argv,
        ],
      };
    },
    parse,
  );
}

/**
 * What every channel script is told first: the channel's keys and the store's limits
 * (KEYS[1..3] and ARGV[1..6] of the shared helpers below).
 */
export interface ChannelScope {
  /** `P` + `channel:` + C */
  channelKey: string;
  /** `P` + `messages:` + C */
  streamKey: string;
  /** `P` + `daemons` */
  daemonsKey: string;
  /** The channel id C. */
  channel: string;
  /** `P` + `daemon:` (a daemon's hash is this + its id). */
  daemonPrefix: string;
  maxMessages: number;
  minMessages: number;
  /** Whole seconds a message lives, 0 = forever. */
  messageTimeout: number;
  /** Seconds a channel without messages is kept after its last use. */
  idleTtl: number;
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
 * ARGV[13] the newest second ids had before Redis lost its data (0 when it did not),
 * ARGV[14] the `X-EventSource-Event` ('' for none).
 *
 * Returns false when the channel does not exist and may not be created, else
 * {time, tag, duplicate 0/1, info...}.
 */
export const PUBLISH = channelScript(
  'publish',
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
if ARGV[14] ~= '' then table.insert(entry, 'e'); table.insert(entry, ARGV[14]) end
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
if ARGV[14] ~= '' then head.e = ARGV[14] end
redis.call('PUBLISH', ARGV[7], 'm' .. cjson.encode(head) .. '\\n' .. ARGV[11])
local result = {time, tag, 0}
for _, value in ipairs(info()) do table.insert(result, value) end
return result
`,
  (args: PublishArgs) => ({
    keys: [args.idempotencyKey],
    argv: [
      args.eventsChannel,
      args.create ? '1' : '0',
      args.contentType === null ? '0' : '1',
      args.contentType ?? '',
      args.body,
      String(args.idempotencyTtl),
      String(args.lostDataAt),
      args.event ?? '',
    ],
  }),
  (reply): PublishReply | undefined => {
    if (reply === null) return undefined;
    const [time, tag, duplicate, ...info] = reply as [number, number, number, ...unknown[]];
    return { id: { time, tag }, duplicate: duplicate === 1, info: parseInfo(info) };
  },
);

/**
 * The first buffered message after a cursor. ARGV[7] the XRANGE start (`-` for the
 * oldest, `(time-tag` for strictly after, `time-0` for from the start of a second).
 *
 * Returns {exists 0/1, last id or false, entry or false} where entry is
 * {id, {field, value, ...}}.
 */
export const NEXT = channelScript(
  'next',
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
  (args: RangeArgs) => ({ keys: [], argv: [args.start] }),
  (reply): NextReply => {
    const [exists, last, entry] = reply as [number, Buffer | null, EntryReply | null];
    return {
      exists: exists === 1,
      last: last ? parseId(last) : null,
      message: entry ? parseEntry(entry) : undefined,
    };
  },
);

/** The buffered messages after a cursor (catch-up after a lost subscription). ARGV[7] the start. */
export const AFTER = channelScript(
  'after',
  `
drop_expired()
return redis.call('XRANGE', stream_key, ARGV[7], '+')
`,
  (args: RangeArgs) => ({ keys: [], argv: [args.start] }),
  (reply): Message[] => (reply as EntryReply[]).map(parseEntry),
);

/** Channel info, or false when the channel does not exist. */
export const INFO = channelScript(
  'info',
  `
drop_expired()
if not exists() then return false end
return info()
`,
  (_args: { scope: ChannelScope }) => ({ keys: [], argv: [] }),
  (reply): ChannelInfo | undefined => (reply === null ? undefined : parseInfo(reply)),
);

/** Delete a channel and announce it. ARGV[7] events channel. Returns the info before, or false. */
export const DELETE = channelScript(
  'delete',
  `
drop_expired()
if not exists() then return false end
local before = info()
redis.call('DEL', channel_key, stream_key)
redis.call('PUBLISH', ARGV[7], 'd' .. cjson.encode({c = channel}))
return before
`,
  (args: { scope: ChannelScope; eventsChannel: string }) => ({
    keys: [],
    argv: [args.eventsChannel],
  }),
  (reply): ChannelInfo | undefined => (reply === null ? undefined : parseInfo(reply)),
);

/**
 * Change this daemon's subscriber count for a channel by a delta (+1 / -1): deltas
 * commute, so two changes applied in another order than sent give the same count.
 * KEYS[4] this daemon's hash. ARGV[7] the delta, ARGV[8] the daemon hash TTL in ms,
 * ARGV[9] '1' to create the channel (a subscriber starts waiting on it).
 */
export const SUBSCRIBERS = channelScript(
  'subscribers',
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
  (args: SubscribersArgs) => ({
    keys: [args.daemonKey],
    argv: [String(args.delta), String(args.ttlMs), args.started ? '1' : '0'],
  }),
  (reply): number => reply as number,
);

/**
 * Keep this daemon alive for ARGV[1] ms (Redis clock) and forget daemons dead for a
 * minute. KEYS[1] daemons set, KEYS[2] this daemon's hash; ARGV[2] daemon id;
 * ARGV[3] '1' to replace the hash with the channel, count pairs in ARGV[4..] (all
 * of this daemon's counts, written after a reconnect).
 */
export const HEARTBEAT = defineScript(
  'heartbeat',
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
  (args: HeartbeatArgs) => ({
    keys: [args.daemonsKey, args.daemonKey],
    argv: [
      String(args.aliveMs),
      args.daemonId,
      args.counts ? '1' : '0',
      ...(args.counts ?? []).flatMap(([channel, count]) => [channel, String(count)]),
    ],
  }),
  (reply): number => reply as number,
);

/** Every script, loaded before first use (`SCRIPT LOAD` at open and after a reconnect). */
export const ALL_SCRIPTS: readonly AnyRedisScript[] = [
  PUBLISH,
  NEXT,
  AFTER,
  INFO,
  DELETE,
  SUBSCRIBERS,
  HEARTBEAT,
];

/** The arguments of {@link PUBLISH}. */
export interface PublishArgs {
  scope: ChannelScope;
  /** The key that remembers this publish's id: `P` + `publish:` + sha1(C + NUL + key). */
  idempotencyKey: string;
  /** Seconds the idempotency key is remembered. */
  idempotencyTtl: number;
  /** The store's pub/sub channel, `P` + `events`. */
  eventsChannel: string;
  /** Create the channel when it does not exist. */
  create: boolean;
  contentType: string | null;
  body: Buffer;
  /** The newest second ids had before Redis lost its data; 0 when it did not. */
  lostDataAt: number;
  /** The publish's `X-EventSource-Event`, if any. */
  event?: string;
}

/** What {@link PUBLISH} stored, or stored before under the same idempotency key. */
export interface PublishReply {
  id: MessageId;
  /** The idempotency key was known: nothing was stored now. */
  duplicate: boolean;
  info: ChannelInfo;
}

/** The arguments of {@link NEXT} and {@link AFTER}. */
export interface RangeArgs {
  scope: ChannelScope;
  /** The XRANGE start: `-` for the oldest, `(time-tag` for strictly after, `time-0` for from a second on. */
  start: string;
}

/** What {@link NEXT} found. */
export interface NextReply {
  /** The channel exists (it has a key or a subscriber somewhere). */
  exists: boolean;
  /** The newest message ever published to the channel, as Redis had it when the script ran. */
  last: MessageId | null;
  /** The first buffered message after the start, if any. */
  message: Message | undefined;
}

/** The arguments of {@link SUBSCRIBERS}. */
export interface SubscribersArgs {
  scope: ChannelScope;
  /** This daemon's hash, `P` + `daemon:` + D. */
  daemonKey: string;
  /** The change of this daemon's count (+n / -n). */
  delta: number;
  /** Milliseconds the daemon's hash lives without a heartbeat. */
  ttlMs: number;
  /** A subscriber started waiting: the channel counts as requested now. */
  started: boolean;
}

/** The arguments of {@link HEARTBEAT}. */
export interface HeartbeatArgs {
  daemonsKey: string;
  daemonKey: string;
  daemonId: string;
  /** Milliseconds (Redis clock) this daemon counts as alive from now. */
  aliveMs: number;
  /** All of this daemon's subscriber counts, to replace its hash with; undefined keeps the hash. */
  counts: [channel: string, count: number][] | undefined;
}

/** [messages, seconds since requested or -1, subscribers, last id or null] as `info()` returns it. */
type InfoReply = [number, number, number, Buffer | null];
/** [stream id, [field, value, ...]] as XRANGE returns it. */
type EntryReply = [Buffer, Buffer[]];

function parseInfo(reply: unknown): ChannelInfo {
  const [messages, requested, subscribers, last] = reply as InfoReply;
  return { messages, requested, subscribers, lastMessageId: last ? parseId(last) : null };
}

/** A message id as the scripts write it: `time:tag` in the channel hash, `time-tag` in the stream. */
function parseId(text: Buffer | string): MessageId {
  const [time, tag] = String(text).split(/[-:]/).map(Number);
  return { time: time ?? 0, tag: tag ?? 0 };
}

function parseEntry([id, fields]: EntryReply): Message {
  let body: Buffer = Buffer.alloc(0);
  let contentType: string | null = null;
  let event: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = String(fields[i]);
    if (name === 'b') body = fields[i + 1] as Buffer;
    else if (name === 'c') contentType = String(fields[i + 1]);
    else if (name === 'e') event = String(fields[i + 1]);
  }
  return { id: parseId(id), contentType, body, event };
}

/**
 * A payload of the events channel, as {@link PUBLISH} and {@link DELETE} write it, or
 * undefined when it is not one (another program publishing on the channel).
 *
 * @param payload the pub/sub message
 * @returns the event it announces
 * @example parseEvent(Buffer.from('d{"c":"room"}')) // { type: 'delete', channel: 'room' }
 */
export function parseEvent(payload: Buffer): StoreEvent | undefined {
  const kind = payload[0];
  const newline = payload.indexOf(0x0a);
  let head: { c?: unknown; t?: unknown; g?: unknown; y?: unknown; e?: unknown };
  try {
    head = JSON.parse(payload.subarray(1, newline === -1 ? undefined : newline).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof head?.c !== 'string') return undefined;
  if (kind === 0x64 /* d */) return { type: 'delete', channel: head.c };
  if (
    kind !== 0x6d /* m */ ||
    newline === -1 ||
    typeof head.t !== 'number' ||
    typeof head.g !== 'number'
  ) {
    return undefined;
  }
  const contentType = typeof head.y === 'string' ? head.y : null;
  const message: Message = {
    id: { time: head.t, tag: head.g },
    contentType,
    body: payload.subarray(newline + 1),
    event: typeof head.e === 'string' ? head.e : undefined,
  };
  return { type: 'message', channel: head.c, message };
}
