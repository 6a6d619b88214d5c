import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import express from 'express';
import { passthrough } from '../../../src/express/passthrough-receiver.ts';
import {
  AllRequestsError,
  createAllRequestsServer,
  loadApp,
} from '../../../src/server/cli/allrequests.ts';
import { signals } from '../../../src/signals.ts';
import { freePort } from '../../support/ports.ts';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request with full control over Host and the body. */
function request(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startOne(options: Parameters<typeof createAllRequestsServer>[0]) {
  const one = createAllRequestsServer({
    ...options,
    settings: { servername: 'test-push', ...options.settings },
  });
  const { port } = await one.listen(0, '127.0.0.1');
  cleanups.push(() => {
    one.server?.closeAllConnections();
    return one.close();
  });
  return { one, port };
}

/** A node:http app on a free port (or `port`), answered by `handle`. */
async function startUpstream(
  handle: (req: IncomingMessage, res: ServerResponse) => void,
  port = 0,
): Promise<number> {
  const server = http.createServer(handle);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  return (server.address() as { port: number }).port;
}

describe('--allrequests with an app in this process', () => {
  test('push locations go to the daemon, the rest to the Express app; one Server header', async () => {
    const app = express();
    app.get('/hello', (_req, res) => {
      res.send('hello from the app');
    });
    const { port } = await startOne({ app });
    const page = await request(port, '/hello');
    assert.equal(page.status, 200);
    assert.equal(page.body.toString(), 'hello from the app');
    assert.equal(page.headers.server, 'test-push');
    const missing = await request(port, '/nothing');
    assert.equal(missing.status, 404, "the app's own 404");
    assert.match(missing.body.toString(), /Cannot GET \/nothing/);

    const published = await request(port, '/publisher/room%201', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hi',
    });
    assert.equal(published.status, 202);
    assert.equal(published.headers.server, 'test-push');
    const message = await request(port, '/subscriber/room%201');
    assert.equal(message.status, 200);
    assert.equal(message.body.toString(), 'hi');
    assert.equal(message.headers['content-type'], 'text/plain');
    assert.ok(message.headers.etag !== undefined);
  });

  test('a plain (req, res) handler that throws answers 500, the server lives on', async (t) => {
    t.mock.method(console, 'error', () => {});
    const { port } = await startOne({
      app: (req, res) => {
        if (req.url === '/boom') throw new Error('handler bug');
        res.end('fine');
      },
    });
    assert.equal((await request(port, '/boom')).status, 500);
    assert.equal((await request(port, '/ok')).body.toString(), 'fine');
  });

  test('--forcehost redirects other hosts (301, same path and query), push locations excepted', async () => {
    const app = express();
    app.get('/page', (_req, res) => {
      res.send('page');
    });
    const { port } = await startOne({ app, forcehost: 'www.example.test:8000' });
    const moved = await request(port, '/page?a=1&b=%20', { headers: { host: 'example.test' } });
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, 'http://www.example.test:8000/page?a=1&b=%20');
    assert.equal(moved.headers.server, 'test-push');
    const served = await request(port, '/page', { headers: { host: 'WWW.example.test:8000' } });
    assert.equal(served.status, 200);
    const push = await request(port, '/publisher/x', {
      method: 'POST',
      headers: { host: '127.0.0.1' },
      body: 'm',
    });
    assert.equal(push.status, 202);
  });

  test('neither or both of app and upstream is refused', () => {
    assert.throws(() => createAllRequestsServer({}), AllRequestsError);
    assert.throws(
      () => createAllRequestsServer({ app: () => {}, upstream: 'http://127.0.0.1:1' }),
      /exactly one app: --app \.\/app\.js .* or --upstream/,
    );
    assert.throws(
      () => createAllRequestsServer({ upstream: 'ftp://x' }),
      /--upstream "ftp:\/\/x" must be an http:\/\/ or https:\/\/ URL/,
    );
  });
});

describe('loadApp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-app-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('default export, module.exports and named app are found; anything else is explained', async () => {
    writeFileSync(join(dir, 'esm.mjs'), 'export default (req, res) => res.end("esm");\n');
    writeFileSync(join(dir, 'cjs.cjs'), 'module.exports = (req, res) => res.end("cjs");\n');
    writeFileSync(join(dir, 'named.mjs'), 'export const app = (req, res) => res.end("named");\n');
    writeFileSync(join(dir, 'wrong.mjs'), 'export const port = 3000;\n');
    for (const name of ['esm.mjs', 'cjs.cjs', 'named.mjs']) {
      assert.equal(typeof (await loadApp(name, dir)), 'function', name);
    }
    await assert.rejects(
      loadApp('wrong.mjs', dir),
      /--app wrong\.mjs must export an Express app or a \(req, res\) handler .* it exports port \(number\)/,
    );
    await assert.rejects(loadApp('absent.mjs', dir), /--app absent\.mjs: could not load/);
  });
});

