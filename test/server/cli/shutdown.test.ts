// Clean shutdowns of `runpushserver` as a user runs it (the real command through tsx,
// Node's cluster, a real redis-server): SIGTERM to one worker of `--workers 2` during
// steady publishing loses nothing that clients resume from (long-polls with their
// cursor, an EventSource from the `eventsource` package with Last-Event-ID); the
// primary replaces each stopped worker; worker log lines name the worker; SIGTERM to
// the whole daemon exits 0 even with Redis down.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import { createPublisher } from '../../../src/publish/index.js';
import { createPushServer } from '../../../src/server/daemon.js';
import { resolveSettings } from '../../../src/settings/index.js';
import { request } from '../../conformance/http-client.js';
import { listeningPort, runpushserver } from '../../support/daemon-process.js';
import { startRedis } from '../../support/redis.js';
import { startRedisProxy } from '../../support/redis-proxy.js';
import { needs, REDIS } from '../../support/system.js';
import { waitUntil } from '../../support/wait.js';

/** Messages published; a worker is stopped after a third of them, the other after two thirds. */
const TOTAL = 120;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `pid` of each worker, from the banner's `workers` row. */
function bannerPids(stdout: string): number[] {
  const row = /^ {2}workers +\d+ processes \(pids ([\d, ]+)\)/m.exec(stdout);
  assert.ok(row, `no workers row in the banner:\n${stdout}`);
  return row[1].split(', ').map(Number);
}

/**
 * A long-poll subscriber as the clients do it: each poll on a new connection (so the
 * primary hands them to either worker) with the cursor of the last message; a 503 or a
 * dropped connection is retried with the same cursor.
 */
async function longPoll(origin: string, path: string, count: number, stats: { retries: number }) {
  const bodies: string[] = [];
  let cursor: Record<string, string> = {};
  while (bodies.length < count) {
    const answer = await request(origin, 'GET', path, { headers: cursor }).catch(() => undefined);
    if (answer?.status !== 200) {
      assert.ok(
        answer === undefined || answer.status === 503,
        `a poll was answered ${answer?.status} ${answer?.text}`,
      );
      stats.retries++;
      await sleep(50);
      continue;
    }
    bodies.push(answer.text);
    cursor = {
      'If-Modified-Since': answer.headers['last-modified'],
      'If-None-Match': answer.headers.etag,
    };
  }
  return bodies;
}

