import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { openPage } from '../support/chromium.js';
import { CHROMIUM, NCHAN, needs } from '../support/system.js';
import { waitUntil } from '../support/wait.js';
import { DAEMON_KINDS } from './support/daemons.js';
import { CLIENT_KINDS } from './support/pages.js';
import { type ProbeState, readProbe, waitForReceived } from './support/probe.js';
import { sharedSetup } from './support/setup.js';

// Every hostile piece from the helpers issue in one id: a script end tag, quotes and
// JavaScript punctuation, an HTML comment opener, U+2028, an emoji, an encoded slash.
const HOSTILE_ID = '</script><script>alert(1)</script>"\'`;=-<!--\u2028🎉%2F';

/** Record CSP violations and dialogs from the first moment of every document. */
async function watchPage(page: Page): Promise<{ dialogs: string[] }> {
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { cspViolations: string[] }).cspViolations = seen;
    document.addEventListener('securitypolicyviolation', (event) =>
      seen.push(`${event.violatedDirective} ${event.blockedURI}`),
    );
  });
  return { dialogs };
}

function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
}

describe('browser client: hostile ids, credentials, strict CSP', {
  skip: needs(CHROMIUM, NCHAN),
}, () => {
  const setup = sharedSetup({ daemons: true });

  for (const kind of DAEMON_KINDS) {
    test(`${kind}: a hostile channel id survives render, subscribe, publish and update`, async (t) => {
      const daemon = setup.daemons.get(kind)!;
      const { context, page, log } = await openPage(setup.browser);
      t.after(() => context.close());
      const { dialogs } = await watchPage(page);
      const url = daemon.subscriberUrl(HOSTILE_ID);
      const subscribed = page.waitForRequest((request) => request.url() === url);
      await page.goto(
        setup.pages.url({
          client: 'plain',
          channels: { main: HOSTILE_ID },
          daemonPort: daemon.port,
        }),
      );
      await subscribed;
      const result = await daemon.publisher.sendUpdate(HOSTILE_ID, {
        type: 'tock',
        n: 1,
        id: HOSTILE_ID,
      });
      assert.equal(result.ok, true);
      await waitForReceived(page, 1);
      assert.deepEqual((await readProbe(page)).calls, ['tock:1']);
      const shown = await page.locator('#updates li').allTextContents();
      assert.deepEqual(shown, [`main: ${JSON.stringify({ type: 'tock', n: 1, id: HOSTILE_ID })}`]);
      assert.deepEqual(dialogs, [], 'nothing the id carried executed');
      assert.deepEqual(log.errors, []);
      // The page's scripts: jQuery-less client, the inline subscribe call, the probe.
      assert.equal(await page.locator('script').count(), 3);
    });

    test(`${kind}: cross-origin page, credentials reach the daemon, CORS lets the update through`, async (t) => {
      const daemon = setup.daemons.get(kind)!;
      const { context, page } = await openPage(setup.browser);
      t.after(() => context.close());
      const channelId = `cookie-${kind}`;
      const cookie = `session=e2e-${kind}-${Date.now()}`;
      assert.notEqual(
        new URL(setup.pages.origin).port,
        String(daemon.port),
        'page and daemon on different origins',
      );
      await page.goto(
        setup.pages.url({
          client: 'jquery4',
          channels: { main: channelId },
          daemonPort: daemon.port,
          cookie,
        }),
      );
      await daemon.publisher.sendUpdate(channelId, { type: 'tock', n: 7 });
      await waitForReceived(page, 1);
      assert.deepEqual((await readProbe(page)).received, [7]);
      // nginx logs a request when it ends: close the page's stream.
      await context.close();
      await waitUntil(`${cookie} among the cookies the daemon saw`, () =>
        daemon.cookiesSeen().includes(cookie),
      );
    });

    test(`${kind}: a strict-CSP page in data mode subscribes with no inline script`, async (t) => {
      const daemon = setup.daemons.get(kind)!;
      const channelId = `csp-${kind}`;
      const opened = await Promise.all(
        CLIENT_KINDS.map(async (client) => {
          const { context, page, log } = await openPage(setup.browser);
          t.after(() => context.close());
          await watchPage(page);
          const spec = { client, mode: 'data' as const, strictCsp: true, daemonPort: daemon.port };
          // Published once every page polls: on a loaded machine a page can take longer
          // to start than the messages' 10 s timeout.
          const subscriber = daemon.subscriberUrl(channelId);
          const subscribed = page.waitForRequest((request) => request.url() === subscriber);
          await page.goto(setup.pages.url({ ...spec, channels: { main: channelId } }));
          await subscribed;
          return { client, page, log };
        }),
      );
      await daemon.publisher.sendUpdate(channelId, { type: 'tick', n: 1 });
      await daemon.publisher.sendUpdate(channelId, { type: 'tock', n: 2 });
      for (const { client, page } of opened) {
        await waitForReceived(page, 2);
        const probe = await readProbe(page);
        assert.deepEqual(probe.calls, ['tick-1:1', 'tick-2:1', 'tock:2'], client);
        assert.deepEqual(await cspViolations(page), [], `${client}: no CSP violation`);
        assert.equal(
          await page.locator('script:not([src]):not([type="application/json"])').count(),
          0,
        );
      }

      // Control: the same policy blocks the inline mode, so the policy is really enforced.
      const { context, page } = await openPage(setup.browser);
      t.after(() => context.close());
      await watchPage(page);
      const spec = { client: 'plain' as const, strictCsp: true, daemonPort: daemon.port };
      await page.goto(setup.pages.url({ ...spec, channels: { main: channelId } }));
      assert.deepEqual(await cspViolations(page), ['script-src-elem inline']);
      assert.equal((await readProbe(page)).states[0], undefined, 'never subscribed');

      // Inline mode with the helpers' nonce is allowed by a policy naming that nonce.
      const withNonce = await openPage(setup.browser);
      t.after(() => withNonce.context.close());
      await watchPage(withNonce.page);
      await withNonce.page.goto(
        setup.pages.url({ ...spec, nonce: 'r4nd0mN0nce', channels: { main: channelId } }),
      );
      await waitForReceived(withNonce.page, 2);
      assert.deepEqual(await cspViolations(withNonce.page), []);
      assert.deepEqual((await readProbe(withNonce.page)).received, [1, 2]);
    });
  }

  test('a CSP without the daemon in connect-src: the client says so once and stops', async (t) => {
    const daemon = setup.daemons.get('pushserver')!;
    const { context, page, log } = await openPage(setup.browser);
    t.after(() => context.close());
    await watchPage(page);
    // Every request the client starts (an EventSource, a long-poll), whether or not the
    // browser lets it out.
    await page.addInitScript(() => {
      const polls: string[] = [];
      (window as unknown as { polls: string[] }).polls = polls;
      const fetch = window.fetch;
      window.fetch = (input, init) => {
        polls.push(String(input));
        return fetch(input, init);
      };
      const NativeEventSource = window.EventSource;
      window.EventSource = class extends NativeEventSource {
        constructor(url: string | URL, init?: EventSourceInit) {
          polls.push(String(url));
          super(url, init);
        }
      };
    });
    const url = daemon.subscriberUrl('csp-connect-src');
    await page.goto(
      setup.pages.url({
        client: 'plain',
        channels: { main: 'csp-connect-src' },
        daemonPort: daemon.port,
        strictCsp: true,
        defaultSrcSelf: true,
        nonce: randomBytes(16).toString('base64'),
      }),
    );
    await page.waitForFunction(
      () => (window as unknown as { probe: ProbeState }).probe.errors.some((error) => error.fatal),
      undefined,
      { timeout: 10_000, polling: 50 },
    );
    // Longer than the first two retries (1 s, then 2 s) a network error would get.
    await new Promise((resolve) => setTimeout(resolve, 3500));

    const probe = await readProbe(page);
    const fatal = probe.errors.filter((error) => error.fatal);
    assert.equal(fatal.length, 1);
    assert.equal(fatal[0].status, 0);
    assert.equal(fatal[0].retryIn, null);
    assert.match(fatal[0].message, /Content-Security-Policy blocks .* \(connect-src\)/);
    assert.ok(fatal[0].message.includes(`connect-src 'self' http://127.0.0.1:${daemon.port}`));
    assert.equal(probe.states.at(-1), 'failed');
    const polls = await page.evaluate(() => (window as unknown as { polls: string[] }).polls);
    assert.ok(polls.length <= 2, `polls: ${JSON.stringify(polls)}`);
    assert.deepEqual(new Set(polls), new Set([url]));
    assert.deepEqual(
      await cspViolations(page),
      polls.map((poll) => `connect-src ${poll}`),
    );
    assert.ok(
      log.console.some((line) => line.startsWith('error: pushserver:') && /connect-src/.test(line)),
      JSON.stringify(log.console),
    );
  });
});
