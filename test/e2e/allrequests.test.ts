// `runpushserver --allrequests --app app.mjs` with default settings: the app in the
// daemon's process renders URLs for the port the daemon listens on and publishes there,
// and a page in Chromium gets the update (no config file, no port given to the app).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium, openPage } from '../support/chromium.js';
import { freePort } from '../support/ports.js';
import { CHROMIUM, needs } from '../support/system.js';
import { waitUntil } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/server/cli/main.ts', import.meta.url));
const REGISTER = fileURLToPath(new URL('./support/register-source-exports.mjs', import.meta.url));
const APP = fileURLToPath(new URL('./fixtures/allrequests-app.mjs', import.meta.url));

describe('--allrequests --app with default settings', { skip: needs(CHROMIUM) }, () => {
  let browser: Browser;
  const children: ChildProcess[] = [];
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await browser?.close();
  });

  test('the app renders and publishes on the daemon port; the page updates', async (t) => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        REGISTER,
        CLI,
        `127.0.0.1:${port}`,
        '--allrequests',
        '--app',
        APP,
      ],
      {
        cwd: ROOT,
        env: { ...process.env, PUSHSERVER_CONFIG: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.push(child);
    let output = '';
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    await waitUntil('the banner', () => output.includes('Quit the server with CONTROL-C.'), {
      timeoutMs: 20_000,
    });
    const base = `http://127.0.0.1:${port}`;
    const page = await (await fetch(`${base}/`)).text();
    assert.ok(page.includes(`"${base}/subscriber/room"`), page);

    const { context, page: tab } = await openPage(browser);
    t.after(() => context.close());
    const subscribed = tab.waitForRequest(`${base}/subscriber/room`, { timeout: 10_000 });
    await tab.goto(`${base}/`);
    await subscribed;
    const said = await fetch(`${base}/say`, { method: 'POST' });
    assert.equal(said.status, 200, output);
    assert.ok([201, 202].includes((await said.json()).status));
    await tab.locator('#out', { hasText: 'hello from the app' }).waitFor({ timeout: 10_000 });
  });
});
