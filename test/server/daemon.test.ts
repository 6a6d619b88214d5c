// The daemon's own behaviour beyond the conformance suite: where it deliberately
// differs from Nchan, its settings, embedding, shutdown and keep-alive.
import assert from 'node:assert/strict';
import http from 'node:http';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import {
  createPushServer,
  type PushServer,
  type RequestLogEntry,
} from '../../src/server/daemon.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { PushServerSettings } from '../../src/settings/index.js';
import { request } from '../conformance/http-client.js';
import { WAIT_MS, waitUntil, withDeadline } from '../support/wait.js';

const FIRST_POLL = { 'If-Modified-Since': 'Thu, 1 Jan 1970 00:00:00 GMT', 'If-None-Match': '0' };
const FUTURE = { 'If-Modified-Since': 'Fri, 01 Jan 2100 00:00:00 GMT', 'If-None-Match': '0' };

async function start(settings: PushServerSettings = {}, options = {}) {
  const push = createPushServer(settings, options);
  const { port } = await push.listen(0, '127.0.0.1');
  const origin = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, opts: Parameters<typeof request>[3] = {}) => {
    const answer = await request(origin, method, path, opts);
    assert.ok(answer);
    return answer;
  };
  return { push, origin, call };
}

/** Resolves once `push` has `count` polls parked (the daemon's own signal, no polling of HTTP). */
async function untilWaiting(push: PushServer, count: number): Promise<void> {
  await waitUntil(`${count} parked polls`, () => push.waiting() === count, { intervalMs: 0 });
}

