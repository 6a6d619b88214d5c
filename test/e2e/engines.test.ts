import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Eta } from 'eta';
import express, { type Express } from 'express';
import Handlebars from 'handlebars';
import nunjucks from 'nunjucks';
import type { Browser } from 'playwright-core';
import { etaEngine } from '../../src/eta/index.js';
import pushserver from '../../src/express/index.js';
import { registerHelpers } from '../../src/handlebars/index.js';
import { install } from '../../src/nunjucks/index.js';
import { configure, resetSettings } from '../../src/settings/index.js';
import { launchChromium, openPage } from '../support/chromium.js';
import { CHROMIUM, needs } from '../support/system.js';
import { closeServer, listenApp } from './support/apps.js';
import { type Daemon, startDaemon } from './support/daemons.js';

const VIEWS = join(import.meta.dirname, 'fixtures', 'views');
const ENGINES = ['nunjucks', 'handlebars', 'eta'] as const;
type Engine = (typeof ENGINES)[number];
const EXTENSIONS: Record<Engine, string> = { nunjucks: 'njk', handlebars: 'hbs', eta: 'eta' };

/**
 * A user's own app with every default: `pushserver()` with no options, the engine's
 * helpers with no options, a page with no jQuery (fixtures/views/page.*) and a script of
 * its own. Each response gets a fresh nonce and a CSP that allows only it inline.
 */
function engineApp(engine: Engine): Express {
  const app = express();
  app.use(pushserver());
  app.use((_req, res, next) => {
    const nonce = randomBytes(16).toString('base64');
    res.locals.cspNonce = nonce;
    res.set('Content-Security-Policy', `script-src 'self' 'nonce-${nonce}'`);
    next();
  });
  if (engine === 'nunjucks') {
    install(new nunjucks.Environment(new nunjucks.FileSystemLoader(VIEWS))).express(app);
  } else if (engine === 'handlebars') {
    const handlebars = registerHelpers(Handlebars.create());
    app.engine('hbs', (path, data, callback) => {
      callback(null, handlebars.compile(readFileSync(path, 'utf8'))(data));
    });
  } else {
    app.engine('eta', etaEngine(new Eta({ views: VIEWS })));
  }
  app.set('views', VIEWS);
  app.get('/messages.js', (_req, res) => res.sendFile(join(VIEWS, 'messages.js')));
  app.get('/', (_req, res) =>
    res.render(`page.${EXTENSIONS[engine]}`, { room: `no-jquery-${engine}` }),
  );
  return app;
}

describe('each engine with every default, on a page without jQuery', {
  skip: needs(CHROMIUM),
}, () => {
  let browser: Browser;
  let daemon: Daemon;
  before(async () => {
    browser = await launchChromium();
    daemon = await startDaemon('pushserver', { allowOrigin: '*' });
    configure({ port: daemon.port });
  });
  after(async () => {
    await browser?.close();
    await daemon?.stop();
    resetSettings();
  });

  for (const engine of ENGINES) {
    test(`${engine}: the rendered subscription works and a published message shows`, async (t) => {
      const server = await listenApp(engineApp(engine));
      t.after(() => closeServer(server));
      const { context, page, log } = await openPage(browser);
      t.after(() => context.close());
      await page.addInitScript(() => {
        const violations: string[] = [];
        (window as unknown as { cspViolations: string[] }).cspViolations = violations;
        document.addEventListener('securitypolicyviolation', (event) =>
          violations.push(event.violatedDirective),
        );
      });
      const channelId = `no-jquery-${engine}`;
      const subscribed = page.waitForRequest(daemon.subscriberUrl(channelId), { timeout: 10_000 });
      await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
      await subscribed.catch((error) => {
        throw new Error(`the page never subscribed; its errors: ${JSON.stringify(log.errors)}`, {
          cause: error,
        });
      });

      const text = `hello from ${engine}`;
      assert.equal(
        (await daemon.publisher.sendUpdate(channelId, { type: 'message', text })).ok,
        true,
      );
      await page.locator('#messages li').first().waitFor({ timeout: 10_000 });

      assert.deepEqual(await page.locator('#messages li').allTextContents(), [text]);
      assert.equal(await page.evaluate(() => 'jQuery' in window || '$' in window), false);
      assert.deepEqual(
        await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations),
        [],
      );
      assert.deepEqual(log.errors, []);
    });
  }
});
