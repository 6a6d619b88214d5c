import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { type Child, spawnChild } from '../support/child.js';
import { launchChromium, openPage } from '../support/chromium.js';
import { freePort } from '../support/ports.js';
import { CHROMIUM, needs } from '../support/system.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// The README's quick start: `npm start`, open the URL, watch an update arrive. Ports and
// settings come from PORT and PUSHSERVER_CONFIG so the test does not need 8000/8001.
describe('npm start', { skip: needs(CHROMIUM) }, () => {
  let browser: Browser;
  let dir: string;
  before(async () => {
    browser = await launchChromium();
    dir = mkdtempSync(join(tmpdir(), 'pushserver-start-'));
  });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('starts the daemon and the nunjucks example, shows a published update, stops both on SIGINT', async (t) => {
    // Both ports come from the settings and PORT, before either process binds: free
    // ports, tried again when another process takes one first.
    let daemonPort = 0;
    let appPort = 0;
    let env: NodeJS.ProcessEnv = {};
    let start: Child | undefined;
    let line = '';
    for (let tries = 1; !start; tries++) {
      [daemonPort, appPort] = [await freePort(), await freePort()];
      const config = join(dir, 'pushserver.config.json');
      writeFileSync(config, JSON.stringify({ port: daemonPort }));
      env = { ...process.env, PUSHSERVER_CONFIG: config, PORT: String(appPort) };
      const started = spawnChild(process.execPath, ['scripts/start.mjs'], { cwd: ROOT, env });
      t.after(() => started.stop('SIGKILL'));
      try {
        // A stale dist/ is built first (tsc): minutes on a loaded machine.
        [line] = await started.printed(/Open http:\/\/\S+.*/, { timeoutMs: 180_000 });
        start = started;
      } catch (error) {
        const output = started.stdout() + started.stderr();
        if (tries === 3 || !/already in use|EADDRINUSE/.test(output)) throw error;
      }
    }
    const url = `http://127.0.0.1:${appPort}/`;
    assert.match(line, new RegExp(`Open ${url} `));

    const { context, page } = await openPage(browser);
    t.after(() => context.close());
    await page.goto(url);
    // The page's channels (the room and its notes) are on one connection once it opens.
    await page.locator('#state[data-state="open"]').waitFor();
    const published = spawnSync(process.execPath, ['examples/publish.mjs', 'Hello from a script'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    assert.equal(published.status, 0, published.stderr);
    await page.locator('#messages li', { hasText: 'Hello from a script' }).waitFor();
    assert.equal(await page.locator('#state').textContent(), 'open (eventsource)');

    assert.equal(await start.stop('SIGINT', 20_000), 0, start.stdout() + start.stderr());
    // Both children are gone with it: nothing answers on either port.
    for (const port of [daemonPort, appPort]) {
      await assert.rejects(fetch(`http://127.0.0.1:${port}/`), `port ${port} still answers`);
    }
  });
});