describe('push daemon', () => {
  const servers: PushServer[] = [];
  after(() => Promise.all(servers.map((push) => push.close())));
  const daemon = async (settings: PushServerSettings = {}, options = {}) => {
    const started = await start(settings, options);
    servers.push(started.push);
    return started;
  };

  test('publisherAllow: other addresses get 403 with a one-line reason; subscribers are not affected', async () => {
    const { call } = await daemon({ publisherAllow: ['10.0.0.0/8'], servername: 'push-test' });
    const refused = await call('POST', '/publisher/a', { body: 'x' });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.server, 'push-test');
    assert.equal(refused.headers['content-type'], 'text/plain');
    assert.match(
      refused.text,
      /^publishing is not allowed from 127\.0\.0\.1; add it to the publisherAllow setting$/,
    );
    const poll = await call('GET', '/subscriber/a', { headers: FUTURE, timeout: 300 }).catch(
      () => undefined,
    );
    assert.equal(poll, undefined, 'the subscriber waits as usual');
  });

  test('createOnPost: false and createOnGet: false answer 404 for unknown channels', async () => {
    const { call } = await daemon({
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'publisher', prefix: '/strict-pub/', createOnPost: false },
        { type: 'subscriber', prefix: '/sub/' },
        { type: 'subscriber', prefix: '/strict-sub/', createOnGet: false },
      ],
    });
    assert.equal((await call('POST', '/strict-pub/a', { body: 'x' })).status, 404);
    assert.equal((await call('GET', '/strict-sub/a')).status, 404);
    assert.equal((await call('POST', '/pub/a', { body: 'x' })).status, 202);
    assert.equal((await call('POST', '/strict-pub/a', { body: 'y' })).status, 202);
    const got = await call('GET', '/strict-sub/a');
    assert.equal(got.text, 'x');
  });

  test('methods Nchan never answers get 405 with Allow; bad paths get 400 or 404', async () => {
    const { call } = await daemon();
    for (const [method, path, allow] of [
      ['HEAD', '/publisher/a', 'GET, POST, PUT, DELETE, OPTIONS'],
      ['PATCH', '/publisher/a', 'GET, POST, PUT, DELETE, OPTIONS'],
      ['HEAD', '/subscriber/a', 'GET, OPTIONS'],
      ['PUT', '/subscriber/a', 'GET, OPTIONS'],
    ]) {
      const got = await call(method, path);
      assert.equal(got.status, 405, `${method} ${path}`);
      assert.equal(got.headers.allow, allow);
    }
    assert.equal((await call('GET', '/subscriber/a%zz')).status, 400);
    assert.equal((await call('POST', '/publisher/a%00b', { body: 'x' })).status, 400);
    const unknown = await call('GET', '/elsewhere');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.text, 'Not Found');
  });

  test('a body over maxBodySize without Content-Length (chunked): 413, nothing stored', async () => {
    const { origin, call } = await daemon({
      locations: [
        { type: 'publisher', prefix: '/publisher/', maxBodySize: 10 },
        { type: 'subscriber', prefix: '/subscriber/' },
      ],
    });
    // A body that never ends: the 413 comes anyway, and the daemon closes the connection.
    const { status, closed } = await new Promise<{ status: number; closed: Promise<void> }>(
      (resolve, reject) => {
        const req = http.request(
          `${origin}/publisher/big`,
          { method: 'POST', agent: false },
          (res) => {
            res.resume();
            resolve({
              status: res.statusCode ?? 0,
              closed: new Promise((done) => req.socket?.once('close', () => done())),
            });
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => {
          if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
        });
        req.write('0123456789');
        req.write('abc');
      },
    );
    await withDeadline(closed, WAIT_MS, 'the daemon to close the connection after its 413');
    assert.equal(status, 413);
    assert.equal((await call('GET', '/publisher/big')).status, 404);
  });

  test('two daemons sharing a store: a publish on one wakes a subscriber on the other (store events)', async () => {
    const shared = createMemoryStore({ maxMessages: 10, minMessages: 0, messageTimeout: 60 });
    const a = await daemon({}, { stores: { default: shared } });
    const b = await daemon({}, { stores: { default: shared } });
    const waiting = a.call('GET', '/subscriber/shared', {
      headers: { 'If-None-Match': '0', 'If-Modified-Since': 'Thu, 1 Jan 1970 00:00:00 GMT' },
    });
    await untilWaiting(a.push, 1);
    const published = await b.call('POST', '/publisher/shared', {
      body: 'across',
      headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(published.status, 201);
    assert.equal((await waiting).text, 'across');
  });

  test('close() answers waiting polls with 503 and Connection: close, then resolves', async () => {
    const { push, call } = await start();
    const waiting = call('GET', '/subscriber/closing', { headers: FUTURE });
    await untilWaiting(push, 1);
    await push.close();
    const got = await waiting;
    assert.equal(got.status, 503);
    assert.equal(got.headers.connection, 'close');
    assert.equal(got.text, 'push server shutting down');
  });

  test("Node's request and header timeouts never cut a parked poll", async () => {
    const push = createPushServer();
    servers.push(push);
    // Timeouts far shorter than the wait, checked often: a poll is a complete request.
    const server = http.createServer(
      { requestTimeout: 200, headersTimeout: 100, connectionsCheckingInterval: 20 },
      push.handler,
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const waiting = request(origin, 'GET', '/subscriber/patient', { headers: FIRST_POLL });
    await untilWaiting(push, 1);
    // The duration under test, not a synchronisation: several timeout periods pass.
    await new Promise((resolve) => setTimeout(resolve, 800));
    const published = await request(origin, 'POST', '/publisher/patient', { body: 'still here' });
    assert.equal(published?.status, 201);
    assert.equal((await waiting)?.text, 'still here');
  });

  test('polls reuse one keep-alive connection', async () => {
    const { origin, call } = await daemon();
    await call('POST', '/publisher/ka', { body: 'one' });
    await call('POST', '/publisher/ka', { body: 'two' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    after(() => agent.destroy());
    const sockets: unknown[] = [];
    const get = (headers: Record<string, string>) =>
      new Promise<http.IncomingMessage>((resolve, reject) => {
        const req = http.get(`${origin}/subscriber/ka`, { agent, headers }, (res) => {
          sockets.push(req.socket);
          res.resume();
          res.on('end', () => resolve(res));
        });
        req.on('error', reject);
      });
    const first = await get({});
    const second = await get({
      'If-Modified-Since': String(first.headers['last-modified']),
      'If-None-Match': String(first.headers.etag),
    });
    assert.equal(second.statusCode, 200);
    assert.equal(sockets.length, 2);
    assert.equal(sockets[0], sockets[1]);
    assert.equal(first.headers.connection, 'keep-alive');
  });

  test('an HTTP/1.0 poll without keep-alive gets its message and the connection closes', async () => {
    const { origin, call } = await daemon();
    await call('POST', '/publisher/old', {
      body: 'legacy',
      headers: { 'Content-Type': 'text/plain' },
    });
    const { port } = new URL(origin);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('GET /subscriber/old HTTP/1.0\r\n\r\n'),
      );
      let text = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => {
        text += chunk;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(raw, /\r\nEtag: 0\r\n/);
    assert.match(raw, /\r\nConnection: close\r\n/);
    assert.ok(raw.endsWith('\r\n\r\nlegacy'));
  });

  test('a poll that goes away stops counting; a publish cut short stores nothing and hurts nobody', async () => {
    const { push, origin, call } = await daemon();
    const controller = new AbortController();
    const leaving = request(origin, 'GET', '/subscriber/left', {
      headers: FUTURE,
      signal: controller.signal,
    });
    await untilWaiting(push, 1);
    assert.match((await call('GET', '/publisher/left')).text, /active subscribers: 1\r\n/);
    controller.abort();
    assert.equal(await leaving, undefined);
    await untilWaiting(push, 0);
    assert.equal(
      (await call('GET', '/publisher/left')).status,
      404,
      'a channel without messages or subscribers is forgotten',
    );
    const { port } = new URL(origin);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(
          'POST /publisher/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789',
        );
        socket.destroy();
        resolve();
      });
    });
    assert.equal((await call('GET', '/publisher/cut')).status, 404);
    assert.equal((await call('POST', '/publisher/cut', { body: 'whole' })).status, 202);
  });

  test('every message of a same-second burst reaches a re-polling subscriber once, in order', async () => {
    const { push, call } = await daemon({ store: { type: 'memory', maxMessages: 100 } });
    const received: string[] = [];
    const follow = async () => {
      let headers: Record<string, string> = {};
      while (received.length < 50) {
        const got = await call('GET', '/subscriber/burst', { headers });
        assert.equal(got.status, 200);
        received.push(got.text);
        headers = {
          'If-Modified-Since': got.headers['last-modified'],
          'If-None-Match': got.headers.etag,
        };
      }
    };
    const following = follow();
    await untilWaiting(push, 1);
    const sent = Array.from({ length: 50 }, (_, i) => `m${i}`);
    await Promise.all(sent.map((body) => call('POST', '/publisher/burst', { body })));
    await withDeadline(following, WAIT_MS, 'the subscriber to get 50 messages');
    // Concurrent POSTs may be stored in any order; the subscriber sees the store's order.
    const stored: string[] = [];
    let cursor = null;
    for (;;) {
      const { message } = await push.stores.default.next('burst', cursor);
      if (!message) break;
      stored.push(message.body.toString());
      cursor = message.id;
    }
    assert.deepEqual(received, stored);
    assert.deepEqual([...received].sort(), [...sent].sort());
  });

  test('passthrough: a poll that waits is announced to the app, with its headers, and its end too', async () => {
    const received: Array<{ body: string; cookie: string | undefined }> = [];
    let notify: () => void = () => {};
    const app = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        received.push({ body, cookie: req.headers.cookie });
        res.end();
        notify();
      });
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    after(() => app.close());
    const { port } = app.address() as { port: number };
    const until = (count: number) =>
      withDeadline(
        new Promise<void>((resolve) => {
          notify = () => received.length >= count && resolve();
          notify();
        }),
        WAIT_MS,
        `${count} passthrough notifications`,
      );
    const { call } = await daemon({
      locations: [
        { type: 'publisher', prefix: '/publisher/' },
        {
          type: 'subscriber',
          prefix: '/subscriber/',
          passthrough: `http://127.0.0.1:${port}/passthrough`,
        },
      ],
    });
    const waiting = call('GET', '/subscriber/room%201', { headers: { Cookie: 'sessionid=s1' } });
    await until(1);
    await call('POST', '/publisher/room%201', { body: 'hi' });
    assert.equal((await waiting).text, 'hi');
    await until(2);
    assert.deepEqual(received, [
      { body: 'channel_id=room%201&subscribe=1', cookie: 'sessionid=s1' },
      { body: 'channel_id=room%201&unsubscribe=1', cookie: 'sessionid=s1' },
    ]);
  });

  test('the request log: method, url, status, duration, and how long a poll waited', async () => {
    const entries: RequestLogEntry[] = [];
    const { push, call } = await daemon(
      {},
      { log: (entry: RequestLogEntry) => entries.push(entry) },
    );
    const waiting = call('GET', '/subscriber/logged?x=1', { headers: FUTURE });
    await untilWaiting(push, 1);
    await call('DELETE', '/publisher/logged');
    await waiting;
    const poll = entries.find((entry) => entry.url === '/subscriber/logged?x=1');
    assert.ok(poll);
    assert.equal(poll.method, 'GET');
    assert.equal(poll.status, 410);
    assert.equal(typeof poll.waited, 'number');
    const deleted = entries.find((entry) => entry.method === 'DELETE');
    assert.equal(deleted?.status, 200);
    assert.equal(deleted?.waited, undefined);
  });
});
