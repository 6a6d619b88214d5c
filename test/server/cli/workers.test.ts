// `runpushserver --workers N` as a user runs it: the real command (src/server/cli/main.ts
// through tsx), Node's cluster, a real redis-server. Every wait is on a log line, an
// exit, or state only observable by asking (the channel's subscriber count).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from '../../conformance/http-client.js';
import type { Child } from '../../support/child.js';
import { listeningPort, runpushserver } from '../../support/daemon-process.js';
import { freePort } from '../../support/ports.js';
import { type Redis, startRedis } from '../../support/redis.js';
import { needs, REDIS } from '../../support/system.js';
import { waitUntil, withDeadline } from '../../support/wait.js';

const children: Child[] = [];

function run(args: string[], cwd: string): Child {
  const child = runpushserver(args, {
    cwd,
    env: { ...process.env, PUSHSERVER_CONFIG: '', NODE_CLUSTER_SCHED_POLICY: '' },
  });
  children.push(child);
  return child;
}

/** `pid` of each worker, from the banner's `workers` row. */
function bannerPids(stdout: string): number[] {
  const row = /^ {2}workers +\d+ processes \(pids ([\d, ]+)\)/m.exec(stdout);
  assert.ok(row, `no workers row in the banner:\n${stdout}`);
  return row[1].split(', ').map(Number);
}

/** A subscriber on its own keep-alive connection (so it stays on one worker). */
class Subscriber {
  readonly bodies: string[] = [];
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private cursor: { lastModified: string; etag: string } | undefined;

  constructor(
    readonly origin: string,
    readonly channel: string,
    readonly name: string,
  ) {}

  /** Poll until `count` messages have come; the URL's query names the subscriber in the log. */
  async receive(count: number): Promise<void> {
    while (this.bodies.length < count) {
      const answer = await this.poll();
      assert.equal(answer.status, 200, `${this.name}: ${answer.status} ${answer.body}`);
      this.bodies.push(answer.body);
      this.cursor = { lastModified: answer.lastModified, etag: answer.etag };
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private poll(): Promise<{ status: number; body: string; lastModified: string; etag: string }> {
    const headers: Record<string, string> = this.cursor
      ? { 'If-Modified-Since': this.cursor.lastModified, 'If-None-Match': this.cursor.etag }
      : {};
    return new Promise((resolve, reject) => {
      const req = http.get(
        `${this.origin}/subscriber/${this.channel}?s=${this.name}`,
        { agent: this.agent, headers },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body,
              lastModified: String(res.headers['last-modified'] ?? ''),
              etag: String(res.headers.etag ?? ''),
            }),
          );
        },
      );
      req.on('error', reject);
    });
  }
}

async function waitingOn(origin: string, channel: string): Promise<number> {
  const answer = await request(origin, 'GET', `/publisher/${channel}`, {
    headers: { Accept: 'application/json' },
  });
  return answer?.status === 200 ? JSON.parse(answer.text).subscribers : 0;
}

async function publishOk(origin: string, channel: string, body: string): Promise<void> {
  const answer = await request(origin, 'POST', `/publisher/${channel}`, {
    body,
    headers: { 'Content-Type': 'text/plain' },
  });
  assert.ok(answer?.status === 201 || answer?.status === 202, `POST: ${answer?.status}`);
}

