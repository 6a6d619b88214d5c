// The README's quick start ("Your own app") as a user copies it: for each engine its
// package.json, app.js and page, plus publish.js, written into a fresh folder with the
// packed tarball installed (one npm install shared by the engines), run with the README's
// commands (`npx runpushserver`, `node app.js`, `node publish.js "..."`), the page opened
// in Chromium without jQuery, and with jQuery 3.7 and 4 loaded before the client. The
// only change: a pushserver.config.json with free ports, which the README also shows.
// The nunjucks app's folder also runs the quick start's live-HTML step (notes.js).
// Needs Chromium and the npm registry (or npm's cache): skipped without them, failed
// under CI=true.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type Child, spawnChild } from '../support/child.js';
import { launchChromium, openPage } from '../support/chromium.js';
import { packPackage } from '../support/packed-package.js';
import { freePort } from '../support/ports.js';
import { CHROMIUM, NPM_REGISTRY, needs } from '../support/system.js';
import { withDeadline } from '../support/wait.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const require = createRequire(import.meta.url);
const INSTALL_TIMEOUT_MS = 180_000;
const PUBLISH_TIMEOUT_MS = 30_000;
const MESSAGE_TIMEOUT_MS = 20_000;

/** jQuery builds a page may load before the client, by major version. */
const JQUERY: Record<number, string> = {
  3: join(dirname(require.resolve('jquery')), 'jquery.min.js'),
  4: join(dirname(require.resolve('jquery4')), 'jquery.min.js'),
};

/** Each engine's files in the README, and the jQuery versions its page is tried with. */
const ENGINES = [
  { name: 'nunjucks', page: 'views/index.njk', jqueries: [null, 3, 4] },
  { name: 'handlebars', page: 'views/index.hbs', jqueries: [null, 3, 4] },
  { name: 'eta', page: 'views/index.eta', jqueries: [null, 3, 4] },
];

/** The fenced block right after `<!-- quickstart: NAME -->` in the README. */
function quickstartBlock(name: string): string {
  const marker = `<!-- quickstart: ${name} -->\n`;
  const at = README.indexOf(marker);
  assert.ok(at >= 0, `the README has no "${marker.trim()}"`);
  const found = /^```[\w-]*\n([\s\S]*?)^```$/m.exec(README.slice(at + marker.length));
  assert.ok(found && found.index === 0, `no fenced block right after "${marker.trim()}"`);
  return found[1];
}

/**
 * `npx runpushserver` in `cwd`, in a process group of its own: npx runs the daemon as
 * its child, so stopping it stops the group.
 */
function startDaemon(cwd: string): { child: Child; stop: () => Promise<unknown> } {
  const child = spawnChild('npx', ['runpushserver'], { cwd, detached: true });
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      if (child.process.pid) process.kill(-child.process.pid, signal);
    } catch {
      // The group is gone already.
    }
  };
  return {
    child,
    async stop() {
      signalGroup('SIGTERM');
      try {
        await withDeadline(child.exited, 5000, 'npx runpushserver to exit on SIGTERM');
      } catch {
        signalGroup('SIGKILL');
      }
      // npx may end before its child: make sure nothing of the group is left.
      signalGroup('SIGKILL');
    },
  };
}

