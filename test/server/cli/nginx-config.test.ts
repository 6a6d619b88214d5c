// `runpushserver nginx-config`: the command's output, and the generated config run by
// real nginx + Nchan for several settings files (the full conformance suite runs it
// in test/conformance/generated-nchan.test.ts, a browser page in test/e2e/nginx-config.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import express from 'express';
import { Redis as IORedis } from 'ioredis';
import { channelUrl, publisherUrl } from '../../../src/channel/urls.js';
import { type AuthorizeOptions, authorize } from '../../../src/express/authorize.js';
import { createPublisher } from '../../../src/publish/index.js';
import type { PushServerSettings } from '../../../src/settings/index.js';
import { answered } from '../../conformance/http-client.js';
import { runCommand } from '../../support/daemon-process.js';
import { startGeneratedNchan } from '../../support/generated-nchan.js';
import { eventSource, listen, recordSignals, sessionApp } from '../../support/passthrough.js';
import { startRedis } from '../../support/redis.js';
import { NCHAN, needs, REDIS } from '../../support/system.js';
import { waitUntil } from '../../support/wait.js';

function settingsFile(t: TestContext, settings: PushServerSettings): string {
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-nginx-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pushserver.config.json');
  writeFileSync(file, JSON.stringify(settings));
  return file;
}

