import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Redis as RedisClient } from 'ioredis';
import {
  createRedisStore,
  RedisUnavailableError,
} from '../../../../src/server/store/redis/store.js';
import {
  compareIds,
  type Message,
  type MessageId,
  type NewMessage,
  type Store,
  type StoreEvent,
} from '../../../../src/server/store/types.js';
import { type RedisStoreSettings, resolveSettings } from '../../../../src/settings/index.js';
import { freePort } from '../../../support/ports.js';
import { type Redis, startRedis } from '../../../support/redis.js';
import { needs, REDIS } from '../../../support/system.js';
import { WAIT_MS, waitUntil, withDeadline } from '../../../support/wait.js';

const text = (body: string) => ({ contentType: 'text/plain', body: Buffer.from(body) });
const create = { create: true };

/**
 * Subscriber counts go to Redis without being waited for; a round trip on the same
 * store's connection afterwards means they have been applied.
 */
async function settled(store: Store, channel: string): Promise<void> {
  await store.info(channel);
}

/** The id rule: the next message of a channel is tag+1 in the same second, tag 0 in a later one. */
function assertFollows(previous: MessageId, next: MessageId): void {
  if (next.time === previous.time)
    assert.equal(
      next.tag,
      previous.tag + 1,
      `${next.time}:${next.tag} after ${previous.time}:${previous.tag}`,
    );
  else {
    assert.ok(next.time > previous.time, `${next.time} after ${previous.time}`);
    assert.equal(next.tag, 0);
  }
}

/**
 * A MONITOR connection and the commands it saw. Made by hand rather than with
 * `monitor()`: ioredis takes a monitor line that arrives with MONITOR's own OK for a
 * reply to nothing and emits 'error' ("Command queue state error"), which must not
 * be thrown; lines before it is monitoring do not matter to the tests.
 */
async function startMonitor(url: string): Promise<{ monitor: RedisClient; seen: string[] }> {
  const monitor = new RedisClient(url, { monitor: true });
  monitor.on('error', () => {});
  const seen: string[] = [];
  monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('MONITOR did not start within 5 s')), 5000);
      monitor.once('monitoring', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } catch (error) {
    monitor.disconnect();
    throw error;
  }
  return { monitor, seen };
}

