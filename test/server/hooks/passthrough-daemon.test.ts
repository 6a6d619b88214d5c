import assert from 'node:assert/strict';
import http from 'node:http';
import { afterEach, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createPushServer } from '../../../src/server/daemon.ts';
import { listen, recordSignals, sessionApp } from '../../support/passthrough.ts';
import { freePort } from '../../support/ports.ts';
import { waitUntil } from '../../support/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A daemon whose subscriber location notifies `passthrough`. */
async function startDaemon(passthrough: string, subscriberTimeout = 0) {
  const push = createPushServer({
    port: 0,
    locations: [
      { type: 'publisher', prefix: '/publisher/' },
      { type: 'subscriber', prefix: '/subscriber/', passthrough, subscriberTimeout },
      { type: 'subscriber', prefix: '/multi/', passthrough, splitDelimiter: ',' },
    ],
  });
  const { port } = await push.listen(0, '127.0.0.1');
  cleanups.push(() => {
    push.server?.closeAllConnections();
    return push.close();
  });
  return { push, origin: `http://127.0.0.1:${port}` };
}

/** A long-poll GET; resolves with the answer, `abort()` closes it. */
function longPoll(url: string, headers: Record<string, string> = {}) {
  let request!: http.ClientRequest;
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request = http.get(url, { headers }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    request.on('error', reject);
  });
  answer.catch(() => {});
  return { answer, abort: () => request.destroy() };
}

