/**
 * Announcements that overtake replies. The Redis store reads on one connection and hears
 * publishes on another, so the announcement of a message published while a poll reads
 * can arrive before the read's reply; a poll must still get that message, and so must a
 * poll waiting through an outage whose catch-up overlaps live announcements. A proxy in
 * front of Redis holds the command connection's replies to make the overtaking certain;
 * a stress run shows nothing is lost without it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPushServer, type PushServer } from '../../../../src/server/daemon.js';
import { AFTER, NEXT } from '../../../../src/server/store/redis/scripts.js';
import { createRedisStore } from '../../../../src/server/store/redis/store.js';
import type { MessageId, Store, StoreEvent } from '../../../../src/server/store/types.js';
import { type ResolvedStore, resolveSettings } from '../../../../src/settings/index.js';
import { type Redis, startRedis } from '../../../support/redis.js';
import { type RedisProxy, startRedisProxy } from '../../../support/redis-proxy.js';
import { needs, REDIS } from '../../../support/system.js';

const TRIALS = 200;
/** Trials run side by side, so publishes and polls of several channels interleave. */
const LANES = 4;
/** Longest a poll may take to get a message published while it was sent. */
const POLL_DEADLINE_MS = 3000;

const text = (body: string) => ({ contentType: 'text/plain', body: Buffer.from(body) });
const create = { create: true };

/** Where a subscriber is: the `Last-Modified` and `Etag` of the last message it got. */
interface Cursor {
  lastModified: string;
  etag: string;
}

function cursorOf(id: MessageId): Cursor {
  return { lastModified: new Date(id.time * 1000).toUTCString(), etag: String(id.tag) };
}

