import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { openPage } from '../support/chromium.js';
import { CHROMIUM, NCHAN, needs } from '../support/system.js';
import { DAEMON_KINDS, startDaemon } from './support/daemons.js';
import { CLIENT_KINDS } from './support/pages.js';
import {
  expectedCalls,
  nextSecond,
  numbered,
  type ProbeState,
  publishInBursts,
  range,
  readProbe,
  waitForReceived,
} from './support/probe.js';
import { sharedSetup } from './support/setup.js';

// With retries after about 1 s and 2 s (each +-20%) and the third after about 4 s
// more, a 4.5 s outage sees two retries; a fixed 1 s delay would make four.
const OUTAGE_MS = 4500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function countRequests(page: Page, url: string): { count: number; stop(): void } {
  const counter = {
    count: 0,
    stop: () => page.off('request', listener),
  };
  // A stream resumes with ?last_event_id=: the same URL with a query.
  const listener = (request: { url(): string }) => {
    if (request.url().split('?')[0] === url) counter.count += 1;
  };
  page.on('request', listener);
  return counter;
}

describe('browser client: daemon killed and restarted', { skip: needs(CHROMIUM, NCHAN) }, () => {
  const setup = sharedSetup();

  for (const kind of DAEMON_KINDS) {
    test(`${kind}: pages back off while it is down and resume from their cursor`, async (t) => {
      const daemon = await startDaemon(kind, { allowOrigin: setup.pages.origin });
      t.after(() => daemon.stop());
      const channelId = `restart-${kind}`;
      const url = daemon.subscriberUrl(channelId);
      const opened = await Promise.all(
        CLIENT_KINDS.map(async (client) => {
          const { context, page } = await openPage(setup.browser);
          t.after(() => context.close());
          const subscribed = page.waitForRequest((request) => request.url() === url);
          await page.goto(
            setup.pages.url({ client, channels: { main: channelId }, daemonPort: daemon.port }),
          );
          await subscribed;
          return { client, page };
        }),
      );
      const updates = range(1, 50).map((n) => numbered(n));

      await publishInBursts(daemon.publisher, channelId, updates.slice(0, 20));
      for (const { page } of opened) await waitForReceived(page, 20);

      // First outage: count each page's requests while nothing listens.
      await daemon.kill();
      const counters = opened.map(({ page }) => countRequests(page, url));
      await sleep(OUTAGE_MS);
      for (const counter of counters) counter.stop();
      await daemon.restart();
      await publishInBursts(daemon.publisher, channelId, updates.slice(20, 40));
      for (const { page } of opened) await waitForReceived(page, 40);

      const errorsBefore: number[] = [];
      for (const [i, { client, page }] of opened.entries()) {
        // Timers fire late on a busy machine, never early: so at most two, and at least one.
        const { count } = counters[i];
        assert.ok(count >= 1 && count <= 2, `${client}: ${count} requests during the outage`);
        const errors = (await readProbe(page)).errors.filter((error) => error.retryIn !== null);
        errorsBefore.push(errors.length);
        // The poll cut by the kill and each retry failed (one more may have failed while
        // the daemon was still starting), with doubling delays.
        assert.ok(errors.length >= count + 1, `${client}: ${JSON.stringify(errors)}`);
        errors.forEach((error, n) => {
          assert.deepEqual([error.status, error.fatal], [0, false]);
          const [low, high] = [800 * 2 ** n, 1200 * 2 ** n];
          const delay = error.retryIn ?? -1;
          assert.ok(delay >= low && delay <= high, `${client}: retry ${n + 1} after ${delay} ms`);
        });
      }

      // Second outage, restarted at once: after a success the backoff starts over.
      await daemon.kill();
      for (const [i, { page }] of opened.entries()) {
        await page.waitForFunction(
          (before) =>
            (window as unknown as { probe: ProbeState }).probe.errors.filter(
              (error) => error.retryIn !== null,
            ).length > before,
          errorsBefore[i],
          { polling: 50 },
        );
      }
      await daemon.restart();
      await nextSecond();
      await publishInBursts(daemon.publisher, channelId, updates.slice(40));

      for (const [i, { client, page }] of opened.entries()) {
        await waitForReceived(page, 50);
        const probe = await readProbe(page);
        assert.deepEqual(probe.received, range(1, 50), `${client}: nothing missed, nothing twice`);
        assert.deepEqual(probe.calls, expectedCalls(updates), `${client}: processors`);
        const retries = probe.errors.filter((error) => error.retryIn !== null);
        const last = retries[errorsBefore[i]].retryIn ?? -1;
        assert.ok(last >= 800 && last <= 1200, `${client}: retry after recovery ${last} ms`);
        assert.deepEqual(probe.states.slice(0, 4), [
          'connecting',
          'open',
          'retrying',
          'connecting',
        ]);
        assert.equal(probe.states.at(-1), 'open');
      }
    });
  }
});
