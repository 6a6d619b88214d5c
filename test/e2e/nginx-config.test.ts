// The browser client against real nginx + Nchan running the config `runpushserver
// nginx-config` generates, with messages in Nchan's memory and in Redis: a page's two
// channels arrive on one connection to the multiplexed /multi/, every update once and
// in order.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createPublisher } from '../../src/publish/index.js';
import type { PushServerSettings } from '../../src/settings/index.js';
import { openPage } from '../support/chromium.js';
import { startGeneratedNchan } from '../support/generated-nchan.js';
import { startRedis } from '../support/redis.js';
import { CHROMIUM, NCHAN, needs, REDIS } from '../support/system.js';
import { waitUntil } from '../support/wait.js';
import { numbered, publishInBursts, range, readProbe, waitForReceived } from './support/probe.js';
import { sharedSetup } from './support/setup.js';

describe('browser client on the generated nginx config', { skip: needs(CHROMIUM, NCHAN) }, () => {
  const setup = sharedSetup();

  const variants: Array<{
    name: string;
    skip: string | false;
    settings: () => Promise<{ settings: PushServerSettings; stop: () => Promise<void> }>;
  }> = [
    {
      name: 'defaults',
      skip: false,
      settings: async () => ({ settings: {}, stop: async () => {} }),
    },
    {
      name: 'a Redis store',
      skip: needs(REDIS),
      settings: async () => {
        const redis = await startRedis();
        return {
          settings: { store: { type: 'redis', url: redis.url, maxMessages: 100 } },
          stop: () => redis.destroy(),
        };
      },
    },
  ];

  for (const variant of variants) {
    test(`${variant.name}: two channels on one /multi/ connection, every update once, in order`, {
      skip: variant.skip,
    }, async (t) => {
      const { settings, stop } = await variant.settings();
      t.after(stop);
      const { nchan, settings: resolved } = await startGeneratedNchan(settings);
      t.after(() => nchan.stop());
      const publisher = createPublisher(resolved);
      t.after(() => publisher.close());
      // Nchan answers 503 until it has connected to Redis.
      await waitUntil('Nchan to take a publish', () =>
        publisher.sendUpdate('warm-up', { type: 'none' }).then(
          () => true,
          () => false,
        ),
      );
      const { context, page } = await openPage(setup.browser);
      t.after(() => context.close());
      const paths: string[] = [];
      page.on('request', (request) => {
        if (request.url().startsWith(`${nchan.origin}/`))
          paths.push(new URL(request.url()).pathname);
      });
      const subscribed = page.waitForRequest((r) => r.url().startsWith(`${nchan.origin}/multi/`));
      await page.goto(
        setup.pages.url({
          client: 'plain',
          channels: { main: 'generated-main', other: 'generated-other' },
          daemonPort: nchan.port,
        }),
      );
      await subscribed;
      const updates = range(1, 30).map((n) => numbered(n));
      await publishInBursts(publisher, 'generated-main', updates);
      for (const n of [101, 103, 105]) await publisher.sendUpdate('generated-other', numbered(n));
      await waitForReceived(page, 33);
      const probe = await readProbe(page);
      assert.deepEqual(
        probe.received.filter((n) => n <= 30),
        range(1, 30),
      );
      assert.deepEqual(
        probe.calls.filter((call) => call.startsWith('other:')),
        ['other:101', 'other:103', 'other:105'],
      );
      assert.equal(probe.received.length, 33);
      assert.ok(
        paths.every((path) => path === '/multi/generated-main,generated-other'),
        `one multiplexed location: ${paths.join(' ')}`,
      );
      assert.deepEqual(probe.states, ['connecting', 'open']);
    });
  }
});
