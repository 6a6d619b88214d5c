import assert from 'node:assert/strict';
import { register } from 'node:module';
import { after, before, describe, test } from 'node:test';
import type { Express } from 'express';
import type { Browser, Page } from 'playwright-core';
import { configure, resetSettings } from '../../src/settings/index.js';
import { launchChromium, openPage, screenshot } from '../support/chromium.js';
import { CHROMIUM, NCHAN, needs } from '../support/system.js';
import { closeServer, listenApp, originOf } from './support/apps.js';
import { DAEMON_KINDS, startDaemon } from './support/daemons.js';
import { publishInBursts, range } from './support/probe.js';

// `pushserver/*` in the examples resolves to src/, the code under test.
register('./support/source-exports.mjs', import.meta.url);

type ExampleModule = { createApp(options: { jquery: 3 | 4 | null }): Express };
const ENGINES = ['nunjucks', 'handlebars', 'eta'] as const;
// Each engine with a different jQuery per daemon, so both daemons see every engine and
// every jQuery (delivery.test.ts covers each jQuery against each daemon on its own).
const VARIANTS = {
  pushserver: [
    { engine: 'nunjucks', jquery: 3 },
    { engine: 'handlebars', jquery: 4 },
    { engine: 'eta', jquery: null },
  ],
  nchan: [
    { engine: 'nunjucks', jquery: 4 },
    { engine: 'handlebars', jquery: null },
    { engine: 'eta', jquery: 3 },
  ],
} as const;
const ROOM = 'lobby';

const loadExample = (engine: string) =>
  import(
    new URL(`../../examples/${engine}/app.mjs`, import.meta.url).href
  ) as Promise<ExampleModule>;

/** What the page showed and did, read from the DOM and an init-script listener. */
async function readExamplePage(page: Page) {
  return page.evaluate(() => ({
    seen: (window as unknown as { seen: unknown[] }).seen,
    messages: Array.from(document.querySelectorAll('#messages li'), (item) => item.textContent),
    state: document.getElementById('state')?.textContent,
    jquery:
      (window as unknown as { jQuery?: { fn: { jquery: string } } }).jQuery?.fn.jquery ?? null,
    csp: (window as unknown as { cspViolations: string[] }).cspViolations,
  }));
}

/** Before any page script: record every update's `n` (or text) and CSP violations. */
function recordUpdates(): void {
  const w = window as unknown as { seen: unknown[]; cspViolations: string[] };
  w.seen = [];
  w.cspViolations = [];
  document.addEventListener('securitypolicyviolation', (event) =>
    w.cspViolations.push(event.violatedDirective),
  );
  document.addEventListener('DOMContentLoaded', () => {
    const updates = (
      window as unknown as {
        pushserver: { updates: { on(type: string, listener: (update: never) => void): void } };
      }
    ).pushserver.updates;
    updates.on('update', (update: { data: { n?: number; text?: string } }) =>
      w.seen.push(update.data.n ?? update.data.text),
    );
  });
}

describe('example apps in Chromium', { skip: needs(CHROMIUM, NCHAN) }, () => {
  let browser: Browser;
  const examples = new Map<string, ExampleModule>();
  before(async () => {
    browser = await launchChromium();
    for (const engine of ENGINES) examples.set(engine, await loadExample(engine));
  });
  after(async () => {
    await browser?.close();
    resetSettings();
  });

  for (const kind of DAEMON_KINDS) {
    test(`${kind}: the nunjucks, handlebars and eta example pages get 100 updates and the button's`, async (t) => {
      // Three apps on three origins: let Nchan echo any Origin, as this daemon does.
      const daemon = await startDaemon(kind, { allowOrigin: '$http_origin' });
      t.after(() => daemon.stop());
      configure({ port: daemon.port });

      const opened = await Promise.all(
        VARIANTS[kind].map(async ({ engine, jquery }) => {
          const server = await listenApp(examples.get(engine)!.createApp({ jquery }));
          t.after(() => closeServer(server));
          const { context, page, log } = await openPage(browser);
          t.after(() => context.close());
          await page.addInitScript(recordUpdates);
          await page.goto(`${originOf(server)}/`);
          // The page's channels (the room and its notes) are on one connection once it opens.
          await page.locator('#state[data-state="open"]').waitFor();
          return { name: `${engine} with jQuery ${jquery ?? 'none'}`, page, log };
        }),
      );

      // 100 updates, number 50 of type "clear": the list empties once, then fills again.
      const updates = range(1, 100).map((n) =>
        n === 50 ? { type: 'clear', n } : { type: 'message', text: `update ${n}`, n },
      );
      await publishInBursts(daemon.publisher, ROOM, updates);
      // The first page's button: POST /send -> sendUpdate -> every page.
      await opened[0].page.getByRole('button', { name: 'Send an update' }).click();
      const button = 'Hello from nunjucks';

      for (const { name, page, log } of opened) {
        await page.waitForFunction(
          () => (window as unknown as { seen: unknown[] }).seen.length >= 101,
        );
        const shown = await readExamplePage(page);
        assert.deepEqual(
          shown.seen,
          [...range(1, 100), button],
          `${name}: every update once, in order`,
        );
        assert.deepEqual(
          shown.messages,
          [...range(51, 100).map((n) => `update ${n}`), button],
          `${name}: "message" appends, "clear" empties`,
        );
        assert.equal(shown.state, 'open (eventsource)', name);
        assert.deepEqual(shown.csp, [], name);
        assert.deepEqual(log.errors, [], name);
        const jquery = name.endsWith('3') ? /^3\.7\./ : name.endsWith('4') ? /^4\./ : null;
        if (jquery) assert.match(shown.jquery ?? '', jquery, name);
        else assert.equal(shown.jquery, null, name);
      }
      if (kind === 'pushserver') await screenshot(opened[0].page, 'example-nunjucks');
    });
  }
});
