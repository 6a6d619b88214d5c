// The browser client against a scripted daemon that answers every poll at once with 304
// (interval polling), 408 (a subscriber timeout) or 503: however fast the answers come, one
// tab must not ask in a loop. Both built files are tested, updates.js and updates.min.js.
// The counts include CORS preflights (the polls' conditional headers need one; Chromium
// sends one before every poll here) and the GETs Chromium re-sends by itself after a 408
// on a kept-alive connection (up to 3 more per poll here).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, openPage } from '../support/chromium.js';
import { CHROMIUM, needs } from '../support/system.js';

const STATIC = join(import.meta.dirname, '..', '..', 'static', 'pushserver');
const CLIENT_FILES = ['updates.js', 'updates.min.js'];
/** Answered at once, every time. */
const FAST_STATUSES = [304, 408, 503];
/** How long the request count is taken over, and the bound on it. */
const WINDOW_MS = 3000;
const MAX_PER_SECOND = 10;
/** How long the scripted daemon holds a poll before its 408, as a waiting long-poll does. */
const LONG_POLL_MS = 1500;
/** Every wait for a request ends by then. */
const DEADLINE_MS = 10_000;

interface Seen {
  path: string;
  method: string;
  at: number;
  /** When the answer went out. */
  answeredAt?: number;
}

/** What a page recorded of the client's `error` events. */
interface RecordedError {
  channel: string;
  status: number;
  retryIn: number | null;
}

/** The page's `window`, as far as these tests use it. */
interface TestWindow {
  errors: RecordedError[];
  pushserver: {
    updates: {
      on(type: 'error', listener: (event: RecordedError) => void): void;
      subscribe(channels: Record<string, string>): void;
      configure(changes: Record<string, number>): Record<string, number>;
    };
  };
}

/** A node:http server on a port the OS picks. */
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return { origin, close };
}

/**
 * Pages that load one of the built client files, and a daemon that answers
 * `/status/<code>/...` with that status at once and `/long-408/...` with 408 after
 * {@link LONG_POLL_MS}, recording every request (CORS preflights included).
 */
async function startServers() {
  const seen: Seen[] = [];
  const arrivals = new EventEmitter();
  const pages = await listen((req, res) => {
    const url = new URL(req.url ?? '/', 'http://page.test');
    const file = url.pathname.slice('/client/'.length);
    if (url.pathname.startsWith('/client/') && CLIENT_FILES.includes(file)) {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8' });
      res.end(readFileSync(join(STATIC, file)));
    } else if (url.pathname === '/page') {
      const src = `/client/${url.searchParams.get('client')}`;
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>poll rate</title><script src="${src}"></script>`);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  const daemon = await listen((req, res) => {
    const record: Seen = { path: req.url ?? '', method: req.method ?? '', at: performance.now() };
    seen.push(record);
    arrivals.emit('request', record);
    const cors = {
      'Access-Control-Allow-Origin': pages.origin,
      'Access-Control-Allow-Credentials': 'true',
    };
    const answer = (status: number) => {
      record.answeredAt = performance.now();
      res.writeHead(status, { ...cors, 'Content-Type': 'text/plain' });
      res.end(status === 304 ? undefined : `${status}\n`);
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Headers': 'If-Modified-Since, If-None-Match',
      });
      res.end();
    } else if (record.path.startsWith('/stream-ends/')) {
      // An EventSource stream that opens and ends at once, as a subscriber timeout of 0 would.
      record.answeredAt = performance.now();
      res.writeHead(200, { ...cors, 'Content-Type': 'text/event-stream' });
      res.end(': hi\n\n');
    } else if (record.path.startsWith('/long-408/')) {
      const timer = setTimeout(() => answer(408), LONG_POLL_MS);
      res.on('close', () => clearTimeout(timer));
    } else {
      answer(Number(record.path.split('/')[2]));
    }
  });

  /** GET requests of `path` so far. */
  const gets = (path: string) => seen.filter((r) => r.path === path && r.method === 'GET');

  /** Resolve once `path` has had `count` GETs; reject after {@link DEADLINE_MS}. */
  function waitForGets(path: string, count: number): Promise<Seen[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (gets(path).length < count) return;
        done();
        resolve(gets(path));
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${path}: ${gets(path).length} of ${count} GETs after ${DEADLINE_MS} ms`));
      }, DEADLINE_MS);
      const done = () => {
        clearTimeout(timer);
        arrivals.off('request', check);
      };
      arrivals.on('request', check);
      check();
    });
  }

  return {
    pages,
    daemon,
    /** Every request of `path`, preflights included. */
    count: (path: string) => seen.filter((r) => r.path === path).length,
    gets,
    waitForGets,
    close: async () => {
      await pages.close();
      await daemon.close();
    },
  };
}

/** Record the client's `error` events in `window` before anything is subscribed. */
async function recordErrors(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as TestWindow;
    w.errors = [];
    w.pushserver.updates.on('error', (event) => {
      w.errors.push({ channel: event.channel, status: event.status, retryIn: event.retryIn });
    });
  });
}

function subscribe(page: Page, channels: Record<string, string>): Promise<void> {
  return page.evaluate(
    (channels) => (window as unknown as TestWindow).pushserver.updates.subscribe(channels),
    channels,
  );
}

