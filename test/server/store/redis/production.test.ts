// The README's "Several pushserver daemons with Redis" as written: its settings file
// run by the real `runpushserver` twice, behind its nginx configuration (only ports
// and the Redis address replaced); and `ioredis` stays unloaded without a Redis store.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type Cursor,
  type DaemonProcess,
  runCommand,
  startCommand,
} from '../../../support/daemon-process.js';
import { type Nchan, startNchan } from '../../../support/nchan.js';
import { freePort } from '../../../support/ports.js';
import { type Redis, startRedis } from '../../../support/redis.js';
import { NCHAN, needs, REDIS } from '../../../support/system.js';
import { waitUntil } from '../../../support/wait.js';

const README = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');

/** The text between the README's production markers. */
function productionSection(): string {
  const start = README.indexOf('<!-- section: production -->');
  const end = README.indexOf('<!-- /section: production -->');
  assert.ok(start >= 0 && end > start, 'README has a production section');
  return README.slice(start, end);
}

/** The first fenced block of `language` after `marker` in the production section. */
function codeBlock(language: string, marker = ''): string {
  const section = productionSection();
  const from = section.indexOf(marker);
  assert.ok(from >= 0, `README production section mentions ${marker}`);
  const match = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\`\\n`).exec(section.slice(from));
  assert.ok(match?.[1], `a ${language} block after "${marker}"`);
  return match[1];
}

/** An nginx.conf around the README's `http`-level lines, for a private prefix. */
function nginxConfig(httpLines: string, modules = ''): string {
  return `${modules}
worker_processes 1;
pid nginx.pid;
error_log logs/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
${httpLines}
}
`;
}

function replaceOnce(text: string, from: string, to: string): string {
  assert.ok(text.includes(from), `the README example contains ${from}`);
  return text.replace(from, to);
}

const FIRST_POLL = { 'If-Modified-Since': 'Thu, 1 Jan 1970 00:00:00 GMT', 'If-None-Match': '0' };

describe('README: several daemons with Redis behind nginx', { skip: needs(REDIS, NCHAN) }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-production-'));
  const configFile = join(dir, 'pushserver.config.mjs');
  let redis: Redis;
  let nginx: Nchan;
  let publisherPort: number;
  const daemons: DaemonProcess[] = [];

  before(async () => {
    writeFileSync(configFile, codeBlock('js', 'pushserver.config.mjs'));
    redis = await startRedis();
    const env = { REDIS_URL: redis.url };
    daemons.push(
      ...(await Promise.all([
        startCommand(['--config', configFile], env),
        startCommand(['--config', configFile], env),
      ])),
    );
    publisherPort = await freePort();
    let http = codeBlock('nginx', 'nginx in front');
    http = replaceOnce(http, 'server 127.0.0.1:8001;', `server 127.0.0.1:${daemons[0]?.port};`);
    http = replaceOnce(http, 'server 127.0.0.1:8002;', `server 127.0.0.1:${daemons[1]?.port};`);
    http = replaceOnce(http, 'listen 80;', 'listen 127.0.0.1:__PORT__;');
    http = replaceOnce(http, 'listen 127.0.0.1:8080;', `listen 127.0.0.1:${publisherPort};`);
    nginx = await startNchan({ config: nginxConfig(http) });
  });
  after(async () => {
    await nginx?.stop();
    await Promise.all(daemons.map((daemon) => daemon.stop()));
    await redis?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  test('subscribers polling through nginx get every message once, in order, from both daemons', async () => {
    const count = 30;
    const subscribers = Array.from({ length: 10 }, async () => {
      const bodies: string[] = [];
      let cursor: Cursor | undefined;
      while (bodies.length < count) {
        const headers = cursor
          ? { 'If-Modified-Since': cursor.lastModified, 'If-None-Match': cursor.etag }
          : FIRST_POLL;
        const response = await fetch(`${nginx.origin}/subscriber/lb%2Froom`, { headers });
        const body = await response.text();
        assert.equal(response.status, 200, body);
        bodies.push(body);
        cursor = {
          lastModified: response.headers.get('last-modified') ?? '',
          etag: response.headers.get('etag') ?? '',
        };
      }
      return bodies;
    });
    await waitUntil('every subscriber waits', async () => {
      const response = await fetch(`http://127.0.0.1:${publisherPort}/publisher/lb%2Froom`, {
        headers: { Accept: 'application/json' },
      });
      const text = await response.text();
      return response.status === 200 && JSON.parse(text).subscribers === 10;
    });
    for (let i = 0; i < count; i++) {
      const response = await fetch(`http://127.0.0.1:${publisherPort}/publisher/lb%2Froom`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        body: `m${i}`,
      });
      assert.ok([201, 202].includes(response.status), await response.text());
    }
    const expected = Array.from({ length: count }, (_, i) => `m${i}`);
    for (const bodies of await Promise.all(subscribers)) assert.deepEqual(bodies, expected);
    // nginx spread the polls and the publishes over both daemons (their request logs).
    for (const daemon of daemons) {
      assert.match(daemon.stdout(), /"GET \/subscriber\/lb%2Froom" 200/);
      assert.match(daemon.stdout(), /"POST \/publisher\/lb%2Froom" 20[12]/);
    }
  });

  test('Redis unreachable at start: one line on stderr, exit status 2', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const result = await runCommand([`127.0.0.1:${await freePort()}`, '--config', configFile], {
      REDIS_URL: url,
    });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      `Error: Redis at ${url} is unreachable (connect ECONNREFUSED 127.0.0.1:${port}); start Redis or fix store.url\n`,
    );
    assert.equal(result.stdout, '');
  });
});

