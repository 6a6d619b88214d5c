import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after as afterAll, afterEach, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type PresenceEvent, trackPresence } from '../../src/presence.ts';
import { createAllRequestsServer } from '../../src/server/cli/allrequests.ts';
import { launchChromium, openPage } from '../support/chromium.ts';
import { startNchan } from '../support/nchan.ts';
import {
  listen,
  nchanConfigWithStableId,
  recordSignals,
  sessionApp,
} from '../support/passthrough.ts';
import { freePort } from '../support/ports.ts';
import { CHROMIUM, NCHAN, needs } from '../support/system.ts';

const CLIENT = readFileSync(new URL('../../static/pushserver/updates.js', import.meta.url));
// Form metacharacters and unicode: the id must survive URL, daemon, form body and receiver.
const CHANNEL = 'lobby & café+1';
const GRACE_MS = 1500;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let browser: Browser;
before(async () => {
  if (!needs(CHROMIUM)) browser = await launchChromium();
});
afterAll(() => browser?.close());

describe('passthrough end to end in Chromium', { skip: needs(CHROMIUM) }, () => {
  test('login, subscribe through this daemon (--allrequests), signals and presence', async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const presenceEvents: Array<[string, PresenceEvent, number]> = [];
    const presence = trackPresence<{ session?: { user?: string } }>({
      identify: (req) => req.session?.user,
      graceMs: GRACE_MS,
      onJoin: (e) => presenceEvents.push(['join', e, Date.now()]),
      onLeave: (e) => presenceEvents.push(['leave', e, Date.now()]),
    });
    cleanups.push(() => presence.stop());

    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    const app = sessionApp((app) => {
      app.get('/static/pushserver/updates.js', (_req, res) => {
        res.type('text/javascript').send(CLIENT);
      });
      app.get('/room', (_req, res) => {
        res.type('html').send(`<!doctype html><meta charset="utf-8"><title>room</title>
<script src="/static/pushserver/updates.js"></script>
<script>
  window.received = [];
  // Long-poll: each poll is a subscription of its own, the case presence must not flap on.
  pushserver.updates.configure({ transport: 'longpoll' });
  pushserver.updates.registerProcessor('main', 'message', (data) => window.received.push(data.text));
  pushserver.updates.subscribe({ main: ${JSON.stringify(`/subscriber/${encodeURIComponent(CHANNEL)}`)} });
</script>`);
      });
    });
    const one = createAllRequestsServer({
      app,
      settings: {
        port,
        locations: [
          { type: 'publisher', prefix: '/publisher/' },
          { type: 'subscriber', prefix: '/subscriber/', passthrough: `${origin}/passthrough` },
        ],
      },
    });
    await one.listen(port, '127.0.0.1');
    cleanups.push(() => {
      one.server?.closeAllConnections();
      return one.close();
    });

    const { context, page, log } = await openPage(browser);
    cleanups.push(() => context.close());
    await page.goto(`${origin}/login?user=alice`);
    assert.equal(await page.textContent('body'), 'logged in as alice');
    await page.goto(`${origin}/room`);

    const [subscribed] = await signals.until(1);
    assert.deepEqual(subscribed, { event: 'subscribe', channelId: CHANNEL, user: 'alice' });
    assert.deepEqual(
      presenceEvents.map(([kind, e]) => [kind, e]),
      [['join', { channelId: CHANNEL, user: 'alice' }]],
    );

    const published = await fetch(`${origin}/publisher/${encodeURIComponent(CHANNEL)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'message', text: 'hello alice' }),
    });
    assert.equal(published.status, 201);
    await page.waitForFunction(
      () => (window as unknown as { received: string[] }).received.length === 1,
    );
    assert.deepEqual(
      await page.evaluate(() => (window as unknown as { received: string[] }).received),
      ['hello alice'],
    );
    // The delivered poll ends (unsubscribe) and the client polls again (subscribe).
    await signals.until(3);
    assert.deepEqual(
      signals.seen.map((s) => `${s.event} ${s.user} ${s.channelId}`),
      [`subscribe alice ${CHANNEL}`, `unsubscribe alice ${CHANNEL}`, `subscribe alice ${CHANNEL}`],
    );
    assert.equal(presenceEvents.length, 1, 'no leave / join flap on a re-poll');
    assert.deepEqual(presence.present(CHANNEL), ['alice']);

    await page.close();
    await signals.until(4);
    // The recorder listens before the tracker, so its time is no later than the grace timer's start.
    const goneAt = signals.times[3];
    assert.equal(signals.seen[3].event, 'unsubscribe');
    assert.deepEqual(presence.present(CHANNEL), ['alice'], 'still present inside the grace period');
    const left = await new Promise<[string, PresenceEvent, number]>((resolve) => {
      presence.on('leave', (e) => resolve(['leave', e, Date.now()]));
    });
    assert.deepEqual(left[1], { channelId: CHANNEL, user: 'alice' });
    // setTimeout never fires early; 20 ms allows for clock granularity between the two Date.now().
    assert.ok(left[2] - goneAt >= GRACE_MS - 20, `left after ${left[2] - goneAt} ms`);
    assert.deepEqual(
      presenceEvents.map(([kind]) => kind),
      ['join', 'leave'],
    );
    assert.deepEqual(presence.present(CHANNEL), []);
    assert.deepEqual(log.errors, []);
  });
});

describe('passthrough from real Nchan (EventSource)', { skip: needs(CHROMIUM, NCHAN) }, () => {
  test("Chromium's EventSource with the session cookie reaches the app's signal with the user", async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    // The app listens first (on a port the system picks): Nchan's config names its port.
    let subscriberUrl = '';
    const app = await listen(
      sessionApp((app) => {
        app.get('/live', (_req, res) => {
          res.type('html').send(`<!doctype html><meta charset="utf-8"><title>live</title>
<script>
  window.received = [];
  const source = new EventSource(${JSON.stringify(subscriberUrl)}, { withCredentials: true });
  source.onmessage = (event) => window.received.push(event.data);
</script>`);
        });
      }),
    );
    const appOrigin = `http://127.0.0.1:${app.port}`;
    const nchan = await startNchan({
      passthroughPort: app.port,
      allowOrigin: appOrigin,
      config: nchanConfigWithStableId(),
    });
    cleanups.push(() => nchan.stop());
    subscriberUrl = `${nchan.origin}/subscriber/${encodeURIComponent(CHANNEL)}`;
    cleanups.push(() => app.stop());

    const { context, page, log } = await openPage(browser);
    cleanups.push(() => context.close());
    await page.goto(`${appOrigin}/login?user=bob`);
    await page.goto(`${appOrigin}/live`);
    const [subscribed] = await signals.until(1);
    // Cookies are per host, not per port: Chromium sent the app's session cookie to Nchan.
    assert.deepEqual(subscribed, { event: 'subscribe', channelId: CHANNEL, user: 'bob' });
    // Nchan sends no unsubscribe for a client that leaves before the app answered the hook.
    await signals.answered[0];

    const published = await fetch(`${nchan.origin}/publisher/${encodeURIComponent(CHANNEL)}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'to bob',
    });
    assert.equal(published.status, 201);
    await page.waitForFunction(
      () => (window as unknown as { received: string[] }).received.length === 1,
    );
    assert.equal(signals.seen.length, 1, 'an EventSource stays subscribed across messages');

    await page.close();
    await signals.until(2);
    assert.deepEqual(signals.seen[1], { event: 'unsubscribe', channelId: CHANNEL, user: 'bob' });
    assert.deepEqual(log.errors, []);
  });
});