describe('the README quick start, from the packed tarball', {
  skip: needs(CHROMIUM, NPM_REGISTRY),
}, () => {
  let dir: string;
  let browser: Browser;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pushserver-quickstart-'));
    mkdirSync(join(dir, 'pack'));
    const tarball = packPackage(join(dir, 'pack'));
    // One install for the three apps: every dependency their package.json files name
    // (each at the README's range), then the tarball as pushserver.
    const dependencies: Record<string, string> = {};
    for (const engine of ENGINES) {
      const manifest = JSON.parse(quickstartBlock(`${engine.name} package.json`));
      assert.equal(manifest.type, 'module', `${engine.name}'s package.json is an ES module app`);
      assert.ok(manifest.dependencies.pushserver, `${engine.name}'s package.json needs pushserver`);
      Object.assign(dependencies, manifest.dependencies);
    }
    delete dependencies.pushserver;
    const shared = join(dir, 'shared');
    mkdirSync(shared);
    writeFileSync(
      join(shared, 'package.json'),
      JSON.stringify({ name: 'my-app', private: true, type: 'module', dependencies }),
    );
    const install = spawnChild(
      'npm',
      ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball],
      { cwd: shared },
    );
    try {
      const code = await install.ended(INSTALL_TIMEOUT_MS);
      assert.equal(
        code,
        0,
        `npm install in ${shared} failed:\n${install.stdout()}${install.stderr()}`,
      );
    } finally {
      await install.stop();
    }
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the run block names the commands this test runs', () => {
    const commands = quickstartBlock('run')
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, ''));
    for (const command of [
      'npm install',
      'npx runpushserver',
      'node app.js',
      'node publish.js "Hello"',
    ])
      assert.ok(commands.includes(command), `the README's run block lacks "${command}"`);
  });

  for (const engine of ENGINES) {
    describe(engine.name, () => {
      let app: string;
      let appUrl: string;
      let daemonPort: number;
      let daemon: ReturnType<typeof startDaemon> | undefined;
      let server: Child | undefined;

      before(async () => {
        app = join(dir, engine.name);
        mkdirSync(join(app, 'views'), { recursive: true });
        for (const file of ['package.json', 'app.js', engine.page])
          writeFileSync(join(app, file), quickstartBlock(`${engine.name} ${file}`));
        writeFileSync(join(app, 'publish.js'), quickstartBlock('publish.js'));
        symlinkSync(join(dir, 'shared', 'node_modules'), join(app, 'node_modules'), 'dir');
        daemonPort = await freePort();
        // The README's way to another port: pushserver.config.json beside the app.
        writeFileSync(join(app, 'pushserver.config.json'), JSON.stringify({ port: daemonPort }));

        daemon = startDaemon(app);
        await daemon.child.printed(`Starting push server at http://127.0.0.1:${daemonPort}/`);
        const appPort = await freePort();
        server = spawnChild(process.execPath, ['app.js'], {
          cwd: app,
          env: { ...process.env, PORT: String(appPort) },
        });
        const [, url] = await server.printed(/Open (http:\/\/\S+)/);
        assert.equal(url, `http://127.0.0.1:${appPort}/`);
        appUrl = url;
      });
      after(async () => {
        await server?.stop();
        await daemon?.stop();
      });

      if (engine.name === 'nunjucks') {
        test('live HTML: a note added in one tab appears in another (notes.js)', async (t) => {
          for (const file of ['notes.js', 'views/notes.njk', 'views/note.njk'])
            writeFileSync(join(app, file), quickstartBlock(`nunjucks ${file}`));
          const notesPort = await freePort();
          const notes = spawnChild(process.execPath, ['notes.js'], {
            cwd: app,
            env: { ...process.env, PORT: String(notesPort) },
          });
          t.after(() => notes.stop());
          const [, url] = await notes.printed(/Open (http:\/\/\S+)/);
          const tabs = [];
          for (let i = 0; i < 2; i++) {
            const { context, page, log } = await openPage(browser);
            t.after(() => context.close());
            // With `?last_event_id=`: the page starts at its render.
            const subscribed = page.waitForRequest(
              (request) =>
                request.url().startsWith(`http://127.0.0.1:${daemonPort}/subscriber/notes?`),
              { timeout: MESSAGE_TIMEOUT_MS },
            );
            await page.goto(url, { timeout: MESSAGE_TIMEOUT_MS });
            await subscribed;
            tabs.push({ page, log });
          }
          const text = 'A note <b>"from"</b> the first tab';
          await tabs[0].page.getByLabel('note').fill(text);
          await tabs[0].page.getByRole('button', { name: 'Add' }).click();
          for (const { page, log } of tabs) {
            await page.locator('#notes li').waitFor({ timeout: MESSAGE_TIMEOUT_MS });
            assert.deepEqual(
              await page.evaluate(() =>
                Array.from(document.querySelectorAll('#notes li'), (li) => [li.id, li.textContent]),
              ),
              [['note-1', text]],
            );
            assert.deepEqual(log.errors, []);
          }
        });
      }

      for (const jquery of engine.jqueries) {
        const variant = jquery ? `jQuery ${jquery}` : 'no jQuery';
        test(`a message published with publish.js appears in the page (${variant})`, async (t) => {
          const { context, page, log } = await openPage(browser);
          t.after(() => context.close());
          if (jquery) {
            // jQuery runs just before the client, as a <script src> placed before the
            // client's tag would. The page itself is the app's, untouched: Chromium gives
            // a document the test fulfilled no loopback address, and then refuses its
            // polls to the loopback daemon (Local Network Access).
            const source = readFileSync(JQUERY[jquery], 'utf8');
            await page.route(
              new URL('/static/pushserver/updates.js', appUrl).href,
              async (route) => {
                const response = await route.fetch();
                await route.fulfill({ response, body: `${source}\n;${await response.text()}` });
              },
            );
          }
          const subscribed = page.waitForRequest(
            `http://127.0.0.1:${daemonPort}/subscriber/lobby`,
            { timeout: MESSAGE_TIMEOUT_MS },
          );
          await page.goto(appUrl, { timeout: MESSAGE_TIMEOUT_MS });
          await subscribed;
          const pageHtml = await page.content();

          const text = `Hello from ${engine.name} with ${variant}`;
          const publish = spawnChild(process.execPath, ['publish.js', text], { cwd: app });
          t.after(() => publish.stop());
          assert.equal(await publish.ended(PUBLISH_TIMEOUT_MS), 0, publish.stderr());
          assert.match(
            publish.stdout(),
            /^(delivered to a waiting page|queued for the next poll)\n$/,
          );

          await page
            .locator('#messages li', { hasText: text })
            .waitFor({ timeout: MESSAGE_TIMEOUT_MS })
            .catch((error) => {
              throw new Error(
                `${error.message}\npage errors: ${log.errors.join('; ')}\nconsole: ${log.console.join('; ')}\npage: ${pageHtml}`,
              );
            });
          const onPage = await page.evaluate(() => {
            const global = window as unknown as {
              jQuery?: { fn: { jquery: string }; updates?: unknown };
              pushserver: { updates: { state(name: string): string | undefined } };
            };
            return {
              jquery: global.jQuery?.fn.jquery ?? null,
              sameObject: global.jQuery
                ? global.jQuery.updates === global.pushserver.updates
                : null,
              state: global.pushserver.updates.state('lobby'),
            };
          });
          if (jquery) {
            assert.match(onPage.jquery ?? '', new RegExp(`^${jquery}\\.`));
            assert.equal(onPage.sameObject, true, '$.updates is pushserver.updates');
          } else {
            assert.equal(onPage.jquery, null, 'no jQuery on the page');
          }
          assert.equal(onPage.state, 'open');
          assert.deepEqual(log.errors, []);
        });
      }
    });
  }
});
