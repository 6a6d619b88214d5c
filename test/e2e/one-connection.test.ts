// The browser client's done-when (issue 16): a page's channels on one multiplexed location
// share one connection, and every update arrives exactly once, in order, through a
// dropped connection, a change of channels, a daemon restart (Redis store), an nginx
// reload or restart, with long-poll when the page has no EventSource, and with three tabs
// open at once. The page talks to the daemon through a counting TCP proxy
// (test/support/tcp-proxy.ts), which is how a test sees the connections a browser holds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { type Redis, startRedis } from '../support/redis.js';
import { CHROMIUM, NCHAN, needs, REDIS } from '../support/system.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { DAEMON_KINDS, type DaemonKind } from './support/daemons.js';
import {
  type ChannelDescriptor,
  type ClientPages,
  descriptor,
  type MultiplexDaemon,
  readRecord,
  startClientPages,
  startMultiplexDaemon,
  waitForState,
  waitForUpdates,
} from './support/multiplexed.js';

/** A test's whole budget: Chromium and tsx start slowly on a loaded 2-core machine. */
const TEST_MS = 240_000;
/** How long one step waits (channels open, updates arrive). */
const STEP_MS = 60_000;
/** Messages published to each channel per round. */
const N = 5;

/** Retries soon after a drop or a restart, so a test does not wait out the default backoff. */
const FAST_RETRIES = { retryDelay: 200, maxRetryDelay: 1000 };

