import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  type Cursor,
  channelInfo,
  type DaemonProcess,
  poll,
  publish,
  startDaemonProcess,
} from '../../../support/daemon-process.js';
import { type Redis, startRedis } from '../../../support/redis.js';
import { needs, REDIS } from '../../../support/system.js';
import { waitUntil } from '../../../support/wait.js';

const CHANNELS = 10;
const SUBSCRIBERS = 100;
const MESSAGES = 1000;
const PER_CHANNEL = MESSAGES / CHANNELS;

/**
 * A subscriber: polls until it has `count` messages, each poll on the daemon
 * `pick(poll number)` chooses, and returns the bodies in the order received.
 */
async function subscriber(channel: string, count: number, pick: (poll: number) => DaemonProcess) {
  const bodies: string[] = [];
  let cursor: Cursor | undefined;
  for (let n = 0; bodies.length < count; n++) {
    const answer = await poll(pick(n), channel, cursor);
    assert.equal(answer.status, 200, `GET ${channel}: ${answer.status} ${answer.body}`);
    bodies.push(answer.body);
    cursor = answer.cursor;
  }
  return bodies;
}

async function publishOk(daemon: DaemonProcess, channel: string, body: string): Promise<number> {
  const answer = await publish(daemon, channel, body);
  assert.ok(
    answer.status === 201 || answer.status === 202,
    `POST ${channel}: ${answer.status} ${answer.body}`,
  );
  return answer.status;
}

async function info(daemon: DaemonProcess, channel: string) {
  const found = await channelInfo(daemon, channel);
  assert.ok(found, `channel ${channel} exists`);
  return found;
}

describe('two daemons in separate processes on one Redis', { skip: needs(REDIS) }, () => {
  let redis: Redis;
  const daemons: DaemonProcess[] = [];

  before(async () => {
    redis = await startRedis();
    const settings = { store: { type: 'redis' as const, url: redis.url, maxMessages: MESSAGES } };
    daemons.push(
      ...(await Promise.all([startDaemonProcess(settings), startDaemonProcess(settings)])),
    );
  });
  after(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    await redis?.destroy();
  });

  test(`${SUBSCRIBERS} subscribers over both get ${MESSAGES} messages published alternately to both, exactly once, in order`, async () => {
    const [one, two] = daemons as [DaemonProcess, DaemonProcess];
    // A quarter stays on each daemon; half switch daemon between every two polls.
    const pickers = [
      () => one,
      () => two,
      (n: number) => (n % 2 ? one : two),
      (n: number) => (n % 2 ? two : one),
    ];
    const received = Array.from({ length: SUBSCRIBERS }, (_, i) => {
      const channel = `ch${i % CHANNELS}`;
      return subscriber(
        channel,
        PER_CHANNEL,
        pickers[Math.floor(i / CHANNELS) % pickers.length] as (n: number) => DaemonProcess,
      );
    });
    // Every subscriber is waiting (on an empty channel) before the first message.
    await waitUntil('every subscriber waits', async () => {
      const counts = await Promise.all(
        Array.from(
          { length: CHANNELS },
          async (_, c) => (await channelInfo(one, `ch${c}`))?.subscribers,
        ),
      );
      return counts.every((count) => count === SUBSCRIBERS / CHANNELS);
    });
    const statuses: number[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const channel = `ch${i % CHANNELS}`;
      statuses.push(
        await publishOk(i % 2 ? two : one, channel, `${channel}:${Math.floor(i / CHANNELS)}`),
      );
    }
    // The first message of each channel found all its subscribers waiting, on either daemon.
    assert.deepEqual(statuses.slice(0, CHANNELS), Array(CHANNELS).fill(201));
    const results = await Promise.all(received);
    results.forEach((bodies, i) => {
      const channel = `ch${i % CHANNELS}`;
      assert.deepEqual(
        bodies,
        Array.from({ length: PER_CHANNEL }, (_, n) => `${channel}:${n}`),
        `subscriber ${i}`,
      );
    });
    // Both daemons report the same channel from Redis.
    const [infoOne, infoTwo] = await Promise.all([info(one, 'ch3'), info(two, 'ch3')]);
    assert.equal(infoOne.messages, PER_CHANNEL);
    assert.equal(infoOne.last_message_id, infoTwo.last_message_id);
    assert.equal(infoOne.subscribers, 0);
  });

  test('a delete on one daemon answers 410 to subscribers waiting on both', async () => {
    const [one, two] = daemons as [DaemonProcess, DaemonProcess];
    await publishOk(one, 'doomed', 'first');
    const { cursor } = await poll(two, 'doomed', undefined);
    const headers = { 'If-Modified-Since': cursor.lastModified, 'If-None-Match': cursor.etag };
    const waiting = [one, two].map((daemon) =>
      fetch(`${daemon.url}/subscriber/doomed`, { headers }),
    );
    await waitUntil(
      'both subscribers wait',
      async () => (await info(one, 'doomed')).subscribers === 2,
    );
    const deleted = await fetch(`${two.url}/publisher/doomed`, { method: 'DELETE' });
    assert.equal(deleted.status, 200);
    assert.match(
      await deleted.text(),
      /^queued messages: 1\r\nlast requested: \d+ sec\. ago\r\nactive subscribers: 2\r\n/,
    );
    const answers = await Promise.all(waiting);
    assert.deepEqual(
      answers.map((answer) => answer.status),
      [410, 410],
    );
    assert.equal((await fetch(`${one.url}/publisher/doomed`)).status, 404);
  });
});
