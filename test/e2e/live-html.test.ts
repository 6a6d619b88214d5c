// Live HTML (broadcast + stream_from) in Chromium, against this daemon and real Nchan:
// each engine's example page, open twice, gets a note posted in one of them, rendered
// by the same partial that rendered the page; hostile text in a note never runs; the
// same channel drives a page that uses @hotwired/turbo's <turbo-stream-source>; and
// htmx's SSE extension swaps a channel's plain HTML messages.
import assert from 'node:assert/strict';
import { createRequire, register } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import express, { type Express } from 'express';
import nunjucks from 'nunjucks';
import type { Browser, Page } from 'playwright-core';
import { channelUrl, publisherUrl } from '../../src/channel/urls.js';
import pushserver from '../../src/express/index.js';
import { configure, resetSettings } from '../../src/settings/index.js';
import { streamFromSnippet, subscriptionSnippet } from '../../src/snippet.js';
import { broadcast, streamMarkup } from '../../src/stream/index.js';
import { launchChromium, openPage } from '../support/chromium.js';
import { CHROMIUM, NCHAN, needs } from '../support/system.js';
import { closeServer, listenApp, originOf } from './support/apps.js';
import { DAEMON_KINDS, type Daemon, startDaemon } from './support/daemons.js';

// `pushserver/*` in the examples resolves to src/, the code under test.
register('./support/source-exports.mjs', import.meta.url);

const require = createRequire(import.meta.url);
const ENGINES = ['nunjucks', 'handlebars', 'eta'] as const;
const NOTES = 'lobby-notes';
/** Text a user might type to break out of the fragment or the page. */
const HOSTILE = `</template></turbo-stream><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> "double" 'single' \u2028 & end`;
const EXAMPLE_VIEWS = join(import.meta.dirname, '..', '..', 'examples', 'nunjucks', 'views');

type ExampleModule = { createApp(options: { jquery: 3 | 4 | null }): Express };

interface Recorded {
  streamEvents: string[];
  updates: string[];
  errors: string[];
  pwned?: number;
}

/** Before any page script: record stream events, updates and errors of the client. */
function recordPage(): void {
  const w = window as unknown as Recorded & {
    pushserver: {
      updates: { on(type: string, listener: (event: Record<string, unknown>) => void): void };
    };
  };
  w.streamEvents = [];
  w.updates = [];
  w.errors = [];
  for (const type of ['pushserver:before-stream-action', 'pushserver:stream-action']) {
    document.addEventListener(type, (event) => {
      const detail = (event as CustomEvent).detail;
      w.streamEvents.push(`${type} ${detail.action} ${detail.target} ${detail.elements.length}`);
    });
  }
  document.addEventListener('DOMContentLoaded', () => {
    // A page with Turbo instead has no pushserver client.
    if (!w.pushserver) return;
    w.pushserver.updates.on('update', (update) => {
      const data = update.data as { type?: string };
      w.updates.push(`${update.channel} ${data.type}`);
    });
    w.pushserver.updates.on('error', (event) => {
      w.errors.push(`${event.channel} ${(event.error as Error).message}`);
    });
  });
}

/** The `#notes` list of `html` as this browser serialises it. */
function notesOf(page: Page, html: string): Promise<string> {
  return page.evaluate((source) => {
    const parsed = new DOMParser().parseFromString(source, 'text/html');
    return parsed.getElementById('notes')?.innerHTML ?? 'no #notes';
  }, html);
}

const noteCount = (page: Page) => page.locator('#notes li').count();

/** The text of each `#notes` item, in order. */
function noteTexts(page: Page): Promise<(string | null)[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('#notes li'), (li) => li.textContent),
  );
}

/** Resolve once the page's client has channel `name` open. */
function waitForOpen(page: Page, name: string): Promise<unknown> {
  return page.waitForFunction(
    (channel) =>
      (
        window as unknown as {
          pushserver: { updates: { state(name: string): string | undefined } };
        }
      ).pushserver.updates.state(channel) === 'open',
    name,
    { timeout: 30_000 },
  );
}

function waitForNotes(page: Page, count: number): Promise<unknown> {
  return page.waitForFunction(
    (expected) => document.querySelectorAll('#notes li').length === expected,
    count,
    { timeout: 30_000 },
  );
}

/** Resolve once this clock is past `second` (Unix seconds): at most about a second. */
async function clockPast(second: number): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Math.floor(Date.now() / 1000) <= second) {
    if (Date.now() > deadline) throw new Error(`the clock did not pass ${second} in 5 s`);
    await new Promise((resolve) => setTimeout(resolve, (second + 1) * 1000 - Date.now() + 1));
  }
}

