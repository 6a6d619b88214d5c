import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openPage, screenshot } from '../support/chromium.js';
import { CHROMIUM, NCHAN, needs } from '../support/system.js';
import { DAEMON_KINDS, startDaemon } from './support/daemons.js';
import { CLIENT_KINDS } from './support/pages.js';
import {
  expectedCalls,
  numbered,
  publishInBursts,
  range,
  readProbe,
  waitForReceived,
} from './support/probe.js';
import { sharedSetup } from './support/setup.js';

const JQUERY_VERSIONS = { jquery3: /^3\.7\./, jquery4: /^4\./, plain: null };

describe('browser client: 100 updates in bursts', { skip: needs(CHROMIUM, NCHAN) }, () => {
  const setup = sharedSetup();

  for (const kind of DAEMON_KINDS) {
    test(`${kind}: jQuery 3.7, jQuery 4 and plain pages each get every update once, in order, by type`, async (t) => {
      const daemon = await startDaemon(kind, { allowOrigin: setup.pages.origin });
      t.after(() => daemon.stop());
      const channelId = `bursts-${kind}`;
      const opened = await Promise.all(
        CLIENT_KINDS.map(async (client) => {
          const { context, page, log } = await openPage(setup.browser);
          t.after(() => context.close());
          const subscribed = page.waitForRequest(
            (request) => request.url() === daemon.subscriberUrl(channelId),
          );
          await page.goto(
            setup.pages.url({ client, channels: { main: channelId }, daemonPort: daemon.port }),
          );
          await subscribed;
          return { client, page, log };
        }),
      );

      const updates = range(1, 100).map((n) => numbered(n));
      await publishInBursts(daemon.publisher, channelId, updates);
      // A last update after the 100: any duplicate would arrive before it.
      const sentinel = numbered(101, 'tock');
      await daemon.publisher.sendUpdate(channelId, sentinel);

      for (const { client, page, log } of opened) {
        await waitForReceived(page, 101);
        const probe = await readProbe(page);
        assert.deepEqual(
          probe.received,
          range(1, 101),
          `${client}: updates in order, exactly once`,
        );
        assert.deepEqual(
          probe.calls,
          expectedCalls([...updates, sentinel]),
          `${client}: processors per type`,
        );
        assert.deepEqual(probe.states, ['connecting', 'open'], `${client}: state changes`);
        const jquery = JQUERY_VERSIONS[client];
        if (jquery) assert.match(probe.jquery ?? '', jquery);
        else assert.equal(probe.jquery, null);
        assert.equal(probe.sameApi, true, `${client}: $.updates is window.pushserver.updates`);
        // 50 ticks, each with one throwing processor: reported, and nothing else went wrong.
        assert.deepEqual(
          probe.errors,
          Array(50).fill({
            status: null,
            fatal: false,
            retryIn: null,
            message: 'deliberate processor failure',
          }),
        );
        assert.deepEqual(log.errors, Array(50).fill('deliberate processor failure'));
      }
      if (kind === 'pushserver') await screenshot(opened[0].page, 'delivery-jquery3');
    });
  }
});
