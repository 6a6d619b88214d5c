// Clients nobody here wrote, against the daemon's streams: the official Nchan client
// (npm `nchan`) in Chromium with each of its transports, native EventSource in Chromium,
// and the `eventsource` package in Node. Each gets 50 messages exactly once and in
// order, while the daemon drops every connection after the 25th (the client resumes
// from its last id); a last message after the 50 would show any duplicate.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { EventSource } from 'eventsource';
import type { Browser, Page } from 'playwright-core';
import {
  createPushServer,
  type PushServer,
  type RequestLogEntry,
} from '../../src/server/daemon.js';
import { request } from '../conformance/http-client.js';
import { launchChromium, openPage } from '../support/chromium.js';
import { CHROMIUM, needs } from '../support/system.js';
import { waitUntil } from '../support/wait.js';

const NCHAN_CLIENT = readFileSync(
  new URL('../../node_modules/nchan/NchanSubscriber.js', import.meta.url),
  'utf8',
);

/** The page: it subscribes as `?client=` says and keeps what it receives in `window.received`. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>streams</title>
<script src="/nchan.js"></script>
<script>
  window.received = [];
  window.ids = [];
  const params = new URLSearchParams(location.search);
  const url = location.origin + params.get('path');
  const client = params.get('client');
  if (client === 'native') {
    const source = new EventSource(url);
    source.onmessage = (event) => { window.received.push(event.data); window.ids.push(event.lastEventId); };
  } else {
    const options = client === 'default' ? {} : { subscriber: client };
    const sub = new NchanSubscriber(url, options);
    sub.on('message', (message, meta) => { window.received.push(message); window.ids.push(meta && meta.id); });
    sub.start();
  }
</script>`;

/** Serves the page and the Nchan client on the daemon's own origin (its `fallback`). */
function pages(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/nchan.js') {
    res.writeHead(200, { 'Content-Type': 'text/javascript' });
    res.end(NCHAN_CLIENT);
  } else if (path === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  } else {
    res.writeHead(404);
    res.end();
  }
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

describe('streaming clients: 50/50 exactly once, in order, across a dropped connection', () => {
  let push: PushServer;
  let origin = '';
  const sockets = new Set<Socket>();
  const logged: RequestLogEntry[] = [];
  let seq = 0;

  before(async () => {
    push = createPushServer(
      {
        store: { type: 'memory', maxMessages: 200, messageTimeout: 120 },
        locations: [
          { type: 'publisher', prefix: '/publisher/' },
          { type: 'subscriber', prefix: '/subscriber/' },
          { type: 'subscriber', prefix: '/multi/', splitDelimiter: ',' },
        ],
      },
      { fallback: pages, log: (entry) => logged.push(entry) },
    );
    const { port } = await push.listen(0, '127.0.0.1');
    origin = `http://127.0.0.1:${port}`;
    push.server?.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  });
  after(() => push?.close());

  // One connection per request (not a kept-alive pool): the test drops the daemon's connections.
  const publish = async (channel: string, body: string) => {
    const answer = await request(origin, 'POST', `/publisher/${channel}`, {
      body,
      headers: { 'Content-Type': 'text/plain' },
    });
    assert.ok(
      answer?.status === 201 || answer?.status === 202,
      `publish ${body}: ${answer?.status}`,
    );
  };
  const subscribed = (channel: string) =>
    waitUntil(`a subscriber on ${channel}`, async () => {
      const info = await request(origin, 'GET', `/publisher/${channel}`, {
        headers: { Accept: 'application/json' },
      });
      return info?.status === 200 && JSON.parse(info.text).subscribers > 0;
    });

  /**
   * Publish 1..25, wait for them, drop every connection, publish 26..50 (the client is
   * away for some of them), wait for them, then 51.
   */
  const run = async (channel: string, received: () => Promise<string[]>, transport: string) => {
    // The first message waits for the subscriber, so none is "before it subscribed".
    await subscribed(channel);
    for (const body of range(1, 25)) await publish(channel, body);
    await waitUntil('25 messages', async () => (await received()).length >= 25);
    for (const socket of sockets) socket.destroy();
    for (const body of range(26, 50)) await publish(channel, body);
    await waitUntil('50 messages', async () => (await received()).length >= 50, {
      timeoutMs: 20_000,
    });
    await publish(channel, '51');
    await waitUntil('51 messages', async () => (await received()).length >= 51);
    // A duplicate would arrive before 51; give a late one a moment to show too.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await received(), range(1, 51));
    // The dropped subscriber request is in the log (so the client did resume), with its transport.
    const ended = logged.filter((entry) => entry.url.startsWith(`/subscriber/${channel}`));
    assert.ok(ended.length > 0, 'no subscriber request ended: nothing was dropped');
    assert.ok(
      ended.every((entry) => entry.transport === transport),
      JSON.stringify(ended.map((entry) => entry.transport)),
    );
  };

  describe('in Chromium', { skip: needs(CHROMIUM) }, () => {
    let browser: Browser;
    before(async () => {
      browser = await launchChromium();
    });
    after(() => browser?.close());

    const inPage = async (client: string, path: string) => {
      const { context, page, log } = await openPage(browser);
      await page.goto(`${origin}/?client=${client}&path=${encodeURIComponent(path)}`);
      return { context, page, log };
    };
    const receivedIn = (page: Page) => () =>
      page.evaluate(() => (window as never as { received: string[] }).received);

    for (const client of ['default', 'websocket', 'eventsource', 'longpoll', 'native']) {
      test(`${client === 'native' ? 'native EventSource' : `NchanSubscriber ${client}`}`, async () => {
        const channel = `e2e-${client}-${process.pid}-${++seq}`;
        const { context, page, log } = await inPage(client, `/subscriber/${channel}`);
        try {
          const transport =
            client === 'native' || client === 'eventsource'
              ? 'eventsource'
              : client === 'longpoll'
                ? 'longpoll'
                : 'websocket';
          await run(channel, receivedIn(page), transport);
          assert.deepEqual(log.errors, []);
        } finally {
          await context.close();
        }
      });
    }

    test('NchanSubscriber on a multiplexed URL: every channel, ids naming the source', async () => {
      const a = `e2e-mx-a-${process.pid}-${++seq}`;
      const b = `e2e-mx-b-${process.pid}-${seq}`;
      const { context, page } = await inPage('websocket', `/multi/${a},${b}`);
      try {
        await subscribed(b);
        await publish(a, 'a1');
        await publish(b, 'b1');
        await waitUntil('2 messages', async () => (await receivedIn(page)()).length >= 2);
        assert.deepEqual(await receivedIn(page)(), ['a1', 'b1']);
        const ids = await page.evaluate(() => (window as never as { ids: string[] }).ids);
        assert.match(ids[0], /^\d+:\[0\],-$/);
        assert.match(ids[1], /^\d+:(0|-),\[0\]$/);
      } finally {
        await context.close();
      }
    });
  });

  test('the eventsource package in Node', async () => {
    const channel = `e2e-node-es-${process.pid}-${++seq}`;
    const received: string[] = [];
    const source = new EventSource(`${origin}/subscriber/${channel}`);
    source.onmessage = (event) => received.push(event.data);
    try {
      await run(channel, async () => received, 'eventsource');
    } finally {
      source.close();
    }
  });
});
