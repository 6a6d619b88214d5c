import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { multiChannelUrl, multiplexTarget, publisherUrl } from '../../src/channel/urls.js';
import { parseChannelInfo } from '../../src/publish/index.js';
import { openPage } from '../support/chromium.js';
import { CHROMIUM, NCHAN, needs } from '../support/system.js';
import { waitUntil } from '../support/wait.js';
import { DAEMON_KINDS, type Daemon, startDaemon } from './support/daemons.js';
import type { PageSpec } from './support/pages.js';
import {
  nextSecond,
  numbered,
  type ProbeState,
  readProbe,
  waitForReceived,
} from './support/probe.js';
import { sharedSetup } from './support/setup.js';

const FIRST_CURSOR = { 'if-modified-since': 'Thu, 01 Jan 1970 00:00:00 GMT', 'if-none-match': '0' };

/** Resolve once the probe's record satisfies `predicate` (a function run in the page). */
async function waitForProbe(page: Page, predicate: (probe: ProbeState) => boolean): Promise<void> {
  await page.waitForFunction(`(${predicate.toString()})(window.probe)`, undefined, {
    polling: 50,
    timeout: 15_000,
  });
}

/**
 * Resolve once one poll of `channelId` waits on the daemon. A DELETE must find the
 * re-poll waiting: one that arrived after it would create the channel anew and wait
 * instead of getting 410.
 */
async function pollWaits(daemon: Daemon, channelId: string): Promise<void> {
  await waitUntil(`a poll of ${channelId} waiting on the daemon`, async () => {
    const info = await fetch(publisherUrl(channelId, daemon.settings));
    return parseChannelInfo(await info.text())?.subscribers === 1;
  });
}