/** One subscriber GET; undefined when no answer came within `timeoutMs` (the poll was dropped). */
async function poll(
  origin: string,
  channel: string,
  cursor: Cursor | undefined,
  timeoutMs = POLL_DEADLINE_MS,
): Promise<{ status: number; body: string; cursor: Cursor } | undefined> {
  const headers: Record<string, string> = cursor
    ? { 'If-Modified-Since': cursor.lastModified, 'If-None-Match': cursor.etag }
    : {};
  let response: Response;
  try {
    response = await fetch(`${origin}/subscriber/${channel}`, {
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return undefined;
    throw error;
  }
  return {
    status: response.status,
    body: await response.text(),
    cursor: {
      lastModified: response.headers.get('last-modified') ?? '',
      etag: response.headers.get('etag') ?? '',
    },
  };
}

/** POST `body` and return the id the message got. */
async function publish(origin: string, channel: string, body: string): Promise<MessageId> {
  const response = await fetch(`${origin}/publisher/${channel}`, {
    method: 'POST',
    headers: { 'Content-Type': 'text/plain', Accept: 'application/json' },
    body,
    signal: AbortSignal.timeout(5000),
  });
  const answer = await response.text();
  assert.ok([201, 202].includes(response.status), `POST ${channel}: ${response.status} ${answer}`);
  const [time, tag] = String(JSON.parse(answer).last_message_id).split(':').map(Number);
  return { time: time as number, tag: tag as number };
}

/** Resolves with the first event of `store` that `matches`; rejects after `timeoutMs`. */
function nextEvent(
  store: Store,
  matches: (event: StoreEvent) => boolean,
  timeoutMs = 5000,
): Promise<StoreEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for a store event`));
    }, timeoutMs);
    const stop = store.onEvent((event) => {
      if (!matches(event)) return;
      clearTimeout(timer);
      stop();
      resolve(event);
    });
  });
}

/** Resolves once `log` gets a line containing `text`; rejects after `timeoutMs`. */
function logLine(lines: { on: (listener: (line: string) => void) => void }, text: string) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out waiting for a log line with ${JSON.stringify(text)}`)),
      10_000,
    );
    lines.on((line) => {
      if (!line.includes(text)) return;
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A log that tests can wait on. */
function log() {
  const listeners = new Set<(line: string) => void>();
  return {
    write: (line: string) => {
      for (const listener of listeners) listener(line);
    },
    on: (listener: (line: string) => void) => listeners.add(listener),
  };
}

const bodyOf = (event: StoreEvent) =>
  event.type === 'message' ? event.message.body.toString() : 'delete';

describe('Redis store: announcements that overtake replies', { skip: needs(REDIS) }, () => {
  let redis: Redis;
  let proxy: RedisProxy;
  const stores: Store[] = [];
  const daemons: PushServer[] = [];
  let prefixes = 0;

  before(async () => {
    redis = await startRedis();
    proxy = await startRedisProxy(redis.port);
  });
  after(async () => {
    proxy?.release();
    await Promise.all(daemons.map((push) => push.close()));
    await Promise.all(stores.map((store) => store.close()));
    await proxy?.close();
    await redis?.destroy();
  });

  /** Store settings of a fresh key prefix; `url` defaults to Redis itself. */
  function settings(url = redis.url): ResolvedStore {
    const resolved = resolveSettings({
      store: { type: 'redis', url, keyPrefix: `race${++prefixes}:` },
    }).stores.default;
    assert.ok(resolved);
    return resolved;
  }

  /** A store through the proxy and one straight to Redis, sharing a key prefix. */
  async function pair(write: (line: string) => void = () => {}, commandTimeout = 5000) {
    const direct = settings();
    const proxied = { ...direct, url: proxy.url };
    const options = { log: write, heartbeat: 200, maxBackoff: 100, commandTimeout };
    const slow = createRedisStore(proxied, options);
    const fast = createRedisStore(direct, { log: () => {}, heartbeat: 200 });
    stores.push(slow, fast);
    await Promise.all([slow.open(), fast.open()]);
    return { slow, fast };
  }

  async function daemon(store: ResolvedStore, own?: Store): Promise<string> {
    const push = createPushServer(
      { store: { type: 'redis', url: store.url, keyPrefix: store.keyPrefix } },
      own ? { stores: { default: own } } : {},
    );
    daemons.push(push);
    const { port } = await push.listen(0, '127.0.0.1');
    return `http://127.0.0.1:${port}`;
  }

  test('a read whose reply comes after the announcement of a newer message: the re-read finds it', async () => {
    const { slow, fast } = await pair();
    const heardFirst = nextEvent(slow, (event) => bodyOf(event) === 'first-read');
    const first = await fast.publish('overtaken', text('first-read'), create);
    assert.ok(first);
    await heardFirst;
    const order: string[] = [];
    slow.onEvent((event) => order.push(`event ${bodyOf(event)}`));
    const announced = nextEvent(slow, (event) => bodyOf(event) === 'second-read');

    const held = proxy.holdRepliesAfter(NEXT.sha1);
    const reading = slow.next('overtaken', first.message.id).then((result) => {
      order.push('reply');
      return result;
    });
    await held;
    await fast.publish('overtaken', text('second-read'), create);
    await announced;
    proxy.release();
    const read = await reading;

    assert.deepEqual(order, ['event second-read', 'reply']);
    assert.equal(read.message, undefined, 'the read ran before the publish');
    // The daemon reads again when a message was announced while it read (WaitingRoom's dirty).
    const again = await slow.next('overtaken', first.message.id);
    assert.equal(again.message?.body.toString(), 'second-read');
  });

  test('a poll whose read is overtaken by the announcement gets the message (daemon)', async () => {
    const store = settings();
    const viaProxy = createRedisStore(
      { ...store, url: proxy.url },
      { log: () => {}, commandTimeout: 5000 },
    );
    const slowDaemon = await daemon(store, viaProxy);
    const other = await daemon(store);
    const first = await publish(other, 'poll-overtaken', 'm1');
    const announced = nextEvent(viaProxy, (event) => bodyOf(event) === 'second-poll');

    const held = proxy.holdRepliesAfter(NEXT.sha1);
    const polling = poll(slowDaemon, 'poll-overtaken', cursorOf(first));
    await held;
    const forwarded = proxy.forwarded('second-poll');
    await publish(other, 'poll-overtaken', 'second-poll');
    await forwarded;
    await announced;
    proxy.release();

    const answer = await polling;
    assert.ok(answer, `the poll got nothing within ${POLL_DEADLINE_MS} ms: m2 was skipped`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'second-poll');
  });

  test('a catch-up after an outage overlapping a live announcement announces every message once, in order', async () => {
    const lines = log();
    const { slow, fast } = await pair(lines.write);
    const first = await fast.publish('behind', text('first-behind'), create);
    assert.ok(first);
    // A poll read m1 and waits here.
    assert.equal((await slow.next('behind', first.message.id)).message, undefined);
    slow.subscriberStarted('behind');
    const events: string[] = [];
    slow.onEvent((event) => {
      if (event.channel === 'behind') events.push(bodyOf(event));
    });

    const lost = logLine(lines, 'lost the connection');
    proxy.down();
    await lost;
    await fast.publish('behind', text('second-behind'), create);
    // The catch-up's read is held; m3 is announced live meanwhile.
    const held = proxy.holdRepliesAfter(AFTER.sha1, { timeoutMs: 10_000 });
    proxy.up();
    await held;
    const forwarded = proxy.forwarded('third-behind');
    const third = nextEvent(slow, (event) => bodyOf(event) === 'third-behind');
    await fast.publish('behind', text('third-behind'), create);
    await forwarded;
    proxy.release();
    await third;

    assert.deepEqual(events, ['second-behind', 'third-behind']);
    // A later message is announced live as usual.
    const fourth = nextEvent(slow, (event) => bodyOf(event) === 'fourth-behind');
    await fast.publish('behind', text('fourth-behind'), create);
    await fourth;
    assert.deepEqual(events, ['second-behind', 'third-behind', 'fourth-behind']);
    slow.subscriberStopped('behind');
  });

  test('a renewed subscription answered slower than the command timeout: renewed again, nothing unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const lines = log();
      const commandTimeout = 1000;
      const { slow, fast } = await pair(lines.write, commandTimeout);
      slow.subscriberStarted('renewed');
      const lost = logLine(lines, 'lost the connection');
      // The pub/sub connection's SUBSCRIBE after the outage gets its answer late.
      const held = proxy.holdRepliesAfter('\r\nsubscribe\r\n', { timeoutMs: 10_000, pubsub: true });
      proxy.down();
      await lost;
      proxy.up();
      await held;
      // Longer than the command timeout: what is measured here is a timeout.
      await new Promise((resolve) => setTimeout(resolve, commandTimeout * 2));
      proxy.release();
      const announced = nextEvent(slow, (event) => bodyOf(event) === 'after-renewal', 10_000);
      await fast.publish('renewed', text('after-renewal'), create);
      await announced;
      slow.subscriberStopped('renewed');
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  /**
   * Per trial a fresh channel: publish m1, get its cursor (by reading it, or from the
   * publish's answer), then poll with it while m2 is published within a few ms.
   *
   * @returns the channels whose poll did not get m2
   */
  async function stress(
    name: string,
    pick: (trial: number) => { publish: string; read: string | undefined; poll: string },
  ): Promise<string[]> {
    const lost: string[] = [];
    const trial = async (n: number) => {
      const channel = `${name}-${n}`;
      const where = pick(n);
      const id = await publish(where.publish, channel, 'm1');
      let cursor = cursorOf(id);
      if (where.read) {
        const read = await poll(where.read, channel, undefined);
        assert.equal(read?.body, 'm1', `${channel}: the first read`);
        cursor = (read as { cursor: Cursor }).cursor;
      }
      const polling = poll(where.poll, channel, cursor);
      // Spread the publish over the poll's read: a jitter, not a synchronisation.
      await new Promise((resolve) => setTimeout(resolve, n % 4));
      await publish(n % 2 ? where.poll : where.publish, channel, 'm2');
      const answer = await polling;
      if (answer?.body !== 'm2') lost.push(`${channel}: ${answer?.status} ${answer?.body}`);
    };
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        for (let n = lane; n < TRIALS; n += LANES) await trial(n);
      }),
    );
    return lost;
  }

  test(`stress, one daemon: ${TRIALS} polls racing a publish lose nothing`, async () => {
    const store = settings();
    const one = await daemon(store);
    // Odd trials read m1 first (the steps); even ones poll with the publish's id.
    const lost = await stress('one', (n) => ({
      publish: one,
      read: n % 2 ? one : undefined,
      poll: one,
    }));
    assert.deepEqual(lost, [], `${lost.length} of ${TRIALS} polls never got m2`);
  });

  test(`stress, two daemons on one Redis: ${TRIALS} polls racing a publish lose nothing`, async () => {
    const store = settings();
    const [one, two] = [await daemon(store), await daemon(store)];
    // Read on one daemon, poll on the other (or the same); publish on either.
    const lost = await stress('two', (n) => ({
      publish: n % 3 ? one : two,
      read: n % 4 === 3 ? undefined : one,
      poll: n % 2 ? two : one,
    }));
    assert.deepEqual(lost, [], `${lost.length} of ${TRIALS} polls never got m2`);
  });
});
