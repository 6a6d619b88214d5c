// The browser client against real nginx + Nchan running the config `runpushserver
// nginx-config` generates from the default settings: a page subscribes to two channels
// (one streaming connection on the multiplexed /multi/) and gets every update once, in order.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { channelUrl } from '../../src/channel/urls.js';
import { createPublisher } from '../../src/publish/index.js';
import { openPage } from '../support/chromium.js';
import { startGeneratedNchan } from '../support/generated-nchan.js';
import { CHROMIUM, NCHAN, needs } from '../support/system.js';
import { numbered, publishInBursts, range, readProbe, waitForReceived } from './support/probe.js';
import { sharedSetup } from './support/setup.js';

describe('browser client on the generated nginx config', { skip: needs(CHROMIUM, NCHAN) }, () => {
  const setup = sharedSetup();

  test('defaults: 40 updates on one channel, in order, exactly once, by type', async (t) => {
    const { nchan, settings } = await startGeneratedNchan({});
    t.after(() => nchan.stop());
    const publisher = createPublisher(settings);
    t.after(() => publisher.close());
    const { context, page } = await openPage(setup.browser);
    t.after(() => context.close());
    const channelId = 'generated-config';
    const subscribed = page.waitForRequest((r) => r.url().startsWith(`${nchan.origin}/`));
    await page.goto(
      setup.pages.url({ client: 'plain', channels: { main: channelId }, daemonPort: nchan.port }),
    );
    await subscribed;
    assert.ok(channelUrl(channelId, settings).startsWith(nchan.origin));
    const updates = range(1, 40).map((n) => numbered(n));
    await publishInBursts(publisher, channelId, updates);
    await waitForReceived(page, 40);
    const probe = await readProbe(page);
    assert.deepEqual(probe.received, range(1, 40));
    assert.deepEqual(probe.states, ['connecting', 'open']);
  });
});