describe('clean shutdowns', { skip: needs(REDIS) }, () => {
  test('--workers 2 on Redis: SIGTERM to each worker during steady publishing loses nothing clients resume from', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.destroy());
    const dir = mkdtempSync(join(tmpdir(), 'pushserver-shutdown-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'pushserver.config.json');
    writeFileSync(
      config,
      JSON.stringify({ store: { type: 'redis', url: redis.url, maxMessages: 1000 } }),
    );
    const daemon = runpushserver(['127.0.0.1:0', '--config', config, '--workers', '2'], {
      env: { ...process.env, PUSHSERVER_CONFIG: '', NODE_CLUSTER_SCHED_POLICY: '' },
    });
    t.after(() => daemon.stop('SIGKILL'));
    const port = await listeningPort(daemon);
    const origin = `http://127.0.0.1:${port}`;
    const [first, second] = bannerPids(daemon.stdout());

    const stats = { retries: 0, publishRetries: 0, eventSourceErrors: 0 };
    const polls = [
      longPoll(origin, '/subscriber/steady', TOTAL, stats),
      longPoll(origin, '/multi/steady,other', TOTAL, stats),
    ];
    const streamed: string[] = [];
    const source = new EventSource(`${origin}/subscriber/steady`);
    t.after(() => source.close());
    source.onmessage = (event) => streamed.push(event.data);
    source.onerror = () => stats.eventSourceErrors++;
    // Every subscriber waits before the first publish: none starts from the middle.
    await waitUntil('4 subscribers on steady', async () => {
      const info = await request(origin, 'GET', '/publisher/steady', {
        headers: { Accept: 'application/json' },
      });
      return info?.status === 200 && JSON.parse(info.text).subscribers === 3;
    });

    const publisher = createPublisher(resolveSettings({ port }, 'shutdown test'));
    t.after(() => publisher.close());
    for (let n = 1; n <= TOTAL; n++) {
      if (n === TOTAL / 3) process.kill(first, 'SIGTERM');
      if (n === (2 * TOTAL) / 3) {
        // A rolling restart stops the next worker once the last one is back: with none
        // listening, the primary would close the port (and port 0 would change).
        await waitUntil('worker 1 is back', () => /worker 1 is back/.test(daemon.stderr()), {
          timeoutMs: 60_000,
        });
        process.kill(second, 'SIGTERM');
      }
      // The app's rule for a publish that may have failed: send it again with the same
      // key; Redis stores it once.
      for (;;) {
        const sent = await publisher
          .sendUpdate('steady', { n }, { idempotencyKey: `steady-${n}` })
          .then(
            () => true,
            () => false,
          );
        if (sent) break;
        stats.publishRetries++;
        await sleep(50);
      }
      // Steady, not a burst: the stops land between and during publishes.
      await sleep(10);
    }

    const expected = Array.from({ length: TOTAL }, (_, i) => JSON.stringify({ n: i + 1 }));
    const [single, multiplexed] = await Promise.all(polls);
    assert.deepEqual(single, expected);
    assert.deepEqual(multiplexed, expected);
    await waitUntil(`${TOTAL} messages on the EventSource`, () => streamed.length >= TOTAL, {
      timeoutMs: 60_000,
    });
    assert.deepEqual(streamed, expected);
    t.diagnostic(
      `long-poll retries ${stats.retries}, publish retries ${stats.publishRetries}, EventSource reconnections ${stats.eventSourceErrors}`,
    );

    // The primary replaced both; a stop is not a crash.
    const stderr = daemon.stderr();
    assert.match(stderr, new RegExp(`worker 1 \\(pid ${first}\\) stopped; starting a new one`));
    assert.match(stderr, new RegExp(`worker 2 \\(pid ${second}\\) stopped; starting a new one`));
    assert.doesNotMatch(stderr, /died/);

    // Worker log lines carry the worker: a Redis outage, logged by each worker (the
    // second replacement first connected: one that cannot reach Redis does not start).
    await waitUntil('worker 2 is back', () => /worker 2 is back/.test(daemon.stderr()), {
      timeoutMs: 60_000,
    });
    await redis.stop();
    await waitUntil('both workers logged the outage', () =>
      [1, 2].every((w) =>
        new RegExp(`^w${w} pushserver: lost the connection to Redis`, 'm').test(daemon.stderr()),
      ),
    );
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });

  test('close() with a publish in flight (its Redis reply held): waiting polls are answered at once, the publish is answered and stored, then the stores close', async (t) => {
    const redis = await startRedis();
    t.after(() => redis.destroy());
    const proxy = await startRedisProxy(redis.port);
    t.after(() => proxy.close());
    const push = createPushServer({ port: 0, store: { type: 'redis', url: proxy.url } });
    const { port } = await push.listen(0, '127.0.0.1');
    const origin = `http://127.0.0.1:${port}`;
    const waiting = request(origin, 'GET', '/subscriber/parked');
    await waitUntil('the poll to wait', () => push.waiting() === 1);

    const held = proxy.holdRepliesAfter('in-flight-body');
    const publishing = request(origin, 'POST', '/publisher/kept', { body: 'in-flight-body' });
    await held;
    const closing = push.close();
    // The poll does not wait for the publish.
    const parked = await waiting;
    assert.equal(parked?.status, 503);
    assert.equal(parked?.headers.connection, 'close');
    assert.equal(push.stats().published, 0);
    proxy.release();
    const published = await publishing;
    assert.equal(published?.status, 202);
    assert.equal(published?.headers.connection, 'close');
    await closing;
    assert.equal(push.stats().published, 1);

    // Stored: another daemon on the same Redis has it.
    const again = createPushServer({ port: 0, store: { type: 'redis', url: redis.url } });
    t.after(() => again.close());
    const other = await again.listen(0, '127.0.0.1');
    const got = await request(`http://127.0.0.1:${other.port}`, 'GET', '/subscriber/kept');
    assert.equal(got?.text, 'in-flight-body');
  });
});
