import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium, openPage } from '../support/chromium.js';
import { freePort } from '../support/ports.js';
import { CHROMIUM, needs } from '../support/system.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Resolve with the first line of `child`'s stdout that matches, or reject when it exits. */
function lineMatching(child: ChildProcess, pattern: RegExp, output: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', () => {
      const line = output
        .join('')
        .split('\n')
        .find((candidate) => pattern.test(candidate));
      if (line) resolve(line);
    });
    child.once('exit', (code) =>
      reject(new Error(`npm start exited (${code}):\n${output.join('')}`)),
    );
  });
}

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
    const [daemonPort, appPort] = [await freePort(), await freePort()];
    const config = join(dir, 'pushserver.config.json');
    writeFileSync(config, JSON.stringify({ port: daemonPort }));
    const env = { ...process.env, PUSHSERVER_CONFIG: config, PORT: String(appPort) };
    const output: string[] = [];
    const start = spawn(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) =>
      start.once('exit', (code) => resolve(code)),
    );
    t.after(() => {
      if (start.exitCode === null) start.kill('SIGKILL');
    });
    start.stdout?.on('data', (chunk) => output.push(String(chunk)));
    start.stderr?.on('data', (chunk) => output.push(String(chunk)));

    const line = await lineMatching(start, /Open http:\/\/\S+/, output);
    const url = `http://127.0.0.1:${appPort}/`;
    assert.match(line, new RegExp(`Open ${url} `));

    const { context, page } = await openPage(browser);
    t.after(() => context.close());
    const subscribed = page.waitForRequest(`http://127.0.0.1:${daemonPort}/subscriber/lobby`);
    await page.goto(url);
    await subscribed;
    const published = spawnSync(process.execPath, ['examples/publish.mjs', 'Hello from a script'], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
    });
    assert.equal(published.status, 0, published.stderr);
    await page.locator('#messages li', { hasText: 'Hello from a script' }).waitFor();
    assert.equal(await page.locator('#state').textContent(), 'open');

    start.kill('SIGINT');
    assert.equal(await exited, 0, output.join(''));
    // Both children are gone with it: nothing answers on either port.
    for (const port of [daemonPort, appPort]) {
      await assert.rejects(fetch(`http://127.0.0.1:${port}/`), `port ${port} still answers`);
    }
  });
});