function publish(origin: string, channelId: string, body: string) {
  return fetch(`${origin}/publisher/${encodeURIComponent(channelId)}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body,
  });
}

describe('passthrough from this daemon to an Express app', () => {
  test('subscribe when a poll waits, unsubscribe when it is answered or closed, with the user', async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const app = await listen(sessionApp());
    cleanups.push(() => app.stop());
    const { push, origin } = await startDaemon(`http://127.0.0.1:${app.port}/passthrough`);
    const login = await fetch(`http://127.0.0.1:${app.port}/login?user=alice`);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];

    const poll = longPoll(`${origin}/subscriber/room`, { cookie });
    await signals.until(1);
    assert.equal(push.waiting(), 1);
    assert.equal((await publish(origin, 'room', 'hello')).status, 201);
    assert.deepEqual(await poll.answer, { status: 200, body: 'hello' });
    await signals.until(2);

    const second = longPoll(`${origin}/subscriber/room`, {
      cookie,
      'if-modified-since': 'Thu, 01 Jan 2099 00:00:00 GMT',
      'if-none-match': '0',
    });
    await signals.until(3);
    second.abort();
    await signals.until(4);
    assert.deepEqual(signals.seen, [
      { event: 'subscribe', channelId: 'room', user: 'alice' },
      { event: 'unsubscribe', channelId: 'room', user: 'alice' },
      { event: 'subscribe', channelId: 'room', user: 'alice' },
      { event: 'unsubscribe', channelId: 'room', user: 'alice' },
    ]);
  });

  test('a poll ends with unsubscribe on timeout (408), channel deletion (410) and daemon stop (503)', async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const app = await listen(sessionApp());
    cleanups.push(() => app.stop());
    const { push, origin } = await startDaemon(`http://127.0.0.1:${app.port}/passthrough`, 1);

    const timedOut = longPoll(`${origin}/subscriber/slow`);
    await signals.until(1);
    assert.equal((await timedOut.answer).status, 408);
    await signals.until(2);

    const deleted = longPoll(`${origin}/subscriber/doomed`);
    await signals.until(3);
    await fetch(`${origin}/publisher/doomed`, { method: 'DELETE' });
    assert.equal((await deleted.answer).status, 410);
    await signals.until(4);

    const stopped = longPoll(`${origin}/subscriber/last`);
    await signals.until(5);
    const closing = push.close();
    assert.equal((await stopped.answer).status, 503);
    await signals.until(6);
    await closing;
    assert.deepEqual(
      signals.seen.map((s) => `${s.event} ${s.channelId}`),
      [
        'subscribe slow',
        'unsubscribe slow',
        'subscribe doomed',
        'unsubscribe doomed',
        'subscribe last',
        'unsubscribe last',
      ],
    );
  });

  test('streams: subscribe when an EventSource or WebSocket opens, unsubscribe when it closes; one pair per channel of a multiplexed one', async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const app = await listen(sessionApp());
    cleanups.push(() => app.stop());
    const { origin } = await startDaemon(`http://127.0.0.1:${app.port}/passthrough`);
    const login = await fetch(`http://127.0.0.1:${app.port}/login?user=bob`);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];
    // A buffered message does not make a stream a poll answered at once: it stays subscribed.
    await publish(origin, 'es', 'buffered');
    const es = longPoll(`${origin}/subscriber/es`, { cookie, accept: 'text/event-stream' });
    await signals.until(1);
    es.abort();
    await signals.until(2);
    const ws = new WebSocket(`${origin.replace('http', 'ws')}/multi/a,b,a`, {
      headers: { cookie },
    });
    await signals.until(4);
    ws.close();
    await signals.until(6);
    assert.deepEqual(
      signals.seen.map((s) => `${s.event} ${s.channelId} ${s.user}`),
      [
        'subscribe es bob',
        'unsubscribe es bob',
        'subscribe a bob',
        'subscribe b bob',
        'unsubscribe a bob',
        'unsubscribe b bob',
      ],
    );
  });

  test('a poll answered at once from the buffer sends nothing', async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const app = await listen(sessionApp());
    cleanups.push(() => app.stop());
    const { origin } = await startDaemon(`http://127.0.0.1:${app.port}/passthrough`);
    await publish(origin, 'buffered', 'old');
    assert.deepEqual(await longPoll(`${origin}/subscriber/buffered`).answer, {
      status: 200,
      body: 'old',
    });
    // A later poll that waits is the first notification the app gets.
    const waiting = longPoll(`${origin}/subscriber/other`);
    await signals.until(1);
    assert.deepEqual(signals.seen, [{ event: 'subscribe', channelId: 'other', user: undefined }]);
    waiting.abort();
    await signals.until(2);
  });

  test('hostile channel ids arrive intact', async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const app = await listen(sessionApp());
    cleanups.push(() => app.stop());
    const { origin } = await startDaemon(`http://127.0.0.1:${app.port}/passthrough`);
    const ids = ['a&b=c', 'a+b', '%', 'café ☕', 'x y', '🎉'];
    for (const [i, id] of ids.entries()) {
      const poll = longPoll(`${origin}/subscriber/${encodeURIComponent(id)}`);
      await signals.until(2 * i + 1);
      poll.abort();
      await signals.until(2 * i + 2);
    }
    assert.deepEqual(
      signals.seen.map((s) => `${s.event} ${s.channelId}`),
      ids.flatMap((id) => [`subscribe ${id}`, `unsubscribe ${id}`]),
    );
  });

  test('the app down: subscribers are served, the daemon logs it once, then says it recovered', async (t) => {
    const lines: string[] = [];
    t.mock.method(console, 'error', (line: string) => lines.push(line));
    const appPort = await freePort();
    const { push, origin } = await startDaemon(`http://127.0.0.1:${appPort}/passthrough`);
    for (let i = 0; i < 3; i++) {
      const poll = longPoll(`${origin}/subscriber/down-${i}`);
      await waitUntil('the poll to be parked', () => push.waiting() === 1);
      assert.equal((await publish(origin, `down-${i}`, `m${i}`)).status, 201);
      assert.deepEqual(await poll.answer, { status: 200, body: `m${i}` });
    }
    await waitUntil('the first failure to be logged', () => lines.length === 1);
    assert.match(
      lines[0],
      new RegExp(
        `^pushserver: passthrough to http://127.0.0.1:${appPort}/passthrough failed: connection refused \\(is the app running\\?\\); subscribers are not affected`,
      ),
    );

    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const app = await listen(sessionApp(), appPort);
    cleanups.push(() => app.stop());
    const poll = longPoll(`${origin}/subscriber/up`);
    await signals.until(1);
    await waitUntil('the recovery to be logged', () => lines.length === 2);
    assert.equal(
      lines[1],
      `pushserver: passthrough to http://127.0.0.1:${appPort}/passthrough recovered after 6 failed notifications`,
    );
    poll.abort();
    await signals.until(2);
  });
});