describe('browser client: statuses, unsubscribe, pagehide', {
  skip: needs(CHROMIUM, NCHAN),
}, () => {
  const setup = sharedSetup({ daemons: true });

  /**
   * A plain-client page subscribed to `main` and `other` on `daemon` (one multiplexed
   * connection, `urls.both`), once the connection is open.
   */
  async function openTwoChannels(
    t: { after(fn: () => unknown): void },
    daemon: Daemon,
    prefix: string,
    options?: Record<string, unknown>,
  ) {
    const { context, page, log } = await openPage(setup.browser);
    t.after(() => context.close());
    const ids = { main: `${prefix}-main-${daemon.kind}`, other: `${prefix}-other-${daemon.kind}` };
    const urls = {
      main: daemon.subscriberUrl(ids.main),
      other: daemon.subscriberUrl(ids.other),
      both: multiChannelUrl([ids.main, ids.other], daemon.settings),
    };
    const spec: PageSpec = { client: 'plain', channels: ids, daemonPort: daemon.port, options };
    await page.goto(setup.pages.url(spec));
    await waitForProbe(page, (probe) => probe.states.includes('open'));
    return { page, log, ids, urls };
  }

  for (const kind of DAEMON_KINDS) {
    // Nchan ends every subscription with the same 410 when a channel is deleted and when
    // nginx reloads or stops: the client cannot tell them apart, so it reconnects and
    // follows the channel again (deleted and published to again, it simply goes on).
    for (const transport of ['eventsource', 'longpoll']) {
      test(`${kind}, ${transport}: 410 after the channel is deleted: the client reconnects and follows it again`, async (t) => {
        const daemon = setup.daemons.get(kind)!;
        const { page, ids, urls } = await openTwoChannels(t, daemon, `gone-${transport}`, {
          transport,
          retryDelay: 200,
        });
        await daemon.publisher.sendUpdate(ids.main, { type: 'tock', n: 1 });
        await waitForReceived(page, 1);
        await pollWaits(daemon, ids.main);
        const reconnected = page.waitForRequest((request) => request.url().startsWith(urls.both));
        const deleted = await fetch(publisherUrl(ids.main, daemon.settings), { method: 'DELETE' });
        assert.equal(deleted.status, 200);
        await reconnected;
        await waitForProbe(page, (probe) => probe.states.at(-1) === 'open');
        // A recreated channel counts ids from 0 again: a new second keeps them apart.
        await nextSecond();
        await daemon.publisher.sendUpdate(ids.main, { type: 'tock', n: 2 });
        await daemon.publisher.sendUpdate(ids.other, { type: 'tick', n: 3 });
        await waitForReceived(page, 3);

        const probe = await readProbe(page);
        assert.deepEqual(probe.calls, ['tock:1', 'tock:2', 'other:3']);
        assert.deepEqual(probe.states.slice(0, 2), ['connecting', 'open']);
        assert.ok(probe.states.includes('retrying'), probe.states.join());
        assert.ok(!probe.states.includes('gone'), probe.states.join());
        // Long-poll sees the 410, EventSource only the stream's end: an error event for
        // each channel of the connection, not fatal.
        const ended = {
          status: transport === 'longpoll' ? 410 : 0,
          fatal: false,
          retrying: true,
        };
        const expected = [ended, ended];
        assert.deepEqual(
          probe.errors.map(({ status, fatal, retryIn }) => ({
            status,
            fatal,
            retrying: retryIn !== null && retryIn > 0,
          })),
          expected,
        );
        assert.equal(await page.evaluate(() => window.pushserver.updates.state('main')), 'open');
      });
    }

    test(`${kind}: EventSource reads the X-EventSource-Event names it is told, and never takes one named open or error for the stream's own`, async (t) => {
      const daemon = setup.daemons.get(kind)!;
      const { page, ids } = await openTwoChannels(t, daemon, 'named', {
        transport: 'eventsource',
        eventNames: ['alert', 'with space:colon'],
      });
      const published: [string | null, number][] = [
        ['alert', 1],
        ['error', 2],
        ['open', 3],
        ['not-listed', 4],
        [null, 5],
        ['with space:colon', 7],
        ['message', 9],
      ];
      for (const [event, n] of published) {
        const answer = await fetch(publisherUrl(ids.main, daemon.settings), {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            ...(event === null ? {} : { 'X-EventSource-Event': event }),
          },
          // `tock`: the probe's first `tick` processor throws on purpose.
          body: JSON.stringify(numbered(n, 'tock')),
        });
        assert.equal(answer.status, 201, `${event}: a subscriber was waiting`);
      }
      await waitForReceived(page, 6);
      const probe = await readProbe(page);
      // The unlisted name is skipped (EventSource never hands it to the client).
      assert.deepEqual(probe.received, [1, 2, 3, 5, 7, 9]);
      assert.deepEqual(probe.errors, []);
      assert.deepEqual(probe.states, ['connecting', 'open']);
    });

    test(`${kind}: unsubscribe stops one channel; subscribing again resumes after its last update`, async (t) => {
      const daemon = setup.daemons.get(kind)!;
      const { page, ids, urls } = await openTwoChannels(t, daemon, 'unsub');
      await daemon.publisher.sendUpdate(ids.main, { type: 'tock', n: 1 });
      await waitForReceived(page, 1);

      const aborted = page.waitForEvent('requestfailed', (request) => request.url() === urls.both);
      assert.equal(await page.evaluate(() => window.pushserver.updates.unsubscribe('main')), true);
      await aborted;
      assert.equal(await page.evaluate(() => window.pushserver.updates.state('main')), undefined);
      await daemon.publisher.sendUpdate(ids.main, { type: 'tock', n: 2 });
      await daemon.publisher.sendUpdate(ids.other, { type: 'tick', n: 3 });
      await waitForReceived(page, 2);
      assert.deepEqual(
        (await readProbe(page)).received,
        [1, 3],
        'nothing on main while unsubscribed',
      );

      // Same name and URL again: the missed update 2 arrives, update 1 is not replayed
      // (the multiplexed connection resumes each channel where it was).
      const main = { url: urls.main, multiplex: multiplexTarget(ids.main, daemon.settings) };
      await page.evaluate((spec) => window.pushserver.updates.subscribe({ main: spec }), main);
      await waitForReceived(page, 3);
      const probe = await readProbe(page);
      assert.deepEqual(probe.received, [1, 3, 2]);
      assert.deepEqual(probe.errors, []);
      assert.deepEqual(probe.states, ['connecting', 'open', 'closed', 'connecting', 'open']);
    });

    test(`${kind}: pagehide aborts the client's own requests, pageshow from the bfcache resumes`, async (t) => {
      const daemon = setup.daemons.get(kind)!;
      const { page, ids, urls } = await openTwoChannels(t, daemon, 'hide');
      const aborted = page.waitForEvent('requestfailed', (request) => request.url() === urls.both);
      await page.evaluate(() =>
        window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })),
      );
      await aborted;
      assert.equal(await page.evaluate(() => window.pushserver.updates.state('main')), 'paused');

      const resumed = page.waitForRequest(urls.both);
      await page.evaluate(() =>
        window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })),
      );
      await resumed;
      await daemon.publisher.sendUpdate(ids.main, { type: 'tock', n: 1 });
      await waitForReceived(page, 1);
      const probe = await readProbe(page);
      assert.deepEqual(probe.received, [1]);
      assert.deepEqual(probe.errors, [], 'an abort of our own is not an error');
      assert.deepEqual(probe.states, ['connecting', 'open', 'paused', 'connecting', 'open']);
    });

    test(`${kind}: 408 answers are re-polled at once with the same cursor`, async (t) => {
      const daemon = await startDaemon(kind, {
        allowOrigin: setup.pages.origin,
        subscriberTimeout: 1,
      });
      t.after(() => daemon.stop());
      const { context, page } = await openPage(setup.browser);
      t.after(() => context.close());
      const url = daemon.subscriberUrl(`timeout-${kind}`);
      const sent: IncomingHttpHeaders[] = [];
      page.on('request', (request) => {
        if (request.url() === url) sent.push(request.headers());
      });
      const timeouts = countResponses(page, url, 408);
      await page.goto(
        setup.pages.url({
          client: 'jquery3',
          channels: { main: `timeout-${kind}` },
          daemonPort: daemon.port,
          options: { transport: 'longpoll' },
        }),
      );
      await page.waitForResponse((response) => response.url() === url && response.status() === 408);
      await page.waitForResponse((response) => response.url() === url && response.status() === 408);
      const published = await daemon.publisher.sendUpdate(`timeout-${kind}`, {
        type: 'tock',
        n: 1,
      });
      await waitForReceived(page, 1);
      await page.waitForRequest(url);

      const probe = await readProbe(page);
      assert.deepEqual(probe.errors, []);
      assert.deepEqual(probe.states, ['connecting', 'open']);
      assert.ok(timeouts.count >= 2);
      const cursors = sent.map((headers) => ({
        'if-modified-since': headers['if-modified-since'],
        'if-none-match': headers['if-none-match'],
      }));
      // Every poll up to the message asks from the start (the 408s changed nothing);
      // every one after it, from the message.
      const [seconds, counter] = published.channel!.lastMessageId.split(':').map(Number);
      const last = {
        'if-modified-since': new Date(seconds * 1000).toUTCString(),
        'if-none-match': String(counter),
      };
      const split = cursors.findIndex(
        (cursor) => cursor['if-modified-since'] !== FIRST_CURSOR['if-modified-since'],
      );
      assert.ok(split >= 3, JSON.stringify(cursors));
      assert.deepEqual(cursors.slice(0, split), Array(split).fill(FIRST_CURSOR));
      assert.deepEqual(cursors.slice(split), Array(cursors.length - split).fill(last));
    });
  }

  test("no page-wide side effects: jQuery Ajax settings, events and the page's own requests", async (t) => {
    const daemon = setup.daemons.get('pushserver')!;
    const { context, page } = await openPage(setup.browser);
    t.after(() => context.close());
    const url = daemon.subscriberUrl('side-effects');
    const subscribed = page.waitForRequest(url);
    // Long-poll: the transport that uses fetch, which could touch jQuery's Ajax machinery.
    await page.goto(
      setup.pages.url({
        client: 'jquery4',
        channels: { main: 'side-effects' },
        daemonPort: daemon.port,
        options: { transport: 'longpoll' },
      }),
    );
    await subscribed;
    await page.evaluate(`(() => {
      window.ajaxEvents = [];
      jQuery(document).on('ajaxStart ajaxSend ajaxComplete ajaxStop', (event) => ajaxEvents.push(event.type));
    })()`);
    const repoll = page.waitForRequest(url);
    await daemon.publisher.sendUpdate('side-effects', { type: 'tock', n: 1 });
    await waitForReceived(page, 1);
    await repoll;
    assert.deepEqual(await page.evaluate('ajaxEvents'), [], 'polling fires no jQuery Ajax events');
    // The seed replaced $.ajaxSettings.xhr with a wrapper around getAllResponseHeaders.
    assert.doesNotMatch(
      await page.evaluate('String(jQuery.ajaxSettings.xhr)'),
      /getAllResponseHeaders/,
    );

    // The page's own request survives the client stopping its own on pagehide.
    const own = page.evaluate(
      'new Promise((resolve) => jQuery.get("/slow").always((body, status) => resolve(status + ":" + body)))',
    );
    const aborted = page.waitForEvent('requestfailed', (request) => request.url() === url);
    await page.evaluate(() =>
      window.dispatchEvent(new PageTransitionEvent('pagehide', { persisted: true })),
    );
    await aborted;
    assert.equal(await own, 'success:done');
    assert.deepEqual(await page.evaluate('ajaxEvents'), [
      'ajaxStart',
      'ajaxSend',
      'ajaxComplete',
      'ajaxStop',
    ]);
  });

  test('misuse of the API throws errors that say what to pass', async (t) => {
    const { context, page } = await openPage(setup.browser);
    t.after(() => context.close());
    await page.goto(`${setup.pages.origin}/blank`);
    // A string, not a function: the page must not see helpers the TypeScript loader adds.
    const messages = await page.evaluate(`(() => {
      const updates = window.pushserver.updates;
      function attempt(call) {
        try {
          return JSON.stringify(call());
        } catch (error) {
          return error.name + ': ' + error.message;
        }
      }
      return [
        attempt(() => updates.subscribe(null)),
        attempt(() => updates.subscribe({ main: 42 })),
        attempt(() => updates.subscribe({ main: { url: 'http://x/sub/a', after: '12:0,[1]' } })),
        attempt(() => updates.subscribe({ main: { url: 'http://x/sub/a', after: 12 } })),
        attempt(() => updates.registerProcessor('main', 'message', 'not a function')),
        attempt(() => updates.on('message', () => {})),
        attempt(() => updates.configure({ retryDelay: -1 })),
        attempt(() => updates.configure({ retry: 5 })),
        attempt(() => updates.configure({ transport: 'sse' })),
        attempt(() => updates.configure({ multiplex: 'yes' })),
        attempt(() => updates.configure({ eventNames: 'alert' })),
        attempt(() => updates.configure({ eventNames: ['a\\nb'] })),
        attempt(() => updates.configure({ retryDelay: 250 })),
        attempt(() => updates.unsubscribe('never')),
      ];
    })()`);
    assert.deepEqual(messages, [
      'TypeError: pushserver: updates.subscribe() takes an object {name: channelUrl}',
      'TypeError: pushserver: channel "main" must be a URL string or {url, multiplex} as the helpers render it',
      'TypeError: pushserver: channel "main": after must be a message id "time:tag" or "time:-", e.g. "1796323864:0"; got "12:0,[1]"',
      'TypeError: pushserver: channel "main": after must be a message id "time:tag" or "time:-", e.g. "1796323864:0"; got 12',
      'TypeError: pushserver: registerProcessor("main", "message", ...) needs a function as the processor',
      'TypeError: pushserver: unknown event "message"; use one of update, error, state',
      'TypeError: pushserver: updates option "retryDelay" must be a number >= 0',
      'TypeError: pushserver: "retry" is not an updates option',
      'TypeError: pushserver: updates option "transport" must be one of auto, eventsource, websocket, longpoll',
      'TypeError: pushserver: updates option "multiplex" must be true or false',
      'TypeError: pushserver: updates option "eventNames" must be a list of event names, e.g. ["alert"]',
      'TypeError: pushserver: updates option "eventNames" must be a list of event names, e.g. ["alert"]',
      '{"retryDelay":250,"maxRetryDelay":30000,"jitter":0.2,"minPollInterval":1000,"transport":"auto","multiplex":true,"eventNames":[]}',
      'false',
    ]);
  });

  test('updates that arrive while the page still loads wait for its processors', async (t) => {
    const daemon = setup.daemons.get('pushserver')!;
    const { context, page } = await openPage(setup.browser);
    t.after(() => context.close());
    // Buffered before the page exists: the first poll answers at once, long before the
    // slow processor script has run.
    await daemon.publisher.sendUpdate('early', { type: 'tick', n: 1 });
    await daemon.publisher.sendUpdate('early', { type: 'tock', n: 2 });
    const spec: PageSpec = {
      client: 'plain',
      mode: 'data',
      channels: { main: 'early' },
      daemonPort: daemon.port,
      probeDelayMs: 800,
    };
    const early = page.waitForResponse(daemon.subscriberUrl('early'));
    await page.goto(setup.pages.url(spec), { waitUntil: 'commit' });
    await early;
    await waitForReceived(page, 2);
    assert.deepEqual((await readProbe(page)).calls, ['tick-1:1', 'tick-2:1', 'tock:2']);
  });

  test('nchan: a refused subscription (403, id over 1024 bytes) stops and reports', async (t) => {
    const daemon = setup.daemons.get('nchan')!;
    const { context, page } = await openPage(setup.browser);
    t.after(() => context.close());
    const url = `${daemon.subscriberUrl('x'.repeat(1025 - 3))}xxx`;
    await page.goto(
      setup.pages.url({ client: 'jquery4', channels: { main: { url } }, daemonPort: daemon.port }),
    );
    await waitForProbe(page, (probe) => probe.states.includes('failed'));
    const probe = await readProbe(page);
    assert.equal(probe.errors.length, 1);
    assert.deepEqual(
      { ...probe.errors[0], message: '' },
      { status: 403, fatal: true, retryIn: null, message: '' },
    );
    assert.match(probe.errors[0].message, /refused .* with 403/);
  });

  test('a py-hbpush style daemon: Cache-Control etag when Etag is unreadable, 503, non-JSON, 304, 410 until gone', async (t) => {
    // A scripted peer: answers each poll from a plan and records what the client sent,
    // to pin down the headers and the cases neither daemon produces on demand.
    const L1 = 'Sat, 28 Nov 2026 01:00:00 GMT';
    const L2 = 'Sat, 28 Nov 2026 01:00:05 GMT';
    const plan: { status: number; headers?: Record<string, string>; body?: string }[] = [
      {
        status: 200,
        headers: { 'Last-Modified': L1, Etag: '5', 'Cache-Control': 'etag=2' },
        body: '{"type":"tock","n":1}',
      },
      { status: 503 },
      {
        status: 200,
        headers: { 'Last-Modified': L2, 'Cache-Control': 'etag=0' },
        body: 'not json',
      },
      { status: 304 },
      {
        status: 200,
        headers: { 'Last-Modified': L2, 'Cache-Control': 'etag=1' },
        body: '{"type":"tock","n":2}',
      },
    ];
    // Then 410 to every poll, at once: a daemon that keeps refusing means the channel is
    // gone (three in a row; a slow one may count as a waiting poll ended, so more may come).
    const received: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      const cors = {
        'Access-Control-Allow-Origin': setup.pages.origin,
        'Access-Control-Allow-Credentials': 'true',
      };
      if (req.method === 'OPTIONS') {
        res
          .writeHead(204, {
            ...cors,
            'Access-Control-Allow-Headers': 'If-None-Match, If-Modified-Since',
          })
          .end();
        return;
      }
      received.push(req.headers);
      const answer = plan.shift() ?? { status: 410 };
      // Etag is deliberately not in Access-Control-Expose-Headers, as with py-hbpush.
      if (answer) respond(res, answer.status, { ...cors, ...answer.headers }, answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const { context, page } = await openPage(setup.browser);
    t.after(() => context.close());
    const url = `http://127.0.0.1:${port}/subscriber/scripted`;
    await page.goto(
      setup.pages.url({
        client: 'plain',
        channels: { main: { url } },
        daemonPort: port,
        options: { transport: 'longpoll', retryDelay: 100 },
      }),
    );
    await waitForProbe(page, (probe) => probe.states.includes('gone'));

    const probe = await readProbe(page);
    assert.deepEqual(probe.received, [1, 2]);
    const cursors = received.map((headers) => [
      headers['if-modified-since'],
      headers['if-none-match'],
    ]);
    assert.deepEqual(cursors.slice(0, 5), [
      [FIRST_CURSOR['if-modified-since'], '0'],
      [L1, '2'],
      [L1, '2'],
      [L2, '0'],
      [L2, '0'],
    ]);
    // The 410s, every one asked from the last message.
    assert.ok(cursors.length >= 8, `${cursors.length} polls`);
    assert.deepEqual(cursors.slice(5), Array(cursors.length - 5).fill([L2, '1']));
    assert.ok(
      received.every(
        (headers) => headers['cache-control'] === 'no-cache' || headers.pragma === 'no-cache',
      ),
    );
    const [serverError, notJson, ...refusals] = probe.errors;
    const gone = refusals.pop()!;
    assert.equal(refusals.length, cursors.length - 5 - 1);
    assert.deepEqual([serverError.status, serverError.fatal], [503, false]);
    // The first retry waits out minPollInterval (1 s) since the failed request started.
    assert.ok(
      serverError.retryIn! > 0 && serverError.retryIn! <= 1000,
      `first retry ${serverError.retryIn} ms`,
    );
    assert.deepEqual([notJson.status, notJson.fatal, notJson.retryIn], [200, false, null]);
    assert.match(notJson.message, /on channel "main" is not JSON/);
    assert.deepEqual(
      refusals.map((error) => [error.status, error.fatal]),
      Array(refusals.length).fill([410, false]),
    );
    assert.deepEqual([gone.status, gone.fatal, gone.retryIn], [410, true, null]);
    assert.match(gone.message, /is gone \(410 Gone\)/);
    assert.deepEqual(probe.states.slice(0, 5), [
      'connecting',
      'open',
      'retrying',
      'connecting',
      'open',
    ]);
    assert.equal(probe.states.at(-1), 'gone');
  });
});

function respond(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body = '',
): void {
  res
    .writeHead(status, { 'Content-Type': 'application/json', ...headers })
    .end(status === 304 ? undefined : body);
}

function countResponses(page: Page, url: string, status: number): { readonly count: number } {
  const counter = { count: 0 };
  page.on('response', (response) => {
    if (response.url() === url && response.status() === status) counter.count += 1;
  });
  return counter;
}

declare global {
  interface Window {
    pushserver: {
      updates: {
        state(name: string): string | undefined;
        on(
          type: 'state',
          listener: (event: { channel: string; url: string; state: string }) => void,
        ): () => void;
        unsubscribe(name: string): boolean;
        subscribe(channels: Record<string, unknown>): void;
      };
    };
  }
}
