// The daemon's streams where Nchan's shared config has nothing to compare with: ping
// intervals, slow readers, a stopping daemon, node:http alone (no raw socket path).
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import WebSocket from 'ws';
import { createPushServer, type PushServer } from '../../../src/server/daemon.js';
import type { LocationSettings } from '../../../src/settings/index.js';
import { request } from '../../conformance/http-client.js';
import { openStream } from '../../conformance/stream-client.js';
import { waitUntil } from '../../support/wait.js';

const servers: PushServer[] = [];
after(() => Promise.all(servers.map((push) => push.close())));

async function start(subscriber: Partial<LocationSettings> = {}, rawSockets = true) {
  const push = createPushServer({
    store: { type: 'memory', maxMessages: 100 },
    rawSockets,
    locations: [
      { type: 'publisher', prefix: '/publisher/' },
      { type: 'subscriber', prefix: '/subscriber/', ...subscriber },
    ],
  });
  servers.push(push);
  const { port } = await push.listen(0, '127.0.0.1');
  const origin = `http://127.0.0.1:${port}`;
  return {
    push,
    origin,
    ws: (path: string, protocol?: string) =>
      new WebSocket(`ws://127.0.0.1:${port}${path}`, protocol),
    publish: (channel: string, body: string | Buffer) =>
      request(origin, 'POST', `/publisher/${channel}`, {
        body,
        headers: { 'Content-Type': 'text/plain' },
      }),
  };
}

const closed = (ws: WebSocket) =>
  new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
const opened = (ws: WebSocket) => new Promise((resolve) => ws.once('open', resolve));

describe('streams', () => {
  test('EventSource pings: "event: ping" every eventsourcePingInterval seconds', async () => {
    const { origin } = await start({ eventsourcePingInterval: 0.1 });
    const s = await openStream(origin, '/subscriber/ping', { Accept: 'text/event-stream' });
    try {
      assert.equal(
        await s.until((body) => body.length >= 6 + 2 * 13),
        ': hi\n\nevent: ping\n\nevent: ping\n\n',
      );
    } finally {
      s.close();
    }
  });

  test('WebSocket pings: a client that answers stays; one that does not gets 1000 "410 Gon"', async () => {
    const { ws } = await start({ websocketPingInterval: 0.1 });
    const answering = ws('/subscriber/pong');
    let pings = 0;
    answering.on('ping', () => pings++);
    await opened(answering);
    await waitUntil('three pings', () => pings >= 3);
    assert.equal(answering.readyState, WebSocket.OPEN);
    answering.close();
    const silent = new WebSocket(
      `${ws('/subscriber/x').url.replace(/\/subscriber\/x$/, '')}/subscriber/pong`,
      {
        autoPong: false,
      },
    );
    const result = closed(silent);
    await opened(silent);
    // Nchan's reason, cut to 7 bytes.
    assert.deepEqual(await result, { code: 1000, reason: '410 Gon' });
  });

  test('a reader that stops reading is dropped once its backlog passes the limit', async () => {
    const { push, origin, publish } = await start();
    const url = new URL(origin);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => {});
    socket.write('GET /subscriber/slow HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    // It reads nothing at all.
    socket.pause();
    await waitUntil('the stream to be counted', () => push.waiting() === 1);
    const big = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 32 && push.waiting() === 1; i++) await publish('slow', big);
    await waitUntil('the stream to be dropped', () => push.waiting() === 0);
    socket.destroy();
  });

  test('a stopping daemon ends EventSource with ":410: 410 Gone" and WebSocket with 1001 "410 Gone"', async () => {
    const { push, origin, ws } = await start();
    const s = await openStream(origin, '/subscriber/stop', { Accept: 'text/event-stream' });
    const socket = ws('/subscriber/stop');
    await opened(socket);
    const socketClosed = closed(socket);
    await waitUntil('both subscribers', () => push.waiting() === 2);
    await push.close();
    assert.equal(await s.closed(), ': hi\n\n:410: 410 Gone\n\n');
    assert.deepEqual(await socketClosed, { code: 1001, reason: '410 Gone' });
  });

  test('a multiplexed interval poll: 304 at once when nothing is newer, with the asked id', async () => {
    const { origin, publish } = await start({ splitDelimiter: ',', polling: 'interval' });
    const empty = await request(origin, 'GET', '/subscriber/i1,i2');
    assert.equal(empty?.status, 304);
    assert.equal(empty?.headers.etag, undefined);
    await publish('i2', 'two');
    const got = await request(origin, 'GET', '/subscriber/i1,i2');
    assert.equal(got?.text, 'two');
    assert.equal(got?.headers.etag, '-,[0]');
    const none = await request(origin, 'GET', '/subscriber/i1,i2', {
      headers: {
        'If-Modified-Since': got?.headers['last-modified'] ?? '',
        'If-None-Match': '-,[0]',
      },
    });
    assert.equal(none?.status, 304);
    assert.equal(none?.headers.etag, '-,[0]');
    assert.equal(none?.headers['last-modified'], got?.headers['last-modified']);
  });

  test('without the raw socket path: EventSource, WebSocket and a multiplexed poll', async () => {
    const { origin, ws, publish } = await start({ splitDelimiter: ',' }, false);
    await publish('n1', 'one');
    const s = await openStream(origin, '/subscriber/n1', { Accept: 'text/event-stream' });
    assert.match(
      await s.until((body) => body.includes('data: one')),
      /^: hi\n\nid: \d+:0\ndata: one\n\n$/,
    );
    s.close();
    const socket = ws('/subscriber/n1,n2');
    const frames: string[] = [];
    socket.on('message', (data) => frames.push(String(data)));
    await opened(socket);
    await publish('n2', 'two');
    await waitUntil('two frames', () => frames.length === 2);
    assert.deepEqual(frames, ['one', 'two']);
    socket.close();
    // The oldest message first; a tie (same second and tag) goes to the earlier channel.
    const poll = await request(origin, 'GET', '/subscriber/n1,n2');
    assert.equal(poll?.text, 'one');
    assert.equal(poll?.headers.etag, '[0],-');
  });
});