describe('live HTML in Chromium', { skip: needs(CHROMIUM, NCHAN) }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    resetSettings();
  });

  async function startFor(kind: (typeof DAEMON_KINDS)[number], t: test.TestContext) {
    // The pages and the daemon are on different origins: let Nchan echo any Origin.
    const daemon: Daemon = await startDaemon(kind, { allowOrigin: '$http_origin' });
    t.after(() => daemon.stop());
    configure({ port: daemon.port });
    return daemon;
  }

  test('every action lands as @hotwired/turbo lands it, and a cancelled one is skipped', async (t) => {
    await startFor('pushserver', t);
    const channel = 'all-actions';
    const body = `<ul id="list"><li id="a">a</li><li id="b">b</li><li id="c">c</li></ul>
<p id="p">p</p><div class="many">1</div><div class="many">2</div><section id="keep">keep</section><div id="end"></div>`;
    const app = express();
    app.use(pushserver());
    app.get('/turbo.js', (_req, res) =>
      res.sendFile(require.resolve('@hotwired/turbo/dist/turbo.es2017-umd.js')),
    );
    app.get('/ours', (_req, res) => {
      res.type('html').send(`<!doctype html><meta charset="utf-8"><title>ours</title><body>${body}
${subscriptionSnippet({ [channel]: channel })}
<script>document.addEventListener('pushserver:before-stream-action', (event) => {
  if (event.detail.target === 'keep') event.preventDefault();
});</script></body>`);
    });
    app.get('/turbo', (_req, res) => {
      res.type('html').send(`<!doctype html><meta charset="utf-8"><title>turbo</title><body>${body}
<script src="/turbo.js"></script><turbo-stream-source src="${channelUrl(channel)}"></turbo-stream-source></body>`);
    });
    const server = await listenApp(app);
    t.after(() => closeServer(server));
    const pages: Page[] = [];
    for (const path of ['/ours', '/turbo']) {
      const { context, page, log } = await openPage(browser);
      t.after(() => context.close());
      t.after(() => assert.deepEqual(log.errors, [], path));
      const subscribed = page.waitForRequest((request) => request.url().includes(channel));
      await page.goto(`${originOf(server)}${path}`);
      await subscribed;
      pages.push(page);
    }
    await broadcast(channel, [
      // "a" is on the page already: append and prepend replace it (Turbo's rule).
      { action: 'append', target: 'list', html: '<li id="d">d</li><li id="a">a2</li>' },
      { action: 'prepend', target: 'list', html: '<li id="z">z</li>' },
      { action: 'replace', target: 'p', html: '<p id="p2">p2</p>' },
      { action: 'update', targets: '.many', html: '<i>u</i>' },
      { action: 'before', target: 'b', html: '<li id="y">y</li>' },
      { action: 'after', target: 'b', html: '<li id="x">x</li>' },
      { action: 'remove', target: 'c' },
      { action: 'update', target: 'keep', html: 'changed' },
      { action: 'append', target: 'end', html: '<span id="done">done</span>' },
    ]);
    const shown: string[] = [];
    for (const page of pages) {
      await page.locator('#done').waitFor({ timeout: 30_000 });
      shown.push(
        await page.evaluate(() =>
          ['list', 'p2', 'keep', 'end']
            .map((id) => document.getElementById(id)?.outerHTML)
            .concat(Array.from(document.querySelectorAll('.many'), (e) => e.outerHTML))
            .join('\n'),
        ),
      );
    }
    const [ours, turbo] = shown;
    assert.equal(
      ours,
      [
        '<ul id="list"><li id="z">z</li><li id="y">y</li><li id="b">b</li><li id="x">x</li><li id="d">d</li><li id="a">a2</li></ul>',
        '<p id="p2">p2</p>',
        '<section id="keep">keep</section>',
        '<div id="end"><span id="done">done</span></div>',
        '<div class="many"><i>u</i></div>',
        '<div class="many"><i>u</i></div>',
      ].join('\n'),
    );
    // Turbo has no veto for one action of a message: all but the cancelled one agree.
    assert.equal(ours.replace('keep</section>', 'changed</section>'), turbo);
  });

  for (const kind of DAEMON_KINDS) {
    for (const engine of ENGINES) {
      test(`${kind}, ${engine}: a note posted in one page appears in both, as the page's own partial renders it; hostile text stays text`, async (t) => {
        const daemon = await startFor(kind, t);
        const { createApp } = (await import(
          new URL(`../../examples/${engine}/app.mjs`, import.meta.url).href
        )) as ExampleModule;
        const server = await listenApp(createApp({ jquery: null }));
        t.after(() => closeServer(server));
        const origin = originOf(server);

        const pages: { page: Page; log: { errors: string[] } }[] = [];
        for (let index = 0; index < 2; index++) {
          const { context, page, log } = await openPage(browser);
          t.after(() => context.close());
          await page.addInitScript(recordPage);
          await page.goto(`${origin}/`);
          await waitForOpen(page, NOTES);
          pages.push({ page, log });
        }
        const [first, second] = pages as [(typeof pages)[0], (typeof pages)[0]];

        // A note from the first page's form: POST /notes -> broadcast -> both pages.
        await first.page.getByLabel('note').fill(HOSTILE);
        await first.page.getByRole('button', { name: 'Add a note' }).click();
        await Promise.all(pages.map(({ page }) => waitForNotes(page, 1)));
        // And one from the second page.
        await second.page.getByLabel('note').fill('a second note');
        await second.page.getByRole('button', { name: 'Add a note' }).click();
        await Promise.all(pages.map(({ page }) => waitForNotes(page, 2)));
        // A JSON update on the same channel still reaches the update listeners.
        await daemon.publisher.sendUpdate(NOTES, { type: 'ping' });
        // An action whose target is not on the page is reported and skipped; the next applies.
        await broadcast(NOTES, [
          { action: 'remove', target: 'no-such-note' },
          // Trusted HTML, but its script is removed, not run (Turbo would run it).
          {
            action: 'update',
            target: 'note-2',
            html: 'second, updated<script>window.pwned = 3</script>',
          },
        ]);

        const rendered = await (await fetch(`${origin}/`)).text();
        for (const [index, { page, log }] of pages.entries()) {
          const name = `${engine} page ${index + 1}`;
          await page.waitForFunction(
            () => document.getElementById('note-2')?.textContent === 'second, updated',
            undefined,
            { timeout: 30_000 },
          );
          const fresh = await notesOf(page, rendered);
          const live = await page.evaluate(() => {
            const list = document.getElementById('notes') as HTMLElement;
            const note2 = document.getElementById('note-2') as HTMLElement;
            return {
              before: list.innerHTML.replace(note2.outerHTML, ''),
              texts: Array.from(list.children, (li) => li.textContent),
            };
          });
          // The list as a full render shows it, but for the update applied afterwards.
          assert.equal(
            live.before,
            fresh.replace(/<li id="note-2">a second note<\/li>/, ''),
            `${name}: the live note is the partial's own markup`,
          );
          assert.match(fresh, /<li id="note-2">a second note<\/li>/, name);
          assert.deepEqual(live.texts, [HOSTILE, 'second, updated'], `${name}: text stays text`);
          const state = await page.evaluate(() => {
            const w = window as unknown as Recorded;
            return {
              streamEvents: w.streamEvents,
              updates: w.updates,
              errors: w.errors,
              pwned: w.pwned,
            };
          });
          assert.equal(state.pwned, undefined, `${name}: no script ran`);
          assert.deepEqual(
            state.streamEvents,
            [
              'pushserver:before-stream-action append notes 1',
              'pushserver:stream-action append notes 1',
              'pushserver:before-stream-action append notes 1',
              'pushserver:stream-action append notes 1',
              'pushserver:before-stream-action update note-2 1',
              'pushserver:stream-action update note-2 1',
            ],
            name,
          );
          assert.deepEqual(
            state.updates,
            [
              `${NOTES} turbo-stream`,
              `${NOTES} turbo-stream`,
              `${NOTES} ping`,
              `${NOTES} turbo-stream`,
            ],
            name,
          );
          assert.deepEqual(
            state.errors,
            [
              `${NOTES} pushserver: <turbo-stream action="remove" target="no-such-note">: no element on the page matches; the action was skipped`,
            ],
            name,
          );
          assert.deepEqual(
            log.errors.filter((line) => !line.includes('no element on the page matches')),
            [],
            name,
          );
        }
        assert.equal(await noteCount(first.page), 2);
      });
    }

    // A page starts at its render: what the daemon still buffers (published by another
    // process in an earlier second, or by this one just before the render) is not sent
    // again; what is published while the page loads, and after, is. Appends without ids,
    // so a message sent twice would show twice. `start: 'oldest'` is the control.
    const STARTS = [
      { transport: 'eventsource', multiplex: true, start: 'render' },
      { transport: 'longpoll', multiplex: false, start: 'render' },
      { transport: 'longpoll', multiplex: true, start: 'render' },
      { transport: 'websocket', multiplex: true, start: 'render' },
      // Beside a channel of pushserverSubscribe, which starts at the oldest on the same
      // connection: the connection starts there too, and the client drops what the
      // stream_from channel's render showed.
      { transport: 'eventsource', multiplex: true, start: 'render', withOldest: true },
      { transport: 'eventsource', multiplex: false, start: 'oldest' },
    ] as const;
    test(`${kind}: a stream_from page starts at its render, over EventSource, long-poll and WebSocket, one channel or multiplexed`, async (t) => {
      const daemon = await startFor(kind, t);
      const app = express();
      app.use(pushserver());
      const pages = new Map<string, string>();
      app.get('/:name', (req, res) => {
        res.type('html').send(pages.get(req.params.name) ?? 'no such page');
      });
      const server = await listenApp(app);
      t.after(() => closeServer(server));
      const append = (text: string) =>
        streamMarkup([{ action: 'append', target: 'notes', html: `<li>${text}</li>` }]);
      /** As another process publishes: not remembered by this one. Returns the id's second. */
      const publishElsewhere = async (channel: string, text: string) => {
        const response = await fetch(publisherUrl(channel, daemon.settings), {
          method: 'POST',
          headers: { Accept: 'application/json', 'Content-Type': 'text/vnd.turbo-stream.html' },
          body: append(text),
        });
        assert.ok(response.status === 201 || response.status === 202, `${response.status}`);
        const info = (await response.json()) as { last_message_id: string };
        return Number(info.last_message_id.split(':')[0]);
      };

      for (const variant of STARTS) {
        const { transport, multiplex, start } = variant;
        const withOldest = 'withOldest' in variant;
        const name = `start-${transport}-${multiplex ? 'multi' : 'own'}-${start}${withOldest ? '-mixed' : ''}`;
        const channel = `${name}-notes`;
        await publishElsewhere(channel, 'a1');
        const second = await publishElsewhere(channel, 'a2');
        await clockPast(second);
        // This process's own publish, just before the render (a form's note).
        const own = await daemon.publisher.sendUpdate(channel, append('a3'), {
          alreadySerialized: true,
          contentType: 'text/vnd.turbo-stream.html',
        });
        // Buffered before the render on the other channel: a page of `oldest` gets it.
        if (withOldest) await daemon.publisher.sendUpdate(`${name}-json`, { type: 'buffered' });
        const snippet = streamFromSnippet([channel, `${name}-quiet`], {
          mode: 'data',
          multiplex,
          start,
          settings: daemon.settings,
        });
        if (start === 'render') {
          const after = /"after":"([^"]+)"/.exec(snippet)?.[1];
          const renderSecond = Number(after?.split(':')[0]);
          // The own publish when the render came in its second, else the render's second.
          assert.ok(
            after === own.channel?.lastMessageId ||
              (after === `${renderSecond}:-` && renderSecond > second),
            `${name}: after ${after}, own publish ${own.channel?.lastMessageId}`,
          );
        }
        pages.set(
          name,
          `<!doctype html><meta charset="utf-8"><title>${name}</title>
<ul id="notes"><li>a1</li><li>a2</li><li>a3</li></ul>
${withOldest ? subscriptionSnippet({ [`${name}-json`]: `${name}-json` }, { mode: 'data', settings: daemon.settings }) : ''}
${snippet}
<script>pushserver.updates.configure({ transport: '${transport}' });
window.seen = []; pushserver.updates.on('update', (update) => window.seen.push(update.channel));</script>`,
        );
        // Published after the render, before the page is up: it must arrive.
        await publishElsewhere(channel, 'a4');

        const { context, page, log } = await openPage(browser);
        await page.goto(`${originOf(server)}/${name}`);
        await waitForOpen(page, channel);
        await publishElsewhere(channel, 'a5');
        const expected =
          start === 'render'
            ? ['a1', 'a2', 'a3', 'a4', 'a5']
            : ['a1', 'a2', 'a3', 'a1', 'a2', 'a3', 'a4', 'a5'];
        await waitForNotes(page, expected.length);
        assert.deepEqual(await noteTexts(page), expected, name);
        assert.equal(
          await page.evaluate(
            (subscribed) =>
              (
                window as unknown as {
                  pushserver: { updates: { transport(name: string): string } };
                }
              ).pushserver.updates.transport(subscribed),
            channel,
          ),
          transport,
          name,
        );
        assert.deepEqual(
          await page.evaluate(() => (window as unknown as { seen: string[] }).seen),
          [...(withOldest ? [`${name}-json`] : []), ...expected.slice(3).map(() => channel)],
          `${name}: the updates, each once`,
        );
        assert.deepEqual(log.errors, [], name);
        await context.close();
      }
    });

    test(`${kind}: htmx's SSE extension swaps a channel's plain HTML messages into the page`, async (t) => {
      const daemon = await startFor(kind, t);
      const channel = 'htmx-notes';
      const source = channelUrl(channel);
      const app = express();
      app.get('/htmx.js', (_req, res) =>
        res.sendFile(require.resolve('htmx.org/dist/htmx.min.js')),
      );
      app.get('/sse.js', (_req, res) => res.sendFile(require.resolve('htmx-ext-sse/sse.js')));
      app.get('/', (_req, res) => {
        res.type('html').send(`<!doctype html><meta charset="utf-8"><title>htmx</title>
<script src="/htmx.js"></script><script src="/sse.js"></script>
<div hx-ext="sse" sse-connect="${source}"><ul id="notes" sse-swap="message" hx-swap="beforeend"></ul></div>`);
      });
      const server = await listenApp(app);
      t.after(() => closeServer(server));
      const { context, page, log } = await openPage(browser);
      t.after(() => context.close());
      const subscribed = page.waitForRequest(source);
      await page.goto(`${originOf(server)}/`);
      await subscribed;

      // Plain HTML, not Turbo Stream actions: htmx swaps the whole message.
      for (const text of ['one', 'two']) {
        await daemon.publisher.sendUpdate(channel, `<li>${text}</li>`, {
          alreadySerialized: true,
          contentType: 'text/html',
        });
      }
      await waitForNotes(page, 2);
      assert.deepEqual(await noteTexts(page), ['one', 'two']);
      assert.deepEqual(log.errors, []);
    });

    test(`${kind}: @hotwired/turbo's <turbo-stream-source> applies the same broadcast; hostile text stays text`, async (t) => {
      await startFor(kind, t);
      const channel = 'turbo-notes';
      const source = channelUrl(channel);
      const app = express();
      app.get('/turbo.js', (_req, res) =>
        res.sendFile(require.resolve('@hotwired/turbo/dist/turbo.es2017-umd.js')),
      );
      app.get('/', (_req, res) => {
        res.type('html').send(`<!doctype html><meta charset="utf-8"><title>turbo</title>
<script src="/turbo.js"></script>
<turbo-stream-source src="${source}"></turbo-stream-source>
<ul id="notes"></ul><p id="gone">going</p>`);
      });
      const server = await listenApp(app);
      t.after(() => closeServer(server));
      const { context, page, log } = await openPage(browser);
      t.after(() => context.close());
      await page.addInitScript(recordPage);
      const subscribed = page.waitForRequest(source);
      await page.goto(`${originOf(server)}/`);
      await subscribed;

      // The example's own partial, rendered by nunjucks with autoescape.
      const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(EXAMPLE_VIEWS), {
        autoescape: true,
      });
      const render = (template: string, data: object) => env.render(template, data);
      await broadcast(
        channel,
        [
          {
            action: 'append',
            target: 'notes',
            template: 'note.njk',
            data: { note: { id: 1, text: HOSTILE } },
          },
          { action: 'remove', target: 'gone' },
        ],
        { render },
      );
      await page.waitForFunction(
        () =>
          document.querySelectorAll('#notes li').length === 1 && !document.getElementById('gone'),
        undefined,
        { timeout: 30_000 },
      );
      const shown = await page.evaluate(() => ({
        html: (document.getElementById('notes') as HTMLElement).innerHTML,
        text: document.querySelector('#notes li')?.textContent,
        pwned: (window as unknown as Recorded).pwned,
      }));
      assert.equal(
        shown.html,
        await notesOf(
          page,
          `<ul id="notes">${render('note.njk', { note: { id: 1, text: HOSTILE } })}</ul>`,
        ),
      );
      assert.equal(shown.text, HOSTILE);
      assert.equal(shown.pwned, undefined, 'no script ran');
      assert.deepEqual(log.errors, []);
    });
  }
});