describe('--allrequests --upstream', () => {
  test('proxies with X-Forwarded-*, keeps Host, cookies and status; push stays local', async () => {
    const upstream = await startUpstream((req, res) => {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.setHeader('server', 'upstream-app');
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers }));
    });
    const { port } = await startOne({ upstream: `http://127.0.0.1:${upstream}` });
    const answer = await request(port, '/x/y?z=1', {
      headers: { host: 'site.test', cookie: 'sid=abc', 'x-forwarded-for': '198.51.100.1' },
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(answer.headers.server, 'test-push');
    const seen = JSON.parse(answer.body.toString());
    assert.equal(seen.url, '/x/y?z=1');
    assert.equal(seen.headers.host, 'site.test');
    assert.equal(seen.headers.cookie, 'sid=abc');
    assert.equal(seen.headers['x-forwarded-for'], '198.51.100.1, 127.0.0.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-host'], 'site.test');
    assert.equal((await request(port, '/missing')).status, 404);
    const push = await request(port, '/publisher/p', { method: 'POST', body: 'local' });
    assert.equal(push.status, 202, 'the daemon in this process answered');
  });

  test('a passthrough notification forged by an outside client is refused; loopback ones arrive', async () => {
    const app = express();
    app.use('/passthrough', passthrough());
    const upstream = await startUpstream(app);
    const { one, port } = await startOne({ upstream: `http://127.0.0.1:${upstream}` });
    const seen: string[] = [];
    const record = ({ channelId }: { channelId: string }) => seen.push(channelId);
    signals.on('channelSubscribe', record);
    cleanups.push(() => void signals.off('channelSubscribe', record));
    // A client from outside the machine: the proxy sees its address, the app sees 127.0.0.1.
    const outside = http.createServer((req, res) => {
      Object.defineProperty(req.socket, 'remoteAddress', { value: '203.0.113.9' });
      one.handler(req, res);
    });
    outside.listen(0, '127.0.0.1');
    await once(outside, 'listening');
    cleanups.push(async () => {
      outside.closeAllConnections();
      outside.close();
      await once(outside, 'close');
    });
    const outsidePort = (outside.address() as { port: number }).port;
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const notify = (to: number, channelId: string, headers: Record<string, string> = {}) =>
      request(to, '/passthrough', {
        method: 'POST',
        headers: { ...form, ...headers },
        body: `channel_id=${channelId}&subscribe=1`,
      });

    assert.equal((await notify(outsidePort, 'forged')).status, 403);
    const claimed = await notify(outsidePort, 'claimed', { 'x-pushserver-proxied-for': '::1' });
    assert.equal(claimed.status, 403, "the client's own X-Pushserver-Proxied-For is replaced");
    // The daemon's own notifications come from loopback, through the proxy or not.
    assert.equal((await notify(port, 'daemon')).status, 204);
    assert.equal((await notify(upstream, 'direct')).status, 204);
    assert.deepEqual(seen, ['daemon', 'direct']);
  });

  test('a 2 MiB upload arrives byte for byte, and a response streams before it ends', async () => {
    let streaming: ServerResponse | undefined;
    const upstream = await startUpstream(async (req, res) => {
      if (req.url === '/upload') {
        const hash = createHash('sha256');
        let size = 0;
        for await (const chunk of req) {
          hash.update(chunk);
          size += chunk.length;
        }
        res.end(JSON.stringify({ size, sha256: hash.digest('hex') }));
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first\n');
        streaming = res;
      }
    });
    const { port } = await startOne({ upstream: `http://127.0.0.1:${upstream}` });
    const upload = randomBytes(2 * 1024 * 1024);
    const answer = await request(port, '/upload', { method: 'POST', body: upload });
    assert.deepEqual(JSON.parse(answer.body.toString()), {
      size: upload.length,
      sha256: createHash('sha256').update(upload).digest('hex'),
    });

    const res = await fetch(`http://127.0.0.1:${port}/stream`);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(
      Buffer.from(first.value!).toString(),
      'first\n',
      'arrived while the app still writes',
    );
    streaming!.end('second\n');
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += Buffer.from(value).toString();
    }
    assert.equal(rest, 'second\n');
  });

  test('upstream down: 502 with a clear page, logged once; back up: logged once', async () => {
    const upstreamPort = await freePort();
    const lines: string[] = [];
    const { port } = await startOne({
      upstream: `http://127.0.0.1:${upstreamPort}`,
      log: (line) => lines.push(line),
    });
    for (let i = 0; i < 3; i++) {
      const down = await request(port, '/page');
      assert.equal(down.status, 502);
      assert.equal(down.headers['content-type'], 'text/html; charset=utf-8');
      assert.match(
        down.body.toString(),
        new RegExp(
          `could not reach the app at <code>http://127.0.0.1:${upstreamPort}</code>: connection refused`,
        ),
      );
    }
    assert.deepEqual(lines, [
      `pushserver: the app at http://127.0.0.1:${upstreamPort} is not answering (connection refused); answering 502 until it does`,
    ]);
    // Subscribers do not depend on the app.
    const publish = await request(port, '/publisher/d', { method: 'POST', body: 'still here' });
    assert.equal(publish.status, 202);
    assert.equal((await request(port, '/subscriber/d')).body.toString(), 'still here');

    await startUpstream((_req, res) => res.end('up'), upstreamPort);
    assert.equal((await request(port, '/page')).body.toString(), 'up');
    assert.deepEqual(lines.slice(1), [
      `pushserver: the app at http://127.0.0.1:${upstreamPort} answers again after 3 failed requests`,
    ]);
  });
});