describe('runpushserver nginx-config', () => {
  test('defaults: the config on stdout, nothing on stderr', async () => {
    const { code, stdout, stderr } = await runCommand(['nginx-config'], {
      PUSHSERVER_CONFIG: '',
    });
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
    assert.match(stdout, /^load_module \/usr\/lib\/nginx\/modules\/ngx_nchan_module\.so;$/m);
    assert.match(stdout, /listen 127\.0\.0\.1:8001;/);
    assert.match(stdout, /location ~ \^\/publisher\/\(\.\+\)\$ \{\n\s+nchan_publisher http;/);
    assert.match(stdout, /location ~ \^\/subscriber\/\(\.\+\)\$ \{/);
    assert.match(
      stdout,
      /location ~ \^\/multi\/\(\.\+\)\$ \{[^}]*nchan_channel_id_split_delimiter ",";/,
    );
    assert.match(stdout, /nchan_message_buffer_length 10;\n\s+nchan_message_timeout 3600s;/);
    assert.match(
      stdout,
      /location = \/nchan_status \{\n\s+nchan_stub_status;\n\s+allow 127\.0\.0\.0\/8;\n\s+allow ::1;\n\s+deny all;/,
    );
  });

  test('settings without an Nchan equivalent: a comment in place and a line on stderr; --out writes the file', async (t) => {
    const file = settingsFile(t, {
      port: 9010,
      store: { type: 'memory', minMessages: 2, maxMessages: 50 },
      locations: [
        { type: 'publisher', prefix: '/pub/', createOnPost: false },
        { type: 'subscriber', prefix: '/sub/', passthrough: 'http://127.0.0.1:8000/passthrough' },
      ],
    });
    const out = join(file, '..', 'nginx.conf');
    const { code, stdout, stderr } = await runCommand([
      'nginx-config',
      '--config',
      file,
      '--out',
      out,
    ]);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, '');
    const lines = stderr.trim().split('\n');
    assert.deepEqual(
      lines.map((line) => line.replace(/:.*/s, '')),
      ['nginx-config', 'nginx-config', 'nginx-config', 'nginx-config'],
    );
    assert.match(stderr, /store\.default\.minMessages: 2: Nchan expires every message/);
    assert.match(stderr, /locations\[0\]\.createOnPost: false: Nchan creates the channel/);
    assert.match(
      stderr,
      /locations\[1\]\.passthrough: Nchan sends the hooks for EventSource and WebSocket subscribers only/,
    );
    assert.match(stderr, /wrote .*nginx\.conf/);
    const config = readFileSync(out, 'utf8');
    assert.match(config, /listen 127\.0\.0\.1:9010;/);
    assert.equal((config.match(/# no Nchan equivalent: /g) ?? []).length, 3);
    assert.match(config, /proxy_set_body "channel_id=\$pushserver_channel&unsubscribe=1";/);
  });

  test('a bad command line: one line, status 2', async () => {
    const { code, stderr } = await runCommand(['nginx-config', '--out']);
    assert.equal(code, 2);
    assert.equal(stderr, 'Error: --out needs a file: --out nginx.conf\n');
  });
});

describe('the generated config in real nginx + Nchan', {
  skip: needs(NCHAN),
  concurrency: true,
}, () => {
  test('defaults: publish with sendUpdate, poll /subscriber/ and the multiplexed /multi/, the status location', async (t) => {
    const { nchan, settings } = await startGeneratedNchan({});
    t.after(() => nchan.stop());
    const publisher = createPublisher(settings);
    t.after(() => publisher.close());
    await publisher.sendUpdate('a', { type: 'hello', n: 1 });
    await publisher.sendUpdate('b c', { type: 'hello', n: 2 });
    const single = await answered(nchan.origin, 'GET', new URL(channelUrl('a', settings)).pathname);
    assert.equal(single.status, 200);
    assert.deepEqual(JSON.parse(single.text), { type: 'hello', n: 1 });
    const multi = await answered(nchan.origin, 'GET', '/multi/a,b%20c');
    assert.equal(multi.status, 200);
    assert.deepEqual(JSON.parse(multi.text), { type: 'hello', n: 1 });
    assert.equal(multi.headers.etag, '[0],-');
    const status = await answered(nchan.origin, 'GET', '/nchan_status');
    assert.equal(status.status, 200);
    assert.match(status.text, /^total published messages: 2\nstored messages: 2\n/);
  });

  test('regex and :param locations', async (t) => {
    const { nchan, settings } = await startGeneratedNchan({
      locations: [
        { type: 'publisher', url: '/updates/:channel' },
        { type: 'subscriber', url: '^/live/([a-z0-9-]+)/poll$' },
      ],
    });
    t.after(() => nchan.stop());
    const publisher = createPublisher(settings);
    t.after(() => publisher.close());
    assert.equal(new URL(publisherUrl('room-1', settings)).pathname, '/updates/room-1');
    await publisher.sendUpdate('room-1', { type: 'x' });
    const path = new URL(channelUrl('room-1', settings)).pathname;
    assert.equal(path, '/live/room-1/poll');
    const got = await answered(nchan.origin, 'GET', path);
    assert.equal(got.status, 200);
    assert.equal(got.text, '{"type":"x"}');
    // Outside the pattern: no location.
    assert.equal((await answered(nchan.origin, 'GET', '/live/Room/poll')).status, 404);
  });

  test('a fixed CORS origin: that origin is served, another gets 403', async (t) => {
    const { nchan } = await startGeneratedNchan({
      locations: [
        { type: 'publisher', prefix: '/publisher/' },
        { type: 'subscriber', prefix: '/subscriber/', allowOrigin: 'http://app.example' },
      ],
    });
    t.after(() => nchan.stop());
    await answered(nchan.origin, 'POST', '/publisher/c', { 'Content-Type': 'text/plain' }, 'm');
    const ok = await answered(nchan.origin, 'GET', '/subscriber/c', {
      Origin: 'http://app.example',
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'http://app.example');
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    const refused = await answered(nchan.origin, 'GET', '/subscriber/c', {
      Origin: 'http://evil.example',
    });
    assert.equal(refused.status, 403);
  });

  test('Redis: messages live in Redis (they outlive an nginx restart)', {
    skip: needs(REDIS),
  }, async (t) => {
    const redis = await startRedis();
    t.after(() => redis.destroy());
    const { nchan, settings, config } = await startGeneratedNchan({
      store: { type: 'redis', url: redis.url, maxMessages: 100 },
    });
    t.after(() => nchan.stop());
    assert.match(config, new RegExp(`nchan_redis_server "${redis.url}";`));
    // Nchan answers 503 until it has connected to Redis (after a start or restart).
    const redisConnected = () =>
      waitUntil('Nchan to connect to Redis', async () => {
        const info = await answered(nchan.origin, 'GET', '/publisher/kept');
        return info.status !== 503;
      });
    await redisConnected();
    const publisher = createPublisher(settings);
    t.after(() => publisher.close());
    await publisher.sendUpdate('kept', { type: 'stored' });
    const client = new IORedis(redis.url);
    client.on('error', () => {});
    t.after(() => void client.disconnect());
    assert.ok((await client.keys('*kept*')).length > 0, 'Nchan wrote the channel to Redis');
    await nchan.restart();
    await redisConnected();
    const got = await answered(nchan.origin, 'GET', '/subscriber/kept');
    assert.equal(got.status, 200);
    assert.equal(got.text, '{"type":"stored"}');
  });

  test('passthrough: EventSource subscribers reach the app as subscribe / unsubscribe with the exact id and the cookie', async (t) => {
    const signals = recordSignals();
    t.after(() => signals.stop());
    const app = await listen(sessionApp());
    t.after(() => app.stop());
    const passthrough = `http://127.0.0.1:${app.port}/passthrough`;
    const { nchan } = await startGeneratedNchan({
      locations: [
        { type: 'publisher', prefix: '/publisher/' },
        { type: 'subscriber', prefix: '/subscriber/', passthrough },
        { type: 'subscriber', prefix: '/multi/', splitDelimiter: ',', passthrough },
      ],
    });
    t.after(() => nchan.stop());
    const login = await fetch(`http://127.0.0.1:${app.port}/login?user=dana`);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    const paths = ['/subscriber/a%26b%3Dc', '/subscriber/caf%C3%A9%20x', '/multi/p,q'];
    for (const [i, path] of paths.entries()) {
      const stream = await eventSource(nchan.origin + path, { cookie });
      assert.equal(stream.status, 200);
      await signals.until(1, (s) => s.event === 'subscribe' && signals.seen.indexOf(s) >= 2 * i);
      // Nchan drops the unsubscribe of a client that left before the subscribe hook was answered.
      await Promise.all(signals.answered);
      const channel = path.startsWith('/multi/') ? 'p' : decodeURIComponent(path.slice(12));
      await waitUntil('Nchan to count the subscriber', async () => {
        const answer = await answered(
          nchan.origin,
          'POST',
          `/publisher/${encodeURIComponent(channel)}`,
          {},
          `m${i}`,
        );
        return answer.status === 201;
      });
      await stream.received(`data: m${i}\n`);
      stream.close();
      await signals.until(1, (s) => s.event === 'unsubscribe' && signals.seen.indexOf(s) >= 2 * i);
      // The multiplexed hook names both channels: one signal each, after the first.
      if (path.startsWith('/multi/')) await signals.until(2 * paths.length + 2);
    }
    assert.deepEqual(
      signals.seen.map((s) => `${s.event} ${s.user} ${s.channelId}`),
      [
        'subscribe dana a&b=c',
        'unsubscribe dana a&b=c',
        'subscribe dana café x',
        'unsubscribe dana café x',
        'subscribe dana p',
        'subscribe dana q',
        'unsubscribe dana p',
        'unsubscribe dana q',
      ],
    );
  });

  test('signed and authorize: Nchan asks the app, whose authorize() verifies the signature; signed without authorize refuses everyone', async (t) => {
    const options: AuthorizeOptions = {};
    const app = express();
    app.use('/push/authorize', authorize(undefined, options));
    const server = await listen(app);
    t.after(() => server.stop());
    const secret = 'a test secret that is long enough to sign channel ids';
    const { nchan, settings, config, notes } = await startGeneratedNchan({
      secret,
      locations: [
        { type: 'publisher', prefix: '/publisher/' },
        {
          type: 'subscriber',
          prefix: '/private/',
          signed: true,
          authorize: `http://127.0.0.1:${server.port}/push/authorize`,
        },
        { type: 'subscriber', prefix: '/closed/', signed: true },
      ],
    });
    t.after(() => nchan.stop());
    options.settings = settings;
    assert.match(config, /nchan_authorize_request \/_pushserver\/authorize-0;/);
    assert.deepEqual(notes, [
      "locations[2].signed: Nchan cannot verify signatures itself; set this location's authorize to the URL where the app mounts authorize() (it verifies them). Until then the location refuses every subscriber",
    ]);
    const publisher = createPublisher(settings);
    t.after(() => publisher.close());
    await publisher.sendUpdate('room', { n: 1 });

    const signed = new URL(channelUrl('room', { settings, signed: true }));
    assert.equal(signed.pathname, '/private/room');
    const ok = await answered(nchan.origin, 'GET', signed.pathname + signed.search);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(JSON.parse(ok.text), { n: 1 });

    const tampered = signed.search.replace(/sig=(.)/, (_m, c) => `sig=${c === 'A' ? 'B' : 'A'}`);
    for (const path of [
      `/private/room${tampered}`,
      '/private/room',
      `/closed/room${signed.search}`,
    ]) {
      const refused = await answered(nchan.origin, 'GET', path);
      assert.equal(refused.status, 403, path);
      assert.doesNotMatch(refused.text, /"n"/, path);
    }
  });
});