const names = (count: number) => Array.from({ length: count }, (_, i) => `ch${i + 1}`);
const suffix = () => `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** What a page subscribed, by name: the channel id the test publishes to. */
type Channels = Record<string, string>;

/** `{ch1: 'oc-<label>-<random>-1', ...}`: ids unique to one test. */
function channelIds(label: string, count = 8): Channels {
  const unique = suffix();
  return Object.fromEntries(
    names(count).map((name, i) => [name, `oc-${label}-${unique}-${i + 1}`]),
  );
}

/** The update published as number `n` to channel `name`: it names both, to catch misrouting. */
const update = (name: string, n: number) => ({ channel: name, n });
const updates = (name: string, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => update(name, from + i));

/** Publish `from..to` to each channel, interleaved: 1 to every channel, then 2, ... */
async function publishRound(
  daemon: MultiplexDaemon,
  channels: Channels,
  from: number,
  to: number,
): Promise<void> {
  for (let n = from; n <= to; n++) {
    for (const [name, id] of Object.entries(channels)) await daemon.publish(id, update(name, n));
  }
}

/**
 * Nchan's message ids are `<unix second>:<counter>`, and a reloaded or restarted Nchan
 * counts from 0 again: a message published in the second of the last one the page saw
 * would sort at or before the page's cursor and never be delivered. Publish the next
 * messages only once the wall-clock second has changed (the protocol's clock, not
 * synchronisation).
 */
async function nextSecondAfter(lastPublishMs: number): Promise<void> {
  const wait = Math.floor(lastPublishMs / 1000) * 1000 + 1020 - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

/** What every test shares: one Chromium, the page server, and what `after` closes. */
const shared = {
  browser: undefined as unknown as Browser,
  pages: undefined as unknown as ClientPages,
  cleanups: [] as (() => Promise<unknown>)[],
};

/** Run `fn` in `after` (last registered, first run). */
function later(fn: () => Promise<unknown>): void {
  shared.cleanups.push(fn);
}

/** A page (own context unless given) that loaded the client, its options set, and how to reach it. */
async function openClientPage(
  options: { eventSource?: boolean; context?: BrowserContext; transport?: string } = {},
): Promise<{ page: Page; errors: string[] }> {
  const context = options.context ?? (await shared.browser.newContext());
  if (!options.context) later(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(shared.pages.url({ eventSource: options.eventSource ?? true }), {
    timeout: STEP_MS,
  });
  await page.evaluate(
    (configure) =>
      (
        window as unknown as { pushserver: { updates: { configure(o: unknown): unknown } } }
      ).pushserver.updates.configure(configure),
    options.transport ? { ...FAST_RETRIES, transport: options.transport } : FAST_RETRIES,
  );
  return { page, errors };
}

/** `updates.subscribe(...)` in the page, every channel through `proxy`. */
async function subscribe(page: Page, proxy: TcpProxy, channels: Channels): Promise<void> {
  const specs: Record<string, ChannelDescriptor> = Object.fromEntries(
    Object.entries(channels).map(([name, id]) => [name, descriptor(proxy.origin, id)]),
  );
  await page.evaluate(
    (given) =>
      (
        window as unknown as { pushserver: { updates: { subscribe(c: unknown): void } } }
      ).pushserver.updates.subscribe(given),
    specs,
  );
}

/** Every channel of `channels` received exactly `expected(name)`, in order. */
async function assertReceived(
  page: Page,
  channels: Channels,
  expected: (name: string) => unknown[],
): Promise<void> {
  const { updates: received } = await readRecord(page);
  for (const name of Object.keys(channels)) {
    assert.deepEqual(received[name] ?? [], expected(name), `channel ${name}`);
  }
}

/** No channel ever went `gone` or `failed`. */
async function assertNeverStopped(page: Page): Promise<void> {
  const { states } = await readRecord(page);
  const stopped = states.filter(([, state]) => state === 'gone' || state === 'failed');
  assert.deepEqual(stopped, [], 'a channel stopped');
}

/**
 * Once the client settles, the page holds `atMost` connections through the proxy (a
 * client that keeps a connection too many fails here, naming the count). Long-poll:
 * one request in flight, however many idle kept-alive connections the browser's pool
 * holds (Chromium keeps a used one for minutes, and now and then takes a new one for
 * the next request while an earlier one is idle).
 */
async function assertConnections(proxy: TcpProxy, atMost: number, mode: Mode): Promise<void> {
  if (mode === 'longpoll') {
    try {
      await proxy.waitForAwaiting(1, 10_000);
    } catch {
      assert.fail(`${proxy.awaiting()} long-polls waiting through the proxy; at most 1 expected`);
    }
    return;
  }
  if (proxy.open() <= atMost) return;
  // The connection a switch replaced may still be closing.
  try {
    await proxy.waitForOpen(atMost, 10_000);
  } catch {
    assert.fail(`${proxy.open()} connections open through the proxy; at most ${atMost} expected`);
  }
}

/** A proxy in front of `daemon`, closed after the file. */
async function proxyFor(daemon: MultiplexDaemon): Promise<TcpProxy> {
  const proxy = await startTcpProxy(daemon.port);
  later(() => proxy.close());
  return proxy;
}

before(async () => {
  if (needs(CHROMIUM, NCHAN)) return;
  shared.browser = await launchChromium();
  shared.pages = await startClientPages();
});
after(async () => {
  for (const cleanup of shared.cleanups.reverse()) await cleanup().catch(() => {});
  await shared.browser?.close();
  await shared.pages?.close();
});

/**
 * One daemon of `kind` for the scenarios that do not stop it; started by the first test
 * that needs it.
 */
const daemons = new Map<DaemonKind, Promise<MultiplexDaemon>>();
function daemonOf(kind: DaemonKind): Promise<MultiplexDaemon> {
  let daemon = daemons.get(kind);
  if (!daemon) {
    daemon = startMultiplexDaemon(kind, { allowOrigin: shared.pages.origin });
    daemons.set(kind, daemon);
    later(async () => (await daemon)?.stop());
  }
  return daemon;
}

/**
 * With EventSource the page holds exactly one connection. Long-poll sends `If-None-Match`
 * and `If-Modified-Since` cross-origin, which are not CORS-safelisted: Chromium sends a
 * preflight (OPTIONS) now and then (its preflight cache lasts 5 s without
 * `Access-Control-Max-Age`), and may put it on a second socket while the poll waits on
 * the first. So a long-poll page has at most two requests waiting at once, one once it
 * settles, on however many kept-alive sockets the browser's pool holds (a preflight's
 * socket stays there, and the next poll may go on either). WebSocket
 * (`transport: 'websocket'`, Nchan's `ws+meta.nchan`) holds one connection.
 */
const CONNECTIONS = { eventsource: 1, longpoll: 2, websocket: 1 } as const;
type Mode = keyof typeof CONNECTIONS;

describe('one connection per page: every update exactly once, in order', {
  skip: needs(CHROMIUM, NCHAN),
}, () => {
  for (const kind of DAEMON_KINDS) {
    for (const mode of ['eventsource', 'longpoll', 'websocket'] as Mode[]) {
      const label = `${kind}, ${
        {
          eventsource: 'EventSource',
          longpoll: 'no EventSource (long-poll)',
          websocket: 'WebSocket',
        }[mode]
      }`;
      const limit = CONNECTIONS[mode];

      /** 8 channels subscribed through a new proxy; resolves once all are open. */
      const setUp = async (tag: string) => {
        const daemon = await daemonOf(kind);
        const proxy = await proxyFor(daemon);
        const { page, errors } = await openClientPage({
          eventSource: mode !== 'longpoll',
          transport: mode === 'websocket' ? 'websocket' : undefined,
        });
        const channels = channelIds(`${kind}-${mode}-${tag}`);
        await subscribe(page, proxy, channels);
        await waitForState(page, Object.keys(channels), 'open', STEP_MS, mode);
        return { daemon, proxy, page, errors, channels };
      };

      test(`${label}: 8 channels on one connection, ${N} updates each`, {
        timeout: TEST_MS,
      }, async () => {
        const { daemon, proxy, page, errors, channels } = await setUp('a');
        if (mode !== 'longpoll') {
          assert.equal(proxy.open(), 1, 'connections open once every channel is open');
          assert.equal(proxy.maxOpen, 1, 'most connections open at once');
        }
        await publishRound(daemon, channels, 1, N);
        await waitForUpdates(page, counts(channels, N), STEP_MS);
        await assertReceived(page, channels, (name) => updates(name, 1, N));
        const most = mode === 'longpoll' ? proxy.maxAwaiting : proxy.maxOpen;
        assert.ok(
          most <= limit,
          `${most} connections ${mode === 'longpoll' ? 'waiting' : 'open'} at once`,
        );
        await assertConnections(proxy, limit, mode);
        await assertNeverStopped(page);
        assert.deepEqual(errors, []);
      });

      test(`${label}: a dropped connection loses and repeats nothing`, {
        timeout: TEST_MS,
      }, async () => {
        const { daemon, proxy, page, errors, channels } = await setUp('b');
        const acceptedBefore = proxy.accepted;
        await publishRound(daemon, channels, 1, 3);
        // While those may still be on their way.
        await proxy.dropAll();
        await publishRound(daemon, channels, 4, 2 * N);
        await waitForUpdates(page, counts(channels, 2 * N), STEP_MS);
        await assertReceived(page, channels, (name) => updates(name, 1, 2 * N));
        assert.ok(proxy.accepted > acceptedBefore, 'the client did not reconnect');
        await waitForState(page, Object.keys(channels), 'open', STEP_MS, mode);
        await assertConnections(proxy, limit, mode);
        await assertNeverStopped(page);
        assert.deepEqual(errors, []);
      });

      test(`${label}: a channel added and one removed while updates flow`, {
        timeout: TEST_MS,
      }, async () => {
        const { daemon, proxy, page, errors, channels } = await setUp('c');
        const added = { ch9: `${channels.ch8}-added` };
        const { ch8: removedId, ...kept } = channels;
        // Buffered before the new channel is subscribed: a fresh subscription starts
        // at the oldest buffered message, so it must get these too.
        await publishRound(daemon, added, 1, 2);
        await publishRound(daemon, channels, 1, 2);
        const atUnsubscribe = await page.evaluate(
          ([spec]) => {
            const w = window as unknown as {
              pushserver: {
                updates: { subscribe(c: unknown): void; unsubscribe(name: string): boolean };
              };
              record: { updates: Record<string, unknown[]> };
            };
            w.pushserver.updates.subscribe({ ch9: spec });
            const removed = w.pushserver.updates.unsubscribe('ch8');
            return { removed, had: [...(w.record.updates.ch8 ?? [])] };
          },
          [descriptor(proxy.origin, added.ch9)] as const,
        );
        assert.equal(atUnsubscribe.removed, true, 'unsubscribe("ch8") returned false');
        await publishRound(daemon, { ...kept, ...added, ch8: removedId }, 3, N);
        await waitForUpdates(page, counts({ ...kept, ...added }, N), STEP_MS);
        await assertReceived(page, { ...kept, ...added }, (name) => updates(name, 1, N));
        const { updates: received } = await readRecord(page);
        assert.deepEqual(
          received.ch8 ?? [],
          atUnsubscribe.had,
          'ch8 got updates after unsubscribe',
        );
        assert.deepEqual(atUnsubscribe.had, updates('ch8', 1, atUnsubscribe.had.length));
        const state = await page.evaluate(() =>
          (
            window as unknown as { pushserver: { updates: { state(name: string): unknown } } }
          ).pushserver.updates.state('ch8'),
        );
        assert.ok(state === undefined || state === 'closed', `ch8 is ${String(state)}`);
        await waitForState(page, Object.keys({ ...kept, ...added }), 'open', STEP_MS, mode);
        await assertConnections(proxy, limit, mode);
        await assertNeverStopped(page);
        assert.deepEqual(errors, []);
      });
    }
  }

  for (const kind of DAEMON_KINDS) {
    test(`${kind}: three tabs of 8 channels and a plain fetch all proceed`, {
      timeout: TEST_MS,
    }, async () => {
      const daemon = await daemonOf(kind);
      const proxy = await proxyFor(daemon);
      // One context: the tabs share Chromium's socket pool and its 6 connections per host.
      const context = await shared.browser.newContext();
      later(() => context.close());
      const channels = channelIds(`${kind}-tabs`);
      const tabs: Page[] = [];
      for (let i = 0; i < 3; i++) {
        const { page } = await openClientPage({ context });
        await subscribe(page, proxy, channels);
        tabs.push(page);
      }
      for (const page of tabs) {
        await waitForState(page, Object.keys(channels), 'open', STEP_MS, 'eventsource');
      }
      // A request the daemon answers at once (channel info, 200 or 404), from a tab, to
      // the push origin: with 8 connections per tab it would wait for a free socket.
      const fetched = await tabs[0].evaluate(
        async ([url, ms]) => {
          const deadline = new Promise<string>((resolve) =>
            setTimeout(() => resolve('no answer'), ms),
          );
          const answer = fetch(url, { mode: 'no-cors', cache: 'no-store' }).then(
            (response) => `answered (${response.type})`,
            (error: Error) => `failed: ${error.message}`,
          );
          return Promise.race([answer, deadline]);
        },
        [`${proxy.origin}/publisher/${channels.ch1}`, 20_000] as const,
      );
      assert.equal(fetched, 'answered (opaque)');
      await publishRound(daemon, channels, 1, N);
      for (const page of tabs) {
        await waitForUpdates(page, counts(channels, N), STEP_MS);
        await assertReceived(page, channels, (name) => updates(name, 1, N));
      }
      // One stream per tab, and the fetch's socket.
      assert.ok(proxy.maxOpen <= 4, `${proxy.maxOpen} connections at once for 3 tabs and a fetch`);
    });
  }

  test('pushserver with Redis: killed and started again on another port', {
    timeout: TEST_MS,
    skip: needs(REDIS),
  }, async () => {
    const redis: Redis = await startRedis();
    later(() => redis.destroy());
    const daemon = await startMultiplexDaemon('pushserver', {
      allowOrigin: shared.pages.origin,
      store: { type: 'redis', url: redis.url, maxMessages: 100, messageTimeout: 120 },
    });
    later(() => daemon.stop());
    const proxy = await proxyFor(daemon);
    const { page, errors } = await openClientPage();
    const channels = channelIds('redis-restart');
    await subscribe(page, proxy, channels);
    await waitForState(page, Object.keys(channels), 'open', STEP_MS, 'eventsource');

    await publishRound(daemon, channels, 1, 3);
    // Mid-stream: some of those may not have reached the page.
    await daemon.replace();
    proxy.retarget(daemon.port);
    await publishRound(daemon, channels, 4, 2 * N);
    await waitForUpdates(page, counts(channels, 2 * N), STEP_MS);
    await assertReceived(page, channels, (name) => updates(name, 1, 2 * N));
    await waitForState(page, Object.keys(channels), 'open', STEP_MS, 'eventsource');
    await assertConnections(proxy, 1, 'eventsource');
    await assertNeverStopped(page);
    assert.deepEqual(errors, []);
  });

  test('nchan: nginx -s reload, then a stop and start on the same port', {
    timeout: TEST_MS,
  }, async () => {
    const daemon = await startMultiplexDaemon('nchan', { allowOrigin: shared.pages.origin });
    later(() => daemon.stop());
    const nchan = daemon.nchan!;
    const proxy = await proxyFor(daemon);
    const { page, errors } = await openClientPage();
    const channels = channelIds('nginx');
    await subscribe(page, proxy, channels);
    await waitForState(page, Object.keys(channels), 'open', STEP_MS, 'eventsource');

    // Nchan forgets its buffer on reload and restart: what was published before must
    // have arrived before either.
    await publishRound(daemon, channels, 1, 3);
    let lastPublish = Date.now();
    await waitForUpdates(page, counts(channels, 3), STEP_MS);

    await nchan.reload();
    await nextSecondAfter(lastPublish);
    await publishRound(daemon, channels, 4, 6);
    lastPublish = Date.now();
    await waitForUpdates(page, counts(channels, 6), STEP_MS);

    await nchan.restart();
    await nextSecondAfter(lastPublish);
    await publishRound(daemon, channels, 7, 9);
    await waitForUpdates(page, counts(channels, 9), STEP_MS);

    await assertReceived(page, channels, (name) => updates(name, 1, 9));
    await assertNeverStopped(page);
    await waitForState(page, Object.keys(channels), 'open', STEP_MS, 'eventsource');
    await assertConnections(proxy, 1, 'eventsource');
    assert.deepEqual(errors, []);
  });
});

/** `{name: n}` for every channel. */
function counts(channels: Channels, n: number): Record<string, number> {
  return Object.fromEntries(Object.keys(channels).map((name) => [name, n]));
}
