import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { afterEach, describe, test } from 'node:test';
import express from 'express';
import session from 'express-session';
import { passthrough } from '../../src/express/passthrough-receiver.ts';
import { createPassthroughNotifier } from '../../src/server/hooks/passthrough-sender.ts';
import { signals } from '../../src/signals.ts';

declare module 'express-session' {
  interface SessionData {
    user: string;
  }
}

interface Seen {
  event: string;
  channelId: string;
  user: string | undefined;
}

/** An Express app with sessions, a login route and the receiver; records every signal. */
async function startApp(configure: (app: express.Express) => void = () => {}) {
  const app = express();
  configure(app);
  app.use(session({ secret: 'test', resave: false, saveUninitialized: false }));
  app.get('/login', (req, res) => {
    req.session.user = String(req.query.user);
    res.send('ok');
  });
  app.use('/passthrough', passthrough(appOptions.get(app)));
  const server: Server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const seen: Seen[] = [];
  const record = (event: string) => (payload: { req: express.Request; channelId: string }) =>
    seen.push({ event, channelId: payload.channelId, user: payload.req.session?.user });
  const onSubscribe = record('subscribe');
  const onUnsubscribe = record('unsubscribe');
  signals.on('channelSubscribe', onSubscribe);
  signals.on('channelUnsubscribe', onUnsubscribe);
  cleanups.push(async () => {
    signals.off('channelSubscribe', onSubscribe);
    signals.off('channelUnsubscribe', onUnsubscribe);
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    seen,
    async login(user: string): Promise<string> {
      const res = await fetch(`${origin}/login?user=${user}`);
      return res.headers.get('set-cookie')!.split(';')[0];
    },
    post(body: string, headers: Record<string, string> = {}, method = 'POST') {
      return fetch(`${origin}/passthrough`, {
        method,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: method === 'GET' ? undefined : body,
      });
    },
  };
}

const appOptions = new WeakMap<express.Express, Parameters<typeof passthrough>[0]>();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('passthrough receiver', () => {
  test('a POST from loopback emits the signal with the session user, after the app middlewares', async () => {
    const app = await startApp();
    const cookie = await app.login('alice');
    const sub = await app.post('channel_id=room-1&subscribe=1', { cookie });
    assert.equal(sub.status, 204);
    const unsub = await app.post('channel_id=room-1&unsubscribe=1', { cookie });
    assert.equal(unsub.status, 204);
    assert.deepEqual(app.seen, [
      { event: 'subscribe', channelId: 'room-1', user: 'alice' },
      { event: 'unsubscribe', channelId: 'room-1', user: 'alice' },
    ]);
  });

  test("Nchan's multiplexed hook (channel_id=a,b) is one signal per channel; an encoded comma stays", async () => {
    const app = await startApp();
    assert.equal((await app.post('channel_id=a,b%2Cc,a&subscribe=1')).status, 204);
    assert.equal((await app.post('channel_id=x%2Cy&unsubscribe=1')).status, 204);
    assert.deepEqual(app.seen, [
      { event: 'subscribe', channelId: 'a', user: undefined },
      { event: 'subscribe', channelId: 'b,c', user: undefined },
      { event: 'unsubscribe', channelId: 'x,y', user: undefined },
    ]);
  });

  test('GET is refused with 403 and no signal', async () => {
    const app = await startApp();
    const res = await app.post('', {}, 'GET');
    assert.equal(res.status, 403);
    assert.equal(
      await res.text(),
      'Forbidden: passthrough accepts POST from internal addresses only\n',
    );
    assert.deepEqual(app.seen, []);
  });

  test('an address outside internalIps is refused with 403 and no signal', async () => {
    const app = await startApp((a) => appOptions.set(a, { internalIps: ['10.0.0.0/8'] }));
    const res = await app.post('channel_id=room-1&subscribe=1');
    assert.equal(res.status, 403);
    assert.deepEqual(app.seen, []);
  });

  test('X-Forwarded-For is ignored unless the app trusts proxies', async () => {
    const plain = await startApp();
    const forged = await plain.post('channel_id=a&subscribe=1', {
      'x-forwarded-for': '203.0.113.7',
    });
    assert.equal(forged.status, 204, 'the socket address (loopback) decides');

    const trusting = await startApp((a) => a.set('trust proxy', 'loopback'));
    const outside = await trusting.post('channel_id=a&subscribe=1', {
      'x-forwarded-for': '203.0.113.7',
    });
    assert.equal(outside.status, 403, 'behind a trusted proxy, req.ip is the client');
    const inside = await trusting.post('channel_id=b&subscribe=1', {
      'x-forwarded-for': '::ffff:127.0.0.1',
    });
    assert.equal(inside.status, 204);
    assert.deepEqual(
      trusting.seen.map((s) => s.channelId),
      ['b'],
    );
  });

  test('a request the --allrequests proxy forwarded for an outside client is refused', async () => {
    const app = await startApp();
    const proxied = (address: string) =>
      app.post(`channel_id=${encodeURIComponent(address)}&subscribe=1`, {
        'x-pushserver-proxied-for': address,
      });
    assert.equal((await proxied('203.0.113.7')).status, 403);
    assert.equal((await proxied('127.0.0.1, 203.0.113.7')).status, 403, 'every address counts');
    assert.equal((await proxied('')).status, 403);
    assert.equal((await proxied('::ffff:127.0.0.1')).status, 204);
    assert.equal((await proxied('::1')).status, 204);
    assert.deepEqual(
      app.seen.map((s) => s.channelId),
      ['::ffff:127.0.0.1', '::1'],
    );

    const lan = await startApp((a) => appOptions.set(a, { internalIps: ['10.0.0.0/8'] }));
    const fromLan = await lan.post('channel_id=a&subscribe=1', {
      'x-pushserver-proxied-for': '10.1.2.3',
    });
    assert.equal(fromLan.status, 403, 'the header never widens: the socket is not in 10/8');
  });

  test('missing channel_id or action: 400 and no signal', async () => {
    const app = await startApp();
    const missing = await app.post('subscribe=1');
    assert.equal(missing.status, 400);
    assert.equal(await missing.text(), 'Bad Request: channel_id is missing\n');
    const empty = await app.post('channel_id=&subscribe=1');
    assert.equal(empty.status, 400);
    const noAction = await app.post('channel_id=x');
    assert.equal(noAction.status, 400);
    assert.equal(await noAction.text(), 'Bad Request: neither subscribe nor unsubscribe\n');
    assert.deepEqual(app.seen, []);
  });

  test('a mangled body (NUL in the id, bytes that are not UTF-8): 400 and no signal', async () => {
    const app = await startApp();
    const nul = await app.post('channel_id=%00%00%00&unsubscribe=1');
    assert.equal(nul.status, 400);
    assert.equal(await nul.text(), 'Bad Request: NUL in channel_id\n');
    const bytes = await fetch(`${app.origin}/passthrough`, {
      method: 'POST',
      body: Buffer.concat([
        Buffer.from('channel_id='),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('&unsubscribe=1'),
      ]),
    });
    assert.equal(bytes.status, 400);
    assert.equal(
      await bytes.text(),
      'Bad Request: the body could not be read as UTF-8 form data\n',
    );
    assert.deepEqual(app.seen, []);
  });

  test('a body over maxBodyBytes: 413 and no signal', async () => {
    const app = await startApp((a) => appOptions.set(a, { maxBodyBytes: 64 }));
    const res = await app.post(`channel_id=${'x'.repeat(100)}&subscribe=1`);
    assert.equal(res.status, 413);
    assert.deepEqual(app.seen, []);
  });

  test('hostile ids sent by the daemon sender arrive intact, with the cookie', async () => {
    const app = await startApp();
    const cookie = await app.login('bob');
    const notifier = createPassthroughNotifier({ url: `${app.origin}/passthrough` });
    cleanups.push(async () => notifier.close());
    const ids = ['a&b=c', 'a+b', '%', '%zz', 'café ☕', 'x y', 'a/b?c#d', '🎉'];
    for (const id of ids) {
      const headers = { cookie, 'user-agent': 'test' };
      notifier.subscribe(id, headers);
      notifier.unsubscribe(id, headers);
    }
    await notifier.idle();
    assert.equal(notifier.stats().failed, 0);
    for (const id of ids) {
      const events = app.seen.filter((s) => s.channelId === id);
      assert.deepEqual(events, [
        { event: 'subscribe', channelId: id, user: 'bob' },
        { event: 'unsubscribe', channelId: id, user: 'bob' },
      ]);
    }
    assert.equal(app.seen.length, ids.length * 2);
  });

  test('a body parser that ran first is fine', async () => {
    const app = await startApp((a) => a.use(express.urlencoded({ extended: false })));
    const res = await app.post('channel_id=a%26b&subscribe=1');
    assert.equal(res.status, 204);
    assert.deepEqual(
      app.seen.map((s) => s.channelId),
      ['a&b'],
    );
  });

  test('a listener that throws breaks neither the answer nor the other listeners', async (t) => {
    const errors: string[] = [];
    t.mock.method(console, 'error', (line: string) => errors.push(line));
    const thrower = () => {
      throw new Error('listener bug');
    };
    const rejecter = async () => {
      throw new Error('async listener bug');
    };
    signals.on('channelSubscribe', thrower);
    signals.on('channelSubscribe', rejecter);
    t.after(() => {
      signals.off('channelSubscribe', thrower);
      signals.off('channelSubscribe', rejecter);
    });
    const app = await startApp();
    const res = await app.post('channel_id=c&subscribe=1');
    assert.equal(res.status, 204);
    assert.deepEqual(app.seen, [{ event: 'subscribe', channelId: 'c', user: undefined }]);
    // The rejection is reported on a later tick.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, 2);
    assert.match(errors[0], /a "channelSubscribe" listener failed: Error: listener bug/);
    assert.match(errors[1], /async listener bug/);
  });
});
