import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import {
  createPassthroughNotifier,
  formBody,
  forwardedHeaders,
} from '../../../src/server/hooks/passthrough-sender.ts';
import { freePort } from '../../support/ports.ts';
import { WAIT_MS, withDeadline } from '../../support/wait.ts';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  res: ServerResponse;
}

/** A tiny app that records every request; `answer` decides what to do with it. */
async function startReceiver(
  answer: (received: Received) => void = ({ res }) => res.writeHead(204).end(),
  port = 0,
) {
  const received: Received[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const server = http.createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const entry = { method: req.method!, url: req.url!, headers: req.headers, body, res };
    received.push(entry);
    for (const waiter of waiters.filter((w) => received.length >= w.count)) waiter.resolve();
    answer(entry);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const { port: bound } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${bound}/passthrough`,
    port: bound,
    received,
    /** Resolves once `count` requests have arrived. */
    arrived(count: number) {
      if (received.length >= count) return Promise.resolve();
      const arrival = new Promise<void>((resolve) => waiters.push({ count, resolve }));
      return withDeadline(arrival, WAIT_MS, `${count} notifications at the app`);
    },
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('formBody and forwardedHeaders', () => {
  test('ids with form metacharacters and unicode survive a form parser', () => {
    for (const id of ['a&b=c', 'a+b', '%', '100%25', 'café ☕', 'x y', 'a/b', '🎉']) {
      const parsed = new URLSearchParams(formBody('subscribe', id));
      assert.equal(parsed.get('channel_id'), id);
      assert.equal(parsed.get('subscribe'), '1');
      assert.equal([...parsed.keys()].length, 2);
    }
    assert.equal(formBody('unsubscribe', 'a&b'), 'channel_id=a%26b&unsubscribe=1');
  });

  test('hop-by-hop headers, Proxy-* and those named by Connection are not forwarded', () => {
    const kept = forwardedHeaders({
      host: 'push.example.com',
      cookie: 'sid=1',
      authorization: 'Bearer t',
      'user-agent': 'UA',
      'x-forwarded-for': '203.0.113.9',
      connection: 'keep-alive, X-Hop',
      'x-hop': 'gone',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      te: 'trailers',
      upgrade: 'websocket',
      trailer: 'x',
      'proxy-authorization': 'secret',
      'proxy-connection': 'keep-alive',
      'content-length': '10',
      'content-type': 'text/plain',
      expect: '100-continue',
    });
    assert.deepEqual(kept, {
      host: 'push.example.com',
      cookie: 'sid=1',
      authorization: 'Bearer t',
      'user-agent': 'UA',
      'x-forwarded-for': '203.0.113.9',
    });
  });
});

describe('createPassthroughNotifier', () => {
  test('POSTs the form with the subscriber headers, subscribe then unsubscribe', async (t) => {
    const app = await startReceiver();
    t.after(() => app.stop());
    const notifier = createPassthroughNotifier({ url: app.url });
    t.after(() => notifier.close());
    const headers = {
      host: '127.0.0.1:8001',
      cookie: 'connect.sid=s%3Aabc',
      'user-agent': 'Chromium',
      connection: 'keep-alive',
      accept: '*/*',
    };
    notifier.subscribe('a&b=c', headers);
    notifier.unsubscribe('a&b=c', headers);
    await notifier.idle();
    assert.equal(app.received.length, 2);
    const [sub, unsub] = app.received;
    assert.equal(sub.method, 'POST');
    assert.equal(sub.url, '/passthrough');
    assert.equal(sub.body, 'channel_id=a%26b%3Dc&subscribe=1');
    assert.equal(unsub.body, 'channel_id=a%26b%3Dc&unsubscribe=1');
    assert.equal(sub.headers.cookie, 'connect.sid=s%3Aabc');
    assert.equal(sub.headers['user-agent'], 'Chromium');
    assert.equal(sub.headers.host, '127.0.0.1:8001');
    assert.equal(sub.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(sub.headers['content-length'], String(sub.body.length));
    assert.deepEqual(notifier.stats(), {
      delivered: 2,
      failed: 0,
      dropped: 0,
      inFlight: 0,
      queued: 0,
    });
  });

  test('an unsubscribe waits for the answer to its own subscribe', async (t) => {
    let held: ServerResponse | undefined;
    const app = await startReceiver(({ body, res }) => {
      if (body.endsWith('subscribe=1') && !body.includes('unsubscribe') && !held) held = res;
      else res.writeHead(204).end();
    });
    t.after(() => app.stop());
    const notifier = createPassthroughNotifier({ url: app.url, maxConcurrent: 4 });
    t.after(() => notifier.close());
    const headers = { cookie: 'u=1' };
    notifier.subscribe('room', headers);
    notifier.unsubscribe('room', headers);
    await app.arrived(1);
    assert.equal(notifier.stats().inFlight, 1, 'the unsubscribe is not sent yet');
    assert.equal(app.received.length, 1);
    held!.writeHead(204).end();
    await app.arrived(2);
    await notifier.idle();
    assert.deepEqual(
      app.received.map((r) => r.body),
      ['channel_id=room&subscribe=1', 'channel_id=room&unsubscribe=1'],
    );
  });

  test('the app down: logged once, then "recovered" once it answers', async (t) => {
    const port = await freePort();
    const lines: string[] = [];
    const notifier = createPassthroughNotifier({
      url: `http://127.0.0.1:${port}/passthrough`,
      log: (line) => lines.push(line),
    });
    t.after(() => notifier.close());
    for (let i = 0; i < 5; i++) notifier.subscribe(`c${i}`, { cookie: 'x' });
    await notifier.idle();
    assert.equal(notifier.stats().failed, 5);
    assert.equal(lines.length, 1);
    assert.match(
      lines[0],
      new RegExp(`passthrough to http://127.0.0.1:${port}/passthrough failed`),
    );
    assert.match(lines[0], /connection refused \(is the app running\?\)/);
    const app = await startReceiver(undefined, port);
    t.after(() => app.stop());
    notifier.subscribe('c5', {});
    await notifier.idle();
    assert.deepEqual(lines.slice(1), [
      `pushserver: passthrough to http://127.0.0.1:${port}/passthrough recovered after 5 failed notifications`,
    ]);
  });

  test('a refusing app (403) and a silent app (timeout) count as failures', async (t) => {
    const refusing = await startReceiver(({ res }) => res.writeHead(403).end('no'));
    t.after(() => refusing.stop());
    const lines: string[] = [];
    const notifier = createPassthroughNotifier({
      url: refusing.url,
      log: (l) => lines.push(l),
    });
    t.after(() => notifier.close());
    notifier.subscribe('a', {});
    notifier.subscribe('b', {});
    await notifier.idle();
    assert.equal(notifier.stats().failed, 2);
    assert.equal(lines.length, 1);
    assert.match(lines[0], /failed: the app answered 403; subscribers are not affected/);

    const silent = await startReceiver(() => {});
    t.after(() => silent.stop());
    const timeoutLines: string[] = [];
    const slow = createPassthroughNotifier({
      url: silent.url,
      timeoutMs: 100,
      log: (l) => timeoutLines.push(l),
    });
    t.after(() => slow.close());
    slow.subscribe('a', {});
    await slow.idle();
    assert.equal(slow.stats().failed, 1);
    assert.match(timeoutLines[0], /failed: no answer within 100 ms/);
  });

  test('bounded: beyond maxConcurrent + maxQueued notifications are dropped and counted', async (t) => {
    const held: ServerResponse[] = [];
    const app = await startReceiver(({ res }) => held.push(res));
    t.after(() => app.stop());
    const lines: string[] = [];
    const notifier = createPassthroughNotifier({
      url: app.url,
      maxConcurrent: 2,
      maxQueued: 3,
      log: (l) => lines.push(l),
    });
    t.after(() => notifier.close());
    for (let i = 0; i < 10; i++) notifier.subscribe(`c${i}`, {});
    await app.arrived(2);
    assert.deepEqual(notifier.stats(), {
      delivered: 0,
      failed: 0,
      dropped: 5,
      inFlight: 2,
      queued: 3,
    });
    assert.equal(lines.length, 1);
    assert.match(lines[0], /is behind \(2 in flight, 3 queued\); dropping notifications/);
    // Answer every request as it comes until all five kept ones are through.
    let answered = 0;
    while (answered < 5) {
      await app.arrived(answered + 1);
      held[answered++].writeHead(204).end();
    }
    await notifier.idle();
    assert.equal(notifier.stats().delivered, 5);
    assert.deepEqual(
      app.received.map((r) => new URLSearchParams(r.body).get('channel_id')),
      ['c0', 'c1', 'c2', 'c3', 'c4'],
    );
    assert.match(lines[1], /caught up; 5 notifications were dropped/);
  });

  test('close() still sends what was asked for, then ignores new notifications', async (t) => {
    const app = await startReceiver();
    t.after(() => app.stop());
    const notifier = createPassthroughNotifier({ url: app.url });
    const headers = { cookie: 'u=1' };
    notifier.subscribe('room', headers);
    notifier.unsubscribe('room', headers);
    const closed = notifier.close();
    notifier.subscribe('later', {});
    await closed;
    assert.deepEqual(
      app.received.map((r) => r.body),
      ['channel_id=room&subscribe=1', 'channel_id=room&unsubscribe=1'],
    );
    assert.equal(notifier.stats().delivered, 2);
  });

  test('refuses a URL that is not http(s)', () => {
    assert.throws(
      () => createPassthroughNotifier({ url: 'ftp://x/passthrough' }),
      /must start with http:\/\/ or https:\/\//,
    );
  });
});