describe('runpushserver --workers', { skip: needs(REDIS), concurrency: true }, () => {
  let redis: Redis;
  let cwd: string;
  let prefixes = 0;
  /** A config file of a Redis store with a key prefix of its own. */
  const redisConfig = () => {
    const file = join(cwd, `redis-${++prefixes}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        store: { type: 'redis', url: redis.url, keyPrefix: `w${prefixes}:`, maxMessages: 100 },
      }),
    );
    return file;
  };

  /** `runpushserver 127.0.0.1:0 --config <a Redis store> --workers 2`, once its banner is out. */
  const startTwoWorkers = async () => {
    const daemon = run(['127.0.0.1:0', '--config', redisConfig(), '--workers', '2'], cwd);
    const origin = `http://127.0.0.1:${await listeningPort(daemon)}`;
    await daemon.printed(/Quit the server with CONTROL-C\.\n/);
    return Object.assign(daemon, { origin });
  };

  before(async () => {
    redis = await startRedis();
    cwd = mkdtempSync(join(tmpdir(), 'pushserver-workers-'));
  });
  after(async () => {
    await Promise.all(children.map((child) => child.stop('SIGKILL')));
    await redis?.destroy();
    rmSync(cwd, { recursive: true, force: true });
  });

  test('subscribers on different workers all get every message once, in order; SIGTERM exits 0', async () => {
    const daemon = await startTwoWorkers();
    assert.equal(bannerPids(daemon.stdout()).length, 2);
    const subscribers = Array.from(
      { length: 8 },
      (_, i) => new Subscriber(daemon.origin, 'room', `s${i}`),
    );
    const live = 5;
    const burst = 10;
    const received = Promise.all(subscribers.map((s) => s.receive(live + burst)));
    // Live fan-out: each message once all eight polls wait (on either worker).
    for (let seq = 1; seq <= live; seq++) {
      await waitUntil('8 waiting subscribers', async () => {
        return (await waitingOn(daemon.origin, 'room')) === 8;
      });
      const answered = subscribers.map((s) => s.bodies.length);
      await publishOk(daemon.origin, 'room', `m${seq}`);
      await waitUntil(`message ${seq} everywhere`, () =>
        subscribers.every((s, i) => s.bodies.length > answered[i]),
      );
    }
    // Then a burst, published without waiting: the re-polls catch up from their cursors.
    for (let seq = live + 1; seq <= live + burst; seq++)
      await publishOk(daemon.origin, 'room', `m${seq}`);
    await withDeadline(received, 30_000, `every subscriber to get ${live + burst} messages`);
    const expected = Array.from({ length: live + burst }, (_, i) => `m${i + 1}`);
    for (const subscriber of subscribers) {
      assert.deepEqual(subscriber.bodies, expected, subscriber.name);
      subscriber.close();
    }
    // Each subscriber stayed on the worker of its connection; both workers served some.
    const served = new Map<string, Set<string>>();
    for (const [, worker, name] of daemon
      .stdout()
      .matchAll(/ (w\d) "GET \/subscriber\/room\?s=(s\d)"/g)) {
      served.set(name, (served.get(name) ?? new Set()).add(worker));
    }
    assert.equal(served.size, 8);
    for (const [name, workers] of served) assert.equal(workers.size, 1, `${name} moved`);
    const workers = new Set([...served.values()].flatMap((set) => [...set]));
    assert.deepEqual([...workers].sort(), ['w1', 'w2']);
    assert.equal(await daemon.stop('SIGTERM'), 0);
    assert.equal(daemon.stderr(), '');
  });

  test('SIGINT answers the waiting polls of every worker (503) and exits 0', async () => {
    const daemon = await startTwoWorkers();
    const future = { 'If-Modified-Since': 'Fri, 01 Jan 2100 00:00:00 GMT', 'If-None-Match': '0' };
    // Fresh connections alternate between the workers.
    const polls = Array.from({ length: 4 }, () =>
      request(daemon.origin, 'GET', '/subscriber/bye', { headers: future }),
    );
    await waitUntil('4 waiting subscribers', async () => {
      return (await waitingOn(daemon.origin, 'bye')) === 4;
    });
    const exit = daemon.stop('SIGINT');
    for (const poll of polls) assert.equal((await poll)?.status, 503);
    assert.equal(await exit, 0);
    assert.match(daemon.stdout(), / w1 "GET \/subscriber\/bye" 503 /);
    assert.match(daemon.stdout(), / w2 "GET \/subscriber\/bye" 503 /);
  });

  test('a killed worker is replaced and serves; a crash loop ends with exit 1', async () => {
    const daemon = await startTwoWorkers();
    const pids = bannerPids(daemon.stdout());
    process.kill(pids[0], 'SIGKILL');
    const died = await daemon.printed(
      /pushserver: worker (\d) \(pid (\d+)\) died \(signal SIGKILL\); starting a new one\n/,
      { stream: 'stderr' },
    );
    assert.equal(Number(died[2]), pids[0]);
    let back = await daemon.printed(
      new RegExp(`pushserver: worker ${died[1]} is back \\(pid (\\d+)\\)\\n`),
      { stream: 'stderr' },
    );
    const replacement = Number(back[1]);
    assert.ok(!pids.includes(replacement));
    assert.deepEqual(childPids(daemon.process.pid as number).sort(), [pids[1], replacement].sort());
    // The new worker serves: fresh connections alternate between the two.
    const from = daemon.stdout().length;
    for (let i = 0; i < 4; i++) await publishOk(daemon.origin, 'after', `m${i}`);
    await daemon.printed(new RegExp(` w${died[1]} "POST /publisher/after" 202 `), { from });
    // Four more deaths within a minute make a crash loop.
    let current = replacement;
    for (let i = 0; i < 3; i++) {
      const mark = daemon.stderr().length;
      process.kill(current, 'SIGKILL');
      back = await daemon.printed(/pushserver: worker \d is back \(pid (\d+)\)\n/, {
        stream: 'stderr',
        from: mark,
      });
      current = Number(back[1]);
    }
    process.kill(current, 'SIGKILL');
    assert.equal(await daemon.ended(), 1);
    assert.match(
      daemon.stderr(),
      /\nError: workers died 5 times within 60 s \(the last: worker \d, signal SIGKILL\); stopping\n$/,
    );
    // The other worker was stopped with it.
    assert.throws(() => process.kill(pids[1], 0));
  });

  const refusals: Array<[string, () => Promise<string[]>, RegExp]> = [
    [
      'a memory store',
      async () => ['--workers', '2', '0'],
      /^Error: --workers 2 needs store type redis: store is memory, so each worker would keep its own channels; set store to \{type: 'redis', url: 'redis:\/\/127\.0\.0\.1:6379'\} \(or run one process\)\n$/,
    ],
    [
      'a named memory store a location uses',
      async () => {
        const file = join(cwd, 'mixed.json');
        writeFileSync(
          file,
          JSON.stringify({
            store: { shared: { type: 'redis', url: redis.url }, local: { type: 'memory' } },
            locations: [
              { type: 'publisher', url: '/publisher/:channel', store: 'shared' },
              { type: 'subscriber', url: '/subscriber/:channel', store: 'local' },
            ],
          }),
        );
        return ['--workers', 'auto', '--config', file, '0'];
      },
      /^Error: --workers \d+ needs store type redis: store\.local is memory, /,
    ],
    [
      'Redis unreachable',
      async () => {
        const file = join(cwd, 'down.json');
        const url = `redis://127.0.0.1:${await freePort()}`;
        writeFileSync(file, JSON.stringify({ store: { type: 'redis', url } }));
        return ['--workers', '2', '--config', file, '0'];
      },
      /^Error: Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable \(.+\); start Redis or fix store\.url\n$/,
    ],
    [
      '--allrequests',
      async () => ['--workers', '2', '--allrequests', '--upstream', 'http://127.0.0.1:3000'],
      /^Error: --workers does not combine with --allrequests .+\n$/,
    ],
    [
      'a bad count',
      async () => ['--workers', 'two'],
      /^Error: --workers "two" is not a number of processes: --workers 2, or --workers auto for one per CPU\n$/,
    ],
  ];
  for (const [label, args, message] of refusals) {
    test(`refused: ${label}; one line on stderr, exit 2`, async () => {
      const argv = await args();
      const daemon = run(argv, cwd);
      assert.equal(await daemon.ended(), 2);
      assert.match(daemon.stderr(), message);
      assert.equal(daemon.stderr().split('\n').length, 2, daemon.stderr());
      assert.equal(daemon.stdout(), '');
    });
  }

  test('refused: a port in use; one line on stderr, exit 2', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    after(() => blocker.close());
    const { port } = blocker.address() as { port: number };
    const daemon = run([`127.0.0.1:${port}`, '--config', redisConfig(), '--workers', '2'], cwd);
    assert.equal(await daemon.ended(), 2);
    assert.equal(
      daemon.stderr(),
      `Error: That port is already in use (127.0.0.1:${port}). Stop the process using it, or choose another port: npx runpushserver 127.0.0.1:${port + 1} (0 takes any free port; the app needs the same port in its settings).\n`,
    );
    assert.equal(daemon.stdout(), '');
  });

  test('--workers 1 is the single-process daemon (a memory store is fine)', async () => {
    const daemon = run(['127.0.0.1:0', '--workers', '1'], cwd);
    const port = await listeningPort(daemon);
    assert.doesNotMatch(daemon.stdout(), /workers/);
    await publishOk(`http://127.0.0.1:${port}`, 'one', 'x');
    await daemon.printed(/\] "POST \/publisher\/one" 202 /);
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });
});

/** The children of `pid` (the cluster's workers), from /proc. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
