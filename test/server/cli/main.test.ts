// `runpushserver` as a user runs it: the real command line in a child process.
// The children run src/server/cli/main.ts through tsx, so the tests need no build;
// one case runs bin/runpushserver.js over dist/ when a build exists.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from '../../conformance/http-client.js';
import { type Child, START_MS, spawnChild } from '../../support/child.js';
import { listeningPort, runpushserver } from '../../support/daemon-process.js';
import { freePort } from '../../support/ports.js';
import { waitUntil } from '../../support/wait.js';

const BIN = fileURLToPath(new URL('../../../bin/runpushserver.js', import.meta.url));
const DIST_CLI = new URL('../../../dist/server/cli/main.js', import.meta.url);
const TSX = import.meta.resolve('tsx');
const VERSION = JSON.parse(
  readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'),
).version;

describe('runpushserver', { concurrency: true }, () => {
  const cwd = mkdtempSync(join(tmpdir(), 'pushserver-cli-'));
  const env = { ...process.env, PUSHSERVER_CONFIG: '' };
  const children: Child[] = [];
  after(async () => {
    await Promise.all(children.map((child) => child.stop('SIGKILL')));
    rmSync(cwd, { recursive: true, force: true });
  });

  const run = (args: string[]): Child => {
    const child = runpushserver(args, { cwd, env });
    children.push(child);
    return child;
  };

  test('banner, a log line per request, and exit 0 on SIGTERM', async () => {
    const daemon = run(['127.0.0.1:0']);
    const port = await listeningPort(daemon);
    await daemon.printed('Quit the server with CONTROL-C.\n');
    const lines = daemon.stdout().split('\n');
    assert.match(lines[0], /^[A-Z][a-z]+ \d{1,2}, \d{4} - \d\d:\d\d:\d\d$/);
    assert.deepEqual(lines.slice(1, 9), [
      `pushserver version ${VERSION}, using settings from defaults`,
      `Node ${process.version}, raw socket path on (Node internals: sharedReadBuffer on, prebuiltHead on, connectionHandOff on)`,
      `Starting push server at http://127.0.0.1:${port}/`,
      `  publisher   http://127.0.0.1:${port}/publisher/<channel_id>`,
      `  subscriber  http://127.0.0.1:${port}/subscriber/<channel_id>`,
      `  subscriber  http://127.0.0.1:${port}/multi/<channel_id>,<channel_id>,...`,
      `  status      http://127.0.0.1:${port}/nchan_status (Nchan's stub status; ?format=prometheus for Prometheus; publisherAllow only)`,
      'Quit the server with CONTROL-C.',
    ]);
    const published = await request(`http://127.0.0.1:${port}`, 'POST', '/publisher/a%20b', {
      body: 'x',
    });
    assert.equal(published?.status, 202);
    await daemon.printed('"POST /publisher/a%20b" 202');
    assert.match(
      daemon.stdout(),
      /\n\[\d\d\/[A-Z][a-z]{2}\/\d{4} \d\d:\d\d:\d\d\] "POST \/publisher\/a%20b" 202 \d+\.\d ms\n/,
    );
    assert.equal(await daemon.stop('SIGTERM'), 0);
    assert.equal(daemon.stderr(), '');
  });

  test('port 0: the banner names the port the system gave, and the daemon answers there', async () => {
    const daemon = run(['127.0.0.1:0']);
    const port = await listeningPort(daemon);
    assert.ok(port > 0, `port ${port}`);
    assert.match(daemon.stdout(), new RegExp(`\n {2}publisher {3}http://127\\.0\\.0\\.1:${port}/`));
    const published = await request(`http://127.0.0.1:${port}`, 'POST', '/publisher/zero', {
      body: 'x',
    });
    assert.equal(published?.status, 202);
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });

  test('SIGINT answers a waiting poll (503) and exits 0; the log says how long it waited', async () => {
    const daemon = run(['0']);
    const port = await listeningPort(daemon);
    const poll = request(`http://127.0.0.1:${port}`, 'GET', '/subscriber/w', {
      headers: { 'If-Modified-Since': 'Fri, 01 Jan 2100 00:00:00 GMT', 'If-None-Match': '0' },
    });
    // The daemon counts the waiting poll in the channel info: wait for it before the signal.
    await waitUntil('the channel info to count the waiting poll', async () => {
      const info = await request(`http://127.0.0.1:${port}`, 'GET', '/publisher/w');
      return info?.status === 200 && info.text.includes('active subscribers: 1');
    });
    const exit = daemon.stop('SIGINT');
    assert.equal((await poll)?.status, 503);
    assert.equal(await exit, 0);
    assert.match(daemon.stdout(), /"GET \/subscriber\/w" 503 [\d.]+ m?s \(waited [\d.]+ m?s\)/);
  });

  test('--quiet prints nothing', async () => {
    // No banner names a port 0 gave: a port that was free a moment ago.
    const port = await freePort();
    const daemon = run([String(port), '--quiet']);
    // No banner to wait for: the request itself tells when it listens.
    const answer = await waitUntil(
      'the quiet daemon to answer',
      () =>
        request(`http://127.0.0.1:${port}`, 'POST', '/publisher/q', { body: 'x' }).catch(
          () => undefined,
        ),
      { timeoutMs: START_MS, intervalMs: 50 },
    );
    assert.equal(answer.status, 202);
    assert.equal(await daemon.stop('SIGTERM'), 0);
    assert.equal(daemon.stdout(), '');
  });

  test('--config FILE: its settings and its name in the banner', async () => {
    const file = join(cwd, 'custom.json');
    writeFileSync(
      file,
      JSON.stringify({
        servername: 'cli-test',
        subscriberHost: { location: 'push.example.com', secure: true },
        locations: [
          { type: 'publisher', url: '/pub/:channel' },
          { type: 'subscriber', url: '/updates/:channel/poll' },
        ],
      }),
    );
    const daemon = run(['--config', file, '127.0.0.1:0']);
    const port = await listeningPort(daemon);
    assert.match(
      daemon.stdout(),
      new RegExp(`using settings from ${file.replaceAll('.', '\\.')}\n`),
    );
    // Listening on its own address; the URLs as browsers and the app reach them.
    assert.match(
      daemon.stdout(),
      new RegExp(`Starting push server at http://127\\.0\\.0\\.1:${port}/\n`),
    );
    assert.match(
      daemon.stdout(),
      /subscriber {2}https:\/\/push\.example\.com\/updates\/<channel_id>\/poll\n/,
    );
    assert.match(
      daemon.stdout(),
      new RegExp(`publisher {3}http://127\\.0\\.0\\.1:${port}/pub/<channel_id>\n`),
    );
    const answer = await request(`http://127.0.0.1:${port}`, 'POST', '/pub/c', { body: 'x' });
    assert.equal(answer?.headers.server, 'cli-test');
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });

  const failures: Array<[string, () => Promise<string[]>, RegExp]> = [
    [
      'a bad addrport',
      async () => ['1.2.3.4:notaport'],
      /^Error: "1\.2\.3\.4:notaport" is not a valid port number or address:port pair\n$/,
    ],
    [
      '--workers with a memory store',
      async () => ['--workers', '4'],
      /^Error: --workers 4 needs store type redis: store is memory, .+\n$/,
    ],
    [
      '--app without --allrequests',
      async () => ['--app', 'app.js'],
      /^Error: --app only works with --allrequests \(one port for the daemon and the app\): .+\n$/,
    ],
    [
      '--app and --upstream together',
      async () => ['--allrequests', '--app', 'app.js', '--upstream', 'http://127.0.0.1:3000'],
      /^Error: give either --app or --upstream, not both\n$/,
    ],
    [
      'an unknown option',
      async () => ['--bogus'],
      /^Error: unknown option --bogus; see runpushserver --help\n$/,
    ],
    [
      'bad settings',
      async () => {
        const file = join(cwd, 'bad.json');
        writeFileSync(file, JSON.stringify({ store: { type: 'memory', maxMessage: 5 } }));
        return ['--config', file, '0'];
      },
      /^Error: pushserver settings: store\.maxMessage is not a known setting; did you mean "maxMessages"\? \(in .+bad\.json\)\n$/,
    ],
    [
      'a missing config file',
      async () => ['--config', 'nowhere.json'],
      /^Error: pushserver settings: config file .+nowhere\.json \(from --config\) does not exist\n$/,
    ],
  ];
  for (const [label, args, message] of failures) {
    test(`${label}: one line on stderr, exit 2`, async () => {
      const daemon = run(await args());
      assert.equal(await daemon.ended(), 2);
      assert.match(daemon.stderr(), message);
      assert.equal(daemon.stdout(), '');
    });
  }

  test('a store that cannot open (Redis down): one line on stderr, exit 2', async () => {
    const file = join(cwd, 'redis-down.json');
    const url = `redis://127.0.0.1:${await freePort()}`;
    writeFileSync(file, JSON.stringify({ store: { type: 'redis', url } }));
    const daemon = run(['--config', file, '0']);
    assert.equal(await daemon.ended(), 2);
    assert.match(
      daemon.stderr(),
      new RegExp(`^Error: [^\n]*${url.replaceAll('.', '\\.')}[^\n]*\n$`),
    );
    assert.equal(daemon.stdout(), '');
  });

  test('a port in use: one line on stderr, exit 2', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    after(() => blocker.close());
    const { port } = blocker.address() as { port: number };
    const daemon = run([`127.0.0.1:${port}`]);
    assert.equal(await daemon.ended(), 2);
    assert.equal(
      daemon.stderr(),
      `Error: That port is already in use (127.0.0.1:${port}). Stop the process using it, or choose another port: npx runpushserver 127.0.0.1:${port + 1} (0 takes any free port; the app needs the same port in its settings).\n`,
    );
  });

  test('-6 listens on [::1]', async (t) => {
    const probe = createServer();
    const ipv6 = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    if (!ipv6) return t.skip('no IPv6 loopback on this machine');
    const daemon = run(['-6', '0']);
    const port = await listeningPort(daemon);
    assert.match(
      daemon.stdout(),
      new RegExp(`Starting push server at http://\\[::1\\]:${port}/\n`),
    );
    const answer = await request(`http://[::1]:${port}`, 'POST', '/publisher/v6', { body: 'x' });
    assert.equal(answer?.status, 202);
    assert.equal(await daemon.stop('SIGTERM'), 0);
  });

  test('bin/runpushserver.js runs the built command', {
    skip: existsSync(DIST_CLI) ? false : 'no build in dist/ (npm run build)',
  }, async () => {
    const daemon = spawnChild(process.execPath, ['--import', TSX, BIN, '--help'], { cwd, env });
    children.push(daemon);
    assert.equal(await daemon.ended(), 0);
    assert.match(daemon.stdout(), /^usage: runpushserver \[addrport\]/);
  });
});
