import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Answer,
  type Cursor,
  channelInfo,
  type DaemonProcess,
  poll,
  publish,
  startDaemonProcess,
} from '../../../support/daemon-process.js';
import { startRedis } from '../../../support/redis.js';
import { needs, REDIS } from '../../../support/system.js';
import { waitUntil } from '../../../support/wait.js';

/** Start Redis and one daemon on it; both are stopped after the test. */
async function setUp(t: { after: (fn: () => Promise<void>) => void }, persistence: boolean) {
  const redis = await startRedis({ persistence });
  t.after(() => redis.destroy());
  const daemon = await startDaemonProcess({
    store: { type: 'redis', url: redis.url, maxMessages: 3 },
  });
  t.after(() => daemon.stop());
  return { redis, daemon };
}

async function publishAll(daemon: DaemonProcess, channel: string, bodies: string[]): Promise<void> {
  for (const body of bodies) {
    const answer = await publish(daemon, channel, body);
    assert.ok([201, 202].includes(answer.status), `${answer.status} ${answer.body}`);
  }
}

/** Poll from `cursor` until `count` messages came, each poll starting where the last ended. */
async function resume(daemon: DaemonProcess, channel: string, cursor: Cursor, count: number) {
  const bodies: string[] = [];
  for (let i = 0; i < count; i++) {
    const answer = await poll(daemon, channel, cursor);
    assert.equal(answer.status, 200, answer.body);
    bodies.push(answer.body);
    cursor = answer.cursor;
  }
  return { bodies, cursor };
}

/**
 * A poll that must wait: started before `publishing` runs, it can only be answered
 * by what `publishing` publishes.
 */
async function waitsFor(
  daemon: DaemonProcess,
  channel: string,
  cursor: Cursor,
  publishing: () => Promise<void>,
): Promise<Answer> {
  const waiting = poll(daemon, channel, cursor);
  await waitUntil(
    'the poll waits',
    async () => (await channelInfo(daemon, channel))?.subscribers === 1,
  );
  await publishing();
  return waiting;
}

function isAfter(a: Cursor, b: Cursor): boolean {
  const [timeA, timeB] = [Date.parse(a.lastModified), Date.parse(b.lastModified)];
  return timeA > timeB || (timeA === timeB && Number(a.etag) > Number(b.etag));
}

/** Redis is serving again (through the daemon): the publisher GET no longer answers 503. */
async function daemonServes(daemon: DaemonProcess, channel: string): Promise<void> {
  await waitUntil('the daemon reaches Redis again', async () => {
    const response = await fetch(`${daemon.url}/publisher/${channel}`);
    await response.text();
    return response.status !== 503;
  });
}

describe('restarts with the Redis store', { skip: needs(REDIS), timeout: 60_000 }, () => {
  test('daemon restart: a subscriber resuming with its cursor gets exactly what the buffer holds', async (t) => {
    const { daemon } = await setUp(t, false);
    await publishAll(daemon, 'keep', ['m1']);
    const first = await poll(daemon, 'keep', undefined);
    assert.equal(first.body, 'm1');
    await publishAll(daemon, 'keep', ['m2', 'm3', 'm4', 'm5']);
    await daemon.stop();
    await daemon.start();
    // m2 was evicted (maxMessages 3): the oldest remaining one comes first, as Nchan does.
    const { bodies, cursor } = await resume(daemon, 'keep', first.cursor, 3);
    assert.deepEqual(bodies, ['m3', 'm4', 'm5']);
    const next = await waitsFor(daemon, 'keep', cursor, () => publishAll(daemon, 'keep', ['m6']));
    assert.equal(next.body, 'm6');
    assert.equal((await channelInfo(daemon, 'keep'))?.messages, 3);
  });

  test('Redis restart without persistence: the buffer is empty, the subscriber waits for the next message', async (t) => {
    const { redis, daemon } = await setUp(t, false);
    await publishAll(daemon, 'lost', ['a1', 'a2']);
    const first = await poll(daemon, 'lost', undefined);
    assert.equal(first.body, 'a1');
    await redis.stop();
    await redis.start();
    await daemonServes(daemon, 'lost');
    assert.equal(await channelInfo(daemon, 'lost'), undefined, 'the channel went with Redis');
    // Published right after the restart, possibly in the same second as a1: its id
    // still comes after every id handed out before.
    const next = await waitsFor(daemon, 'lost', first.cursor, () =>
      publishAll(daemon, 'lost', ['a3']),
    );
    assert.equal(next.status, 200);
    assert.equal(next.body, 'a3');
    assert.ok(
      isAfter(next.cursor, first.cursor),
      `${JSON.stringify(next.cursor)} after ${JSON.stringify(first.cursor)}`,
    );
    assert.equal(daemon.running(), true);
  });

  test('Redis restart with persistence: the subscriber resumes from its cursor, ids continue', async (t) => {
    const { redis, daemon } = await setUp(t, true);
    await publishAll(daemon, 'kept', ['b1', 'b2', 'b3']);
    const first = await poll(daemon, 'kept', undefined);
    assert.equal(first.body, 'b1');
    await redis.stop();
    await redis.start();
    await daemonServes(daemon, 'kept');
    const { bodies, cursor } = await resume(daemon, 'kept', first.cursor, 2);
    assert.deepEqual(bodies, ['b2', 'b3']);
    const next = await waitsFor(daemon, 'kept', cursor, () => publishAll(daemon, 'kept', ['b4']));
    assert.equal(next.body, 'b4');
    assert.equal((await channelInfo(daemon, 'kept'))?.messages, 3);
  });
});