describe('Redis store', { skip: needs(REDIS) }, () => {
  let redis: Redis;
  let admin: RedisClient;
  const stores: Store[] = [];
  let prefixes = 0;

  before(async () => {
    redis = await startRedis();
    admin = new RedisClient(redis.url);
    admin.on('error', () => {});
  });
  after(async () => {
    // The client and redis-server go whatever the stores do: a client left reconnecting
    // to a stopped server keeps the file from ending.
    admin?.disconnect();
    try {
      await withDeadline(
        Promise.all(stores.map((store) => store.close())),
        WAIT_MS,
        'the stores to close',
      );
    } finally {
      await redis?.destroy();
    }
  });

  /** Two stores ("daemons") on one Redis, with a key prefix of their own. */
  async function pair(settings: Partial<RedisStoreSettings> = {}, log?: (line: string) => void) {
    const resolved = resolveSettings({
      store: { type: 'redis', url: redis.url, keyPrefix: `t${++prefixes}:`, ...settings },
    }).stores.default;
    assert.ok(resolved);
    const quiet = log ?? (() => {});
    const a = createRedisStore(resolved, { log: quiet, heartbeat: 200 });
    const b = createRedisStore(resolved, { log: quiet, heartbeat: 200 });
    stores.push(a, b);
    await Promise.all([a.open(), b.open()]);
    return { a, b, prefix: resolved.keyPrefix };
  }

  function record(store: Store): StoreEvent[] {
    const events: StoreEvent[] = [];
    store.onEvent((event) => events.push(event));
    return events;
  }

  test('ids come from Redis: tag+1 within a second, 0 in a later one, whichever daemon publishes', async () => {
    const { a, b } = await pair({ maxMessages: 1000 });
    let previous: MessageId | undefined;
    for (let i = 0; i < 40; i++) {
      const result = await (i % 2 ? a : b).publish('ids', text(`m${i}`), create);
      assert.ok(result);
      if (previous) assertFollows(previous, result.message.id);
      previous = result.message.id;
    }
  });

  test('concurrent publishes from two daemons get distinct ids in one strict order', async () => {
    const { a, b } = await pair({ maxMessages: 1000 });
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => (i % 2 ? a : b).publish('race', text(`m${i}`), create)),
    );
    const ids = results.map((result) => result?.message.id as MessageId).sort(compareIds);
    for (let i = 1; i < ids.length; i++)
      assertFollows(ids[i - 1] as MessageId, ids[i] as MessageId);
    // Reading the buffer from the start gives every message once, in id order.
    const read: Message[] = [];
    let cursor: MessageId | null = null;
    for (;;) {
      const { message } = await b.next('race', cursor);
      if (!message) break;
      read.push(message);
      cursor = message.id;
    }
    assert.deepEqual(
      read.map((message) => message.id),
      ids,
    );
  });

  test('next follows Nchan: oldest remaining for no cursor or an evicted one, nothing after the newest', async () => {
    const { a } = await pair({ maxMessages: 3 });
    const ids: MessageId[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await a.publish('cursor', text(`m${i}`), create))?.message.id as MessageId);
    const [first, , third, fourth, fifth] = ids as [
      MessageId,
      MessageId,
      MessageId,
      MessageId,
      MessageId,
    ];
    const body = async (cursor: MessageId | null) =>
      (await a.next('cursor', cursor)).message?.body.toString();
    assert.equal(await body(null), 'm2');
    assert.equal(
      await body(first),
      'm2',
      'the asked-for message was evicted: the oldest remaining one',
    );
    assert.equal(await body(third), 'm3');
    assert.equal(await body(fourth), 'm4');
    assert.equal(await body(fifth), undefined);
    assert.equal(
      await body({ time: fifth.time + 100, tag: 0 }),
      undefined,
      'a cursor in the future waits',
    );
    assert.equal(await body({ time: 0, tag: 0 }), 'm2');
    // If-None-Match -1: from tag 0 of that second; a tag beyond any: the next second.
    assert.equal(
      await body({ time: third.time, tag: -1 }),
      third.time === ids[2]?.time ? 'm2' : undefined,
    );
    assert.equal(await body({ time: fifth.time, tag: Number.MAX_VALUE }), undefined);
    assert.deepEqual(await a.next('unknown', null), { message: undefined, exists: false });
  });

  test('Content-Type (or none) and binary bodies come back byte for byte', async () => {
    const { a, b } = await pair();
    const binary = Buffer.from([0, 1, 2, 0xff, 0x0a, 0x0d, 0x80]);
    await a.publish('bytes', { contentType: null, body: binary }, create);
    await a.publish(
      'bytes',
      { contentType: 'application/json; charset=utf-8', body: Buffer.alloc(0) },
      create,
    );
    const first = (await b.next('bytes', null)).message;
    assert.ok(first);
    assert.equal(first.contentType, null);
    assert.deepEqual(first.body, binary);
    const second = (await b.next('bytes', first.id)).message;
    assert.equal(second?.contentType, 'application/json; charset=utf-8');
    assert.equal(second?.body.length, 0);
  });

  test('any channel id works: separators, braces, newlines, UTF-8; ids never share keys', async () => {
    const { a, b } = await pair();
    const events = record(b);
    const ids = ['a:b', 'a', 'a:b:c', '{tag}x', 'line\nbreak', 'café ✓', 'messages:a'];
    for (const id of ids) await a.publish(id, text(`to ${id}`), create);
    for (const id of ids) {
      assert.equal((await b.next(id, null)).message?.body.toString(), `to ${id}`);
      assert.equal((await b.info(id))?.messages, 1, id);
    }
    await waitUntil('every event', () => events.length === ids.length);
    assert.deepEqual(
      events.map((event) => event.channel),
      ids,
    );
  });

  test('events reach every daemon, with the message as stored', async () => {
    const { a, b, prefix } = await pair();
    const [onA, onB] = [record(a), record(b)];
    // Whatever else lands on the events channel is ignored.
    for (const junk of ['', 'hello', 'm{"c":1}', 'm{"c":"x"}', 'd[', 'x{"c":"news"}']) {
      await admin.publish(`${prefix}events`, junk);
    }
    const result = await a.publish(
      'news',
      { contentType: 'text/x', body: Buffer.from('line\nnext') },
      create,
    );
    await waitUntil(
      'both daemons heard of the message',
      () => onA.length === 1 && onB.length === 1,
    );
    for (const events of [onA, onB]) {
      const [event] = events;
      assert.equal(event?.type, 'message');
      assert.equal(event.channel, 'news');
      assert.deepEqual(event.message.id, result?.message.id);
      assert.equal(event.message.contentType, 'text/x');
      assert.equal(event.message.body.toString(), 'line\nnext');
    }
  });

  test('channel info counts subscribers across daemons and when the channel was last requested', async () => {
    const { a, b } = await pair();
    assert.equal(await a.info('room'), undefined);
    await a.publish('room', text('first'), create);
    assert.equal((await a.info('room'))?.requested, -1, 'nobody asked yet');
    a.subscriberStarted('room');
    a.subscriberStarted('room');
    b.subscriberStarted('room');
    await settled(a, 'room');
    const result = await b.publish('room', text('hi'), create);
    // `requested` counts seconds since a subscriber asked: 0, or 1 when a second ticked.
    const { requested, ...counts } = result?.info ?? { requested: -1 };
    assert.ok(requested === 0 || requested === 1, `requested ${requested}`);
    assert.deepEqual(counts, { messages: 2, subscribers: 3, lastMessageId: result?.message.id });
    await a.next('room', null);
    b.subscriberStopped('room');
    a.subscriberStopped('room');
    await settled(a, 'room');
    const { requested: _, ...after } = (await b.info('room')) ?? { requested: -1 };
    assert.deepEqual(after, { messages: 2, subscribers: 1, lastMessageId: result?.message.id });
    a.subscriberStopped('room');
    a.subscriberStopped('room'); // never below 0
    await settled(a, 'room');
    assert.equal((await b.info('room'))?.subscribers, 0);
  });

  test('create: false refuses an unknown channel; a waiting subscriber makes it exist', async () => {
    const { a, b } = await pair();
    const events = record(b);
    assert.equal(await a.publish('closed', text('x'), { create: false }), undefined);
    assert.equal(await a.info('closed'), undefined);
    b.subscriberStarted('closed');
    await settled(b, 'closed');
    assert.equal((await a.next('closed', null)).exists, true);
    const result = await a.publish('closed', text('x'), { create: false });
    assert.equal(result?.info.subscribers, 1);
    await waitUntil('the event', () => events.length === 1);
    assert.equal(events[0]?.type, 'message');
  });

  test('delete answers the info before, announces it to every daemon, and forgets the channel', async () => {
    const { a, b } = await pair();
    const [onA, onB] = [record(a), record(b)];
    const published = await a.publish('gone', text('x'), create);
    assert.equal(await b.delete('nope'), undefined);
    assert.deepEqual(await b.delete('gone'), {
      messages: 1,
      requested: -1,
      subscribers: 0,
      lastMessageId: published?.message.id,
    });
    await waitUntil('both daemons heard of the delete', () => onA.length === 2 && onB.length === 2);
    assert.deepEqual(onA[1], { type: 'delete', channel: 'gone' });
    assert.deepEqual(onB[1], { type: 'delete', channel: 'gone' });
    assert.equal(await a.info('gone'), undefined);
    assert.deepEqual(await a.next('gone', null), { message: undefined, exists: false });
  });

  test('a publish retried with the same idempotency key is stored and announced once', async () => {
    const { a, b } = await pair();
    const events = record(b);
    const message: NewMessage = { ...text('pay'), idempotencyKey: 'order-17' };
    const first = await a.publish('once', message, create);
    const retry = await b.publish('once', message, create);
    assert.deepEqual(retry?.message.id, first?.message.id);
    assert.equal(retry?.info.messages, 1);
    const other = await b.publish(
      'once',
      { ...text('pay'), idempotencyKey: 'order-18' } as NewMessage,
      create,
    );
    assert.equal(other?.info.messages, 2);
    await waitUntil('two events', () => events.length === 2);
    assert.deepEqual(
      events.map((event) => event.type === 'message' && event.message.body.toString()),
      ['pay', 'pay'],
    );
  });

  test('expired messages are dropped in Redis, the newest minMessages kept, and keys expire', async () => {
    const { a, prefix } = await pair({ messageTimeout: 1, minMessages: 1 });
    const { a: plain, prefix: plainPrefix } = await pair({ messageTimeout: 1 });
    const { a: forever, prefix: foreverPrefix } = await pair({ messageTimeout: 0 });
    for (const body of ['e1', 'e2', 'e3']) await a.publish('short', text(body), create);
    await plain.publish('short', text('p1'), create);
    await forever.publish('long', text('f1'), create);
    // Memory in Redis stays bounded: keys of expiring messages carry a TTL, kept ones none.
    const ttl = await admin.ttl(`${plainPrefix}messages:short`);
    assert.ok(ttl > 0 && ttl <= 60, `TTL ${ttl}`);
    assert.equal(await admin.ttl(`${foreverPrefix}messages:long`), -1);
    assert.equal(await admin.ttl(`${prefix}messages:short`), -1, 'minMessages are kept: no TTL');
    // Expiry is a matter of the clock: ask until Redis' second has moved past the timeout.
    await waitUntil('the messages expired', async () => (await a.info('short'))?.messages === 1, {
      timeoutMs: 5000,
      intervalMs: 200,
    });
    assert.equal((await a.next('short', null)).message?.body.toString(), 'e3');
    await waitUntil(
      'the plain message expired',
      async () => (await plain.info('short'))?.messages === 0,
      { timeoutMs: 5000, intervalMs: 200 },
    );
    assert.deepEqual((await plain.next('short', null)).message, undefined);
    assert.equal(await admin.exists(`${plainPrefix}messages:short`), 0);
  });

  test('a publish whose answer did not come in time is resent and stored once', async () => {
    const resolved = resolveSettings({
      store: { type: 'redis', url: redis.url, keyPrefix: `t${++prefixes}:` },
    }).stores.default;
    assert.ok(resolved);
    const store = createRedisStore(resolved, {
      log: () => {},
      commandTimeout: 100,
      resendWindow: 5000,
    });
    // Reads the result with the default timeout: on a loaded machine 100 ms is short.
    const reader = createRedisStore(resolved, { log: () => {} });
    stores.push(store, reader);
    await Promise.all([store.open(), reader.open()]);
    const events = record(store);
    // Redis holds every script for 500 ms: the publish times out (Redis may or may not
    // run it later), is resent until an answer comes, and Redis runs it once.
    await admin.call('CLIENT', 'PAUSE', '500', 'WRITE');
    const result = await store.publish('late', text('once'), create);
    assert.equal(result?.info.messages, 1);
    assert.deepEqual((await reader.next('late', null)).message?.id, result?.message.id);
    assert.equal((await reader.next('late', result?.message.id ?? null)).message, undefined);
    await waitUntil('the event', () => events.length > 0);
    assert.equal(events.length, 1);
  });

  test('unreachable Redis at open: a RedisUnavailableError naming the URL and the fix', async () => {
    const port = await freePort();
    const settings = resolveSettings({
      store: { type: 'redis', url: `redis://:secret@127.0.0.1:${port}` },
    }).stores.default;
    assert.ok(settings);
    const store = createRedisStore(settings);
    await assert.rejects(store.open(), (error: Error) => {
      assert.ok(error instanceof RedisUnavailableError);
      assert.equal(error.status, 503);
      assert.match(
        error.message,
        new RegExp(
          `^Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port} is unreachable \\(.*ECONNREFUSED.*\\); start Redis or fix store\\.url$`,
        ),
      );
      return true;
    });
    await assert.rejects(store.publish('x', text('x'), create), RedisUnavailableError);
  });

  test('Redis emptied and reconnected within a second: new ids still come after the old ones', async () => {
    const lines: string[] = [];
    const { a } = await pair({}, (line) => lines.push(line));
    const before = await a.publish('again', text('before'), create);
    assert.ok(before);
    // What a restart without persistence does, faster than a real restart.
    await admin.flushall();
    await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await waitUntil(
      'both daemons are back',
      () => lines.filter((line) => line.includes('reconnected')).length === 2,
    );
    const result = await waitUntil('a publish goes through', () =>
      a.publish('again', text('after'), create).catch(() => undefined),
    );
    assert.ok(result);
    assert.ok(
      compareIds(result.message.id, before.message.id) > 0,
      JSON.stringify([before.message.id, result.message.id]),
    );
  });

  test('the subscribers of a daemon that dies stop counting once its heartbeat runs out', async (t) => {
    const { a, prefix } = await pair();
    const settings = JSON.stringify({
      type: 'redis',
      url: redis.url,
      keyPrefix: prefix,
      minMessages: 0,
      maxMessages: 10,
      messageTimeout: 3600,
    });
    const store = fileURLToPath(
      new URL('../../../../src/server/store/redis/store.ts', import.meta.url),
    );
    // Another daemon, in a process of its own: 2 waiting subscribers, then SIGKILL.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '--eval',
        `const { createRedisStore } = await import(${JSON.stringify(store)});
         const store = createRedisStore(${settings}, { heartbeat: 100 });
         await store.open();
         store.subscriberStarted('mortal');
         store.subscriberStarted('mortal');
         await store.info('mortal');
         process.stdout.write('waiting\\n');`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    t.after(() => {
      child.kill('SIGKILL');
    });
    await new Promise<void>((resolve) => child.stdout?.on('data', () => resolve()));
    a.subscriberStarted('mortal');
    assert.equal((await a.info('mortal'))?.subscribers, 3);
    child.kill('SIGKILL');
    await exited;
    await waitUntil(
      'the dead daemon stops counting',
      async () => (await a.info('mortal'))?.subscribers === 1,
    );
    a.subscriberStopped('mortal');
  });

  test('a re-poll at the newest announced id parks without asking Redis, and asks again after a lost subscription', async () => {
    const lines: string[] = [];
    const { a, b } = await pair({}, (line) => lines.push(line));
    const events = record(a);
    a.subscriberStarted('fast');
    const first = await b.publish('fast', text('one'), create);
    assert.ok(first);
    await waitUntil('the event', () => events.length === 1);
    // The waiting poll got it and left; its client polls again from that message.
    a.subscriberStopped('fast');
    const { monitor, seen } = await startMonitor(redis.url);
    try {
      assert.deepEqual(await a.next('fast', first.message.id), {
        message: undefined,
        exists: true,
      });
      await admin.get('fast-path-sentinel');
      await waitUntil('the monitor saw the sentinel', () =>
        seen.some((line) => line.includes('fast-path-sentinel')),
      );
      const asked = seen.filter((line) => line.includes('fast') && !line.includes('sentinel'));
      assert.deepEqual(asked, [], 'no command about the channel');
    } finally {
      monitor.disconnect();
    }
    // Another channel waited on here shows when the catch-up after an outage is done.
    a.subscriberStarted('waited');
    await a.next('waited', null);
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await b.publish('fast', text('two'), create);
    await b.publish('waited', text('caught up'), create);
    await waitUntil('the catch-up', () =>
      events.some((event) => event.type === 'message' && event.channel === 'waited'),
    );
    // 'fast' was published to while nobody here could hear it: Redis is asked again.
    const { message } = await a.next('fast', first.message.id);
    assert.equal(message?.body.toString(), 'two');
    a.subscriberStopped('waited');
  });

  test('subscriber counts changed in one turn go out as one change per channel, before any later command', async () => {
    const { a, b } = await pair();
    const { monitor, seen } = await startMonitor(redis.url);
    try {
      a.subscriberStarted('batch');
      a.subscriberStarted('batch');
      a.subscriberStarted('batch');
      a.subscriberStopped('batch');
      // In the same turn: the info is sent after the counts, so it sees them.
      assert.equal((await a.info('batch'))?.subscribers, 2);
      assert.equal((await b.info('batch'))?.subscribers, 2);
      await admin.get('batch-sentinel');
      await waitUntil('the monitor saw the sentinel', () =>
        seen.some((line) => line.includes('batch-sentinel')),
      );
      const counts = seen.filter(
        (line) => line.includes('channel:batch') && / 2 \d+ 1$/.test(line),
      );
      assert.equal(counts.length, 1, seen.join('\n'));
    } finally {
      monitor.disconnect();
    }
    a.subscriberStopped('batch');
    a.subscriberStopped('batch');
    await waitUntil(
      'the count is back to 0',
      async () => (await b.info('batch'))?.subscribers === 0,
    );
  });

  test('a lost subscription is caught up: messages published meanwhile are announced once', async () => {
    const lines: string[] = [];
    const { a, b } = await pair({}, (line) => lines.push(line));
    const events = record(a);
    const before = await b.publish('catch', text('before'), create);
    await waitUntil('the first event', () => events.length === 1);
    assert.equal((await a.next('catch', before?.message.id ?? null)).message, undefined);
    a.subscriberStarted('catch');
    // Kill every pub/sub connection; b publishes before a's subscription is back.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await b.publish('catch', text('during-1'), create);
    await b.publish('catch', text('during-2'), create);
    await waitUntil('the caught-up events', () => events.length >= 3);
    await b.publish('catch', text('after'), create);
    await waitUntil('the next live event', () => events.length >= 4);
    assert.deepEqual(
      events.map((event) => event.type === 'message' && event.message.body.toString()),
      ['before', 'during-1', 'during-2', 'after'],
    );
    assert.equal(
      lines.filter((line) => line.includes('lost the connection')).length,
      2,
      lines.join('\n'),
    );
    a.subscriberStopped('catch');
  });
});

