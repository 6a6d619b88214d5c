// Private channels in Chromium (issue 18): a logged-in user's page receives their private
// channel (signed, and authorized by the app from the session cookie the browser sends
// to the daemon); a second browser context without the session, given the very same
// channel spec (the signed URL included), is refused and receives nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import session from 'express-session';
import type { Browser } from 'playwright-core';
import { authorize } from '../../src/express/authorize.ts';
import { pushserver } from '../../src/express/index.ts';
import { createPushServer, type PushServer } from '../../src/server/daemon.ts';
import { resolveSettings } from '../../src/settings/index.ts';
import { subscriptionSnippet } from '../../src/snippet.ts';
import { launchChromium, openPage } from '../support/chromium.ts';
import { listen } from '../support/passthrough.ts';
import { freePort } from '../support/ports.ts';
import { CHROMIUM, needs } from '../support/system.ts';
import { waitUntil } from '../support/wait.ts';

declare module 'express-session' {
  interface SessionData {
    user: string;
  }
}

const SECRET = 'chromium-e2e-secret-0123456789abcdefghijkl';

/** What a page saw: each update's data, each error's status. */
interface Seen {
  updates: string[];
  errors: Array<number | null>;
}

const RECORDER = `<script>
  window.seen = { updates: [], errors: [] };
  pushserver.updates.on('update', (e) => seen.updates.push(JSON.stringify(e.data)));
  pushserver.updates.on('error', (e) => seen.errors.push(e.status));
</script>`;

describe('private channels in Chromium', { skip: needs(CHROMIUM) }, () => {
  let browser: Browser;
  let push: PushServer;
  let app: Awaited<ReturnType<typeof listen>>;
  let appOrigin = '';
  let daemonOrigin = '';
  const authorized: string[] = [];

  before(async () => {
    const daemonPort = await freePort();
    const appPort = await freePort();
    appOrigin = `http://127.0.0.1:${appPort}`;
    daemonOrigin = `http://127.0.0.1:${daemonPort}`;
    const common = { signed: true, authorize: `${appOrigin}/push/authorize` } as const;
    const settings = resolveSettings({
      port: daemonPort,
      secret: SECRET,
      locations: [
        { type: 'publisher', prefix: '/publisher/' },
        { type: 'subscriber', prefix: '/private/', ...common },
        { type: 'subscriber', prefix: '/private-multi/', splitDelimiter: ',', ...common },
      ],
    });
    const web = express();
    web.use(session({ secret: 'e2e', resave: false, saveUninitialized: false }));
    web.use(pushserver({ settings }));
    web.get('/login', (req, res) => {
      req.session.user = String(req.query.user);
      res.type('text/plain').send('ok');
    });
    web.use(
      '/push/authorize',
      authorize<express.Request>(
        (req, channel) => {
          authorized.push(`${req.session.user ?? 'anonymous'} ${channel}`);
          return channel === `user-${req.session.user}`;
        },
        { settings },
      ),
    );
    // The user's page: their private channel, signed for 10 minutes.
    web.get('/inbox', (req, res) => {
      const snippet = subscriptionSnippet(
        { inbox: `user-${req.session.user}` },
        { settings, signed: { expiresIn: 600 } },
      );
      res.type('html').send(`<!doctype html><title>inbox</title>${snippet}${RECORDER}`);
    });
    // A page with the client and nothing subscribed: the test gives it a channel spec.
    web.get('/blank', (_req, res) => {
      res
        .type('html')
        .send(
          `<!doctype html><title>blank</title><script src="/static/pushserver/updates.js"></script>${RECORDER}`,
        );
    });
    app = await listen(web, appPort);
    push = createPushServer(settings);
    await push.listen(daemonPort, '127.0.0.1');
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await push?.close();
    await app?.stop();
  });

  test("the logged-in user's page receives; another context with the same URL does not", async () => {
    const alice = await openPage(browser);
    const stranger = await openPage(browser);
    try {
      await alice.page.goto(`${appOrigin}/login?user=alice`);
      await alice.page.goto(`${appOrigin}/inbox`);
      const spec = await alice.page.evaluate(() => {
        const text = document.scripts[1].textContent ?? '';
        return JSON.parse(text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'))).inbox;
      });
      assert.match(spec.url, /\/private\/user-alice\?exp=\d+&sig=/);
      assert.match(spec.multiplex.suffix, /^\?exp=\d+&sig=/);
      await waitUntil('alice to be let in', () => authorized.includes('alice user-alice'));
      await waitUntil('the daemon to count her subscription', () => push.waiting() > 0);

      await stranger.page.goto(`${appOrigin}/blank`);
      await stranger.page.evaluate(
        (inbox) =>
          (
            window as unknown as { pushserver: { updates: { subscribe(c: object): void } } }
          ).pushserver.updates.subscribe({ inbox }),
        spec,
      );
      // The stranger's client is refused (403) by the app's answer, through the daemon.
      await waitUntil('the stranger to be refused', async () =>
        (await readSeen(stranger.page)).errors.includes(403),
      );
      assert.ok(authorized.includes('anonymous user-alice'));

      const published = await fetch(`${daemonOrigin}/publisher/user-alice`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ type: 'mail', subject: 'for alice only' }),
      });
      assert.equal(published.status, 201);
      await waitUntil(
        'alice to receive her update',
        async () => (await readSeen(alice.page)).updates.length > 0,
      );
      assert.deepEqual((await readSeen(alice.page)).updates, [
        JSON.stringify({ type: 'mail', subject: 'for alice only' }),
      ]);
      assert.deepEqual((await readSeen(stranger.page)).updates, []);
      // One subscriber on her channel: alice's.
      const info = await fetch(`${daemonOrigin}/publisher/user-alice`, {
        headers: { Accept: 'text/json' },
      });
      assert.equal((await info.json()).subscribers, 1);
    } finally {
      await alice.context.close();
      await stranger.context.close();
    }
  });
});

function readSeen(page: import('playwright-core').Page): Promise<Seen> {
  return page.evaluate(() => (window as unknown as { seen: Seen }).seen);
}
