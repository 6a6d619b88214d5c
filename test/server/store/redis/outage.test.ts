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

const TOTAL = 10;
const BEFORE_OUTAGE = 5;

/** Polls until `TOTAL` messages came; `received` shows progress while it runs. */
async function subscriber(pick: (poll: number) => DaemonProcess, received: string[]) {
  let cursor: Cursor | undefined;
  for (let n = 0; received.length < TOTAL; n++) {
    const answer = await poll(pick(n), 'stream', cursor);
    assert.equal(answer.status, 200, `poll ${n}: ${answer.status} ${answer.body}`);
    received.push(answer.body);
    cursor = answer.cursor;
  }
}

describe('Redis stops mid-stream and starts again', { skip: needs(REDIS), timeout: 60_000 }, () => {
  let redis: Redis;
  const daemons: DaemonProcess[] = [];

  before(async () => {
    redis = await startRedis();
    const settings = { store: { type: 'redis' as const, url: redis.url, maxMessages: 100 } };
    daemons.push(
      ...(await Promise.all([startDaemonProcess(settings), startDaemonProcess(settings)])),
    );
  });
  after(async () => {
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    await redis?.destroy();
  });

  test('publishes answer 503, nothing crashes, waiting subscribers get what comes after the restart', async () => {
    const [one, two] = daemons as [DaemonProcess, DaemonProcess];
    const pickers = [
      () => one,
      () => two,
      (n: number) => (n % 2 ? one : two),
      (n: number) => (n % 2 ? two : one),
    ];
    const received = pickers.map(() => [] as string[]);
    const done = Promise.all(pickers.map((pick, i) => subscriber(pick, received[i] as string[])));
    const waitingAll = async () =>
      (await channelInfo(one, 'stream'))?.subscribers === pickers.length;

    await waitUntil('every subscriber waits', waitingAll);
    for (let i = 0; i < BEFORE_OUTAGE; i++) {
      const answer = await publish(i % 2 ? two : one, 'stream', `s${i}`);
      assert.ok([201, 202].includes(answer.status), answer.body);
    }
    await waitUntil(
      'every subscriber got the first messages and waits again',
      async () =>
        received.every((bodies) => bodies.length === BEFORE_OUTAGE) && (await waitingAll()),
    );

    await redis.stop();
    // A publish sent before a daemon saw the connection close would be in doubt (the
    // daemon then resends it for a while); once it knows, it refuses at once.
    await waitUntil('both daemons noticed', () =>
      daemons.every((daemon) => daemon.stderr().includes('lost the connection')),
    );
    for (const daemon of [one, two]) {
      const answer = await publish(daemon, 'stream', 'never');
      assert.equal(answer.status, 503);
      assert.match(
        answer.body,
        new RegExp(
          `^store unavailable: Redis at ${redis.url.replaceAll('.', '\\.')} is unreachable; nothing was stored, retry later`,
        ),
      );
    }
    assert.equal((await fetch(`${one.url}/publisher/stream`)).status, 503);
    assert.ok(
      received.every((bodies) => bodies.length === BEFORE_OUTAGE),
      'no subscriber was answered during the outage',
    );

    await redis.start();
    // Each daemon reconnects on its own schedule: until both have, a subscriber that
    // got a message from one and polls the other may be answered 503.
    await waitUntil('both daemons reconnected', () =>
      daemons.every((daemon) => daemon.stderr().includes('reconnected to Redis')),
    );
    // The app retries its publish until Redis takes it.
    await waitUntil('a publish goes through again', async () => {
      const answer = await publish(two, 'stream', `s${BEFORE_OUTAGE}`);
      return answer.status === 201 || answer.status === 202;
    });
    for (let i = BEFORE_OUTAGE + 1; i < TOTAL; i++) {
      const answer = await publish(i % 2 ? two : one, 'stream', `s${i}`);
      assert.ok([201, 202].includes(answer.status), answer.body);
    }
    await done;
    const expected = Array.from({ length: TOTAL }, (_, i) => `s${i}`);
    for (const bodies of received) assert.deepEqual(bodies, expected);

    for (const daemon of [one, two]) {
      assert.equal(daemon.running(), true);
      const lines = daemon.stderr().trim().split('\n');
      assert.equal(lines.length, 2, daemon.stderr());
      assert.match(
        lines[0] as string,
        /^pushserver: lost the connection to Redis at redis:\/\/127\.0\.0\.1:\d+ \(.+\); publishes answer 503 until it is back, reconnecting$/,
      );
      assert.match(
        lines[1] as string,
        /^pushserver: reconnected to Redis at redis:\/\/127\.0\.0\.1:\d+ after \d+\.\d s$/,
      );
    }
  });
});