describe('Redis store: Redis stops and starts again', { skip: needs(REDIS) }, () => {
  let redis: Redis;
  let store: Store;
  let other: Store;
  const lines: string[] = [];

  before(async () => {
    redis = await startRedis();
    const settings = resolveSettings({ store: { type: 'redis', url: redis.url } }).stores.default;
    assert.ok(settings);
    store = createRedisStore(settings, {
      log: (line) => lines.push(line),
      heartbeat: 200,
      maxBackoff: 200,
    });
    other = createRedisStore(settings, { log: () => {}, heartbeat: 200, maxBackoff: 200 });
    await store.open();
    await other.open();
  });
  after(async () => {
    try {
      const closed = Promise.all([store?.close(), other?.close()]);
      await withDeadline(closed, WAIT_MS, 'the stores to close');
    } finally {
      await redis?.destroy();
    }
  });

  test('publishes fail fast with a clear error, the outage is logged once, counts come back', async () => {
    store.subscriberStarted('live');
    await settled(store, 'live');
    assert.equal((await other.info('live'))?.subscribers, 1);
    await redis.stop();
    await waitUntil('the outage is noticed', () => lines.length > 0);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(store.publish('live', text('x'), create), (error: Error) => {
        assert.ok(error instanceof RedisUnavailableError);
        assert.match(
          error.message,
          /^Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable; nothing was stored, retry later$/,
        );
        return true;
      });
    }
    await assert.rejects(store.next('live', null), RedisUnavailableError);
    // A subscriber that starts or stops waiting meanwhile is not an error.
    store.subscriberStarted('live');
    store.subscriberStopped('live');
    await redis.start();
    await waitUntil(
      'the recovery is logged',
      () => lines.some((line) => line.includes('reconnected')),
      { timeoutMs: 10_000 },
    );
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(
      lines[0] as string,
      /^pushserver: lost the connection to Redis at redis:\/\/127\.0\.0\.1:\d+ .*; publishes answer 503 until it is back, reconnecting$/,
    );
    assert.match(
      lines[1] as string,
      /^pushserver: reconnected to Redis at redis:\/\/127\.0\.0\.1:\d+ after \d+\.\d s$/,
    );
    // Redis came back empty (no persistence): this daemon's waiting subscriber counts again.
    await waitUntil(
      'the count is back',
      async () => (await other.info('live').catch(() => undefined))?.subscribers === 1,
    );
    const result = await store.publish('live', text('back'), create);
    assert.equal(result?.info.subscribers, 1);
    store.subscriberStopped('live');
  });
});