describe('README: Nchan sharing channels through Redis', { skip: needs(REDIS, NCHAN) }, () => {
  let redis: Redis;
  const servers: { nchan: Nchan; publisherPort: number }[] = [];

  before(async () => {
    redis = await startRedis();
    for (let i = 0; i < 2; i++) {
      const publisherPort = await freePort();
      let http = codeBlock('nginx', 'nchan_redis_pass');
      http = replaceOnce(http, 'redis://127.0.0.1:6379', redis.url);
      http = replaceOnce(http, 'listen 80;', 'listen 127.0.0.1:__PORT__;');
      http = replaceOnce(http, 'listen 127.0.0.1:8080;', `listen 127.0.0.1:${publisherPort};`);
      const modules = 'load_module /usr/lib/nginx/modules/ngx_nchan_module.so;';
      servers.push({
        nchan: await startNchan({ config: nginxConfig(http, modules) }),
        publisherPort,
      });
    }
    // Nchan answers 503 until its worker has connected to Redis.
    for (const { publisherPort } of servers) {
      await waitUntil('nginx connected to Redis', async () => {
        const response = await fetch(`http://127.0.0.1:${publisherPort}/publisher/ready-probe`);
        await response.arrayBuffer();
        return response.status !== 503;
      });
    }
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.nchan.stop()));
    await redis?.destroy();
  });

  test('a message published to one nginx reaches a subscriber of the other', async () => {
    const [one, two] = servers as [(typeof servers)[0], (typeof servers)[0]];
    const publish = (body: string) =>
      fetch(`http://127.0.0.1:${one.publisherPort}/publisher/shared`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain' },
        body,
      });
    assert.equal((await publish('first')).status, 202);
    const first = await fetch(`${two.nchan.origin}/subscriber/shared`, { headers: FIRST_POLL });
    assert.equal(first.status, 200);
    assert.equal(await first.text(), 'first');
    const cursor = {
      'If-Modified-Since': first.headers.get('last-modified') ?? '',
      'If-None-Match': first.headers.get('etag') ?? '',
    };
    const waiting = fetch(`${two.nchan.origin}/subscriber/shared`, { headers: cursor });
    await waitUntil('the subscriber waits', async () => {
      const response = await fetch(`http://127.0.0.1:${one.publisherPort}/publisher/shared`, {
        headers: { Accept: 'application/json' },
      });
      return JSON.parse(await response.text()).subscribers === 1;
    });
    assert.equal((await publish('second')).status, 201);
    const second = await waiting;
    assert.equal(second.status, 200);
    assert.equal(await second.text(), 'second');
  });
});

describe('ioredis is an optional peer dependency', () => {
  const script = fileURLToPath(new URL('../../../../src/server/daemon.ts', import.meta.url));
  // Count the ioredis files Node loaded after a daemon started and stopped.
  const probe = (settings: string) => `
    import { createRequire } from 'node:module';
    const { createPushServer } = await import(${JSON.stringify(script)});
    const push = createPushServer(${settings});
    try { await push.listen(0); await push.close(); } catch {}
    const files = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('/node_modules/ioredis/'));
    process.stdout.write(String(files.length));
  `;
  const run = async (settings: string) => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--import',
      'tsx',
      '--input-type=module',
      '--eval',
      probe(settings),
    ]);
    return Number(stdout);
  };

  test('a daemon with the memory store never loads it; a Redis store does', async () => {
    assert.equal(await run('{ port: 0 }'), 0);
    assert.ok((await run("{ port: 0, store: { type: 'redis', url: 'redis://127.0.0.1:1' } }")) > 0);
  });
});