describe('browser client: poll rate against answers that come at once', {
  skip: needs(CHROMIUM),
}, () => {
  let browser: Browser;
  let servers: Awaited<ReturnType<typeof startServers>>;
  before(async () => {
    browser = await launchChromium();
    servers = await startServers();
  });
  after(async () => {
    await browser?.close();
    await servers?.close();
  });

  for (const file of CLIENT_FILES) {
    test(`${file}: under ${MAX_PER_SECOND} requests a second per channel for 304, 408 and 503; a 408 after a long wait is re-polled at once`, async (t) => {
      const { context, page } = await openPage(browser);
      t.after(() => context.close());
      await page.goto(`${servers.pages.origin}/page?client=${file}`);
      await recordErrors(page);
      const paths = Object.fromEntries(
        FAST_STATUSES.map((status) => [status, `/status/${status}/${file}`]),
      );
      const longPath = `/long-408/${file}`;
      const streamPath = `/stream-ends/${file}`;
      const channels: Record<string, string> = {
        long: `${servers.daemon.origin}${longPath}`,
        ends: `${servers.daemon.origin}${streamPath}`,
      };
      for (const status of FAST_STATUSES) {
        channels[`s${status}`] = `${servers.daemon.origin}${paths[status]}`;
      }
      // Each channel on a connection of its own (one URL each); an EventSource is tried
      // first, then long-poll where the answer is not a stream.
      await subscribe(page, channels);
      const measured = [...FAST_STATUSES.map(String), 'stream ends'];
      const measuredPaths = [...FAST_STATUSES.map((status) => paths[status]), streamPath];
      await Promise.all(measuredPaths.map((path) => servers.waitForGets(path, 1)));

      const start = performance.now();
      const before = measuredPaths.map((path) => servers.count(path));
      const getsBefore = measuredPaths.map((path) => servers.gets(path).length);
      // The measurement window, not synchronisation: a rate is a count over time.
      await delay(WINDOW_MS);
      const seconds = (performance.now() - start) / 1000;
      const rates = measuredPaths.map((path, i) => (servers.count(path) - before[i]) / seconds);
      t.diagnostic(measured.map((name, i) => `${name}: ${rates[i].toFixed(1)}/s`).join(', '));
      for (const [i, status] of measured.entries()) {
        assert.ok(
          rates[i] < MAX_PER_SECOND,
          `${status}: ${rates[i].toFixed(1)} requests/s over ${seconds.toFixed(1)} s (bound ${MAX_PER_SECOND}/s)`,
        );
        // Still polling: the bound is not met by giving up.
        const getsInWindow = servers.gets(measuredPaths[i]).length - getsBefore[i];
        assert.ok(getsInWindow >= 1, `${status}: no poll in ${seconds.toFixed(1)} s`);
      }

      // A 408 that ends a long wait is asked again at once (a minimum interval, not a delay).
      const [first, second] = await servers.waitForGets(longPath, 2);
      const gap = second.at - first.answeredAt!;
      assert.ok(
        gap < 500,
        `re-poll ${gap.toFixed(0)} ms after a 408 that came after ${LONG_POLL_MS} ms`,
      );

      // 503: the backoff grows with each failure.
      const errors = await page.evaluate(() => (window as unknown as TestWindow).errors);
      const retries = errors.filter((e) => e.channel === 's503').map((e) => e.retryIn!);
      assert.ok(retries.length >= 2, JSON.stringify(errors));
      assert.ok(retries[0] >= 800 && retries[0] <= 1200, `first retry in ${retries[0]} ms`);
      assert.ok(retries[1] > retries[0], `retries in ${retries.join(', ')} ms`);
      // A stream that ends is a reconnection, and every reconnection is announced.
      const ends = errors.filter((e) => e.channel === 'ends');
      assert.ok(
        ends.every((e) => e.status === 0 && e.retryIn! > 0),
        `a stream that ends: ${JSON.stringify(ends)}`,
      );
      assert.deepEqual(
        errors.filter((e) => e.channel !== 's503' && e.channel !== 'ends'),
        [],
        '304 and 408 are not errors',
      );
    });
  }

  test('the 5xx backoff doubles up to maxRetryDelay; minPollInterval is configurable', async (t) => {
    const { context, page } = await openPage(browser);
    t.after(() => context.close());
    await page.goto(`${servers.pages.origin}/page?client=updates.js`);
    await recordErrors(page);
    const options = await page.evaluate(() =>
      (window as unknown as TestWindow).pushserver.updates.configure({
        retryDelay: 50,
        maxRetryDelay: 200,
        jitter: 0,
        minPollInterval: 0,
      }),
    );
    assert.deepEqual(options, {
      retryDelay: 50,
      maxRetryDelay: 200,
      jitter: 0,
      minPollInterval: 0,
      transport: 'auto',
      multiplex: true,
      eventNames: [],
    });
    const path = '/status/503/capped';
    await subscribe(page, { capped: `${servers.daemon.origin}${path}` });
    // Five failures reported (the first GET may be an EventSource, which falls back to
    // long-poll without a retry).
    await page.waitForFunction(
      () =>
        (window as unknown as TestWindow).errors.filter((e) => e.channel === 'capped').length >= 5,
      undefined,
      { timeout: 30_000 },
    );
    const errors = await page.evaluate(() => (window as unknown as TestWindow).errors);
    assert.deepEqual(
      errors
        .filter((e) => e.channel === 'capped')
        .slice(0, 5)
        .map((e) => e.retryIn),
      [50, 100, 200, 200, 200],
    );
  });
});
