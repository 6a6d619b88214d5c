import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, type TestContext, test } from 'node:test';
import { Eta } from 'eta';
import express from 'express';
import Handlebars from 'handlebars';
import nunjucks from 'nunjucks';
import { etaEngine, etaHelpers, withPushserverHelpers } from '../../src/eta/index.js';
import { expressRenderer } from '../../src/express/index.js';
import { registerHelpers } from '../../src/handlebars/index.js';
import { install } from '../../src/nunjucks/index.js';
import { createRecordingPublisher } from '../../src/publish/recording.js';
import { createPushServer } from '../../src/server/daemon.js';
import { resolveSettings } from '../../src/settings/index.js';
import { subscriptionSnippet } from '../../src/snippet.js';
import {
  broadcast,
  renderStream,
  setStreamRenderer,
  streamMarkup,
  TURBO_STREAM_CONTENT_TYPE,
} from '../../src/stream/index.js';

const views = mkdtempSync(join(tmpdir(), 'pushserver-stream-'));
writeFileSync(join(views, 'note.njk'), '<li id="note-{{ note.id }}">{{ note.text }}</li>');
writeFileSync(join(views, 'note.eta'), '<li id="note-<%= it.note.id %>"><%= it.note.text %></li>');
writeFileSync(join(views, 'note.hbs'), '<li id="note-{{note.id}}">{{note.text}}</li>');
after(() => rmSync(views, { recursive: true, force: true }));

const NOTE = { note: { id: 7, text: '<b>"hi"</b> & \u2028' } };
const ESCAPED = '<li id="note-7">&lt;b&gt;&quot;hi&quot;&lt;/b&gt; &amp; \u2028</li>';
const append = (html: string) =>
  `<turbo-stream action="append" target="notes"><template>${html}</template></turbo-stream>`;

describe('streamMarkup', () => {
  test('Turbo Stream elements in order; target and targets escaped, html as given', () => {
    assert.equal(
      streamMarkup([
        { action: 'append', target: 'notes', html: '<li>1</li>' },
        { action: 'replace', targets: 'li[data-x="a&b"]', html: '<li>2</li>' },
        { action: 'remove', target: 'a"b' },
        { action: 'update', target: 'empty' },
      ]),
      '<turbo-stream action="append" target="notes"><template><li>1</li></template></turbo-stream>' +
        '<turbo-stream action="replace" targets="li[data-x=&quot;a&amp;b&quot;]"><template><li>2</li></template></turbo-stream>' +
        '<turbo-stream action="remove" target="a&quot;b"></turbo-stream>' +
        '<turbo-stream action="update" target="empty"><template></template></turbo-stream>',
    );
  });

  const refusals: [string, unknown, RegExp][] = [
    [
      'an unknown action',
      { action: 'morph', target: 'x' },
      /the action must be one of append, prepend, replace, update, remove, before, after/,
    ],
    [
      'both target and targets',
      { action: 'append', target: 'x', targets: '.x', html: '' },
      /either target \(an element id\) or targets \(a CSS selector\), not both/,
    ],
    ['neither target nor targets', { action: 'append', html: '' }, /not neither/],
    ['an empty target', { action: 'remove', target: '' }, /target must be a non-empty string/],
    ['not an object', null, /an action is an object/],
  ];
  for (const [label, action, message] of refusals) {
    test(`refuses ${label}`, () => {
      assert.throws(() => streamMarkup([action as never]), { name: 'TypeError', message });
    });
  }
  test('refuses no action at all', () => {
    assert.throws(() => streamMarkup([]), /at least one action/);
  });
});

describe('renderStream and broadcast', () => {
  let restore = () => {};
  afterEach(() => restore());

  test('renders templates with the given renderer, html as is', async () => {
    const render = (template: string, data: Record<string, unknown>) =>
      `<p>${template}:${JSON.stringify(data)}</p>`;
    assert.equal(
      await renderStream(
        [
          { action: 'append', target: 'notes', template: 'note', data: { a: 1 } },
          { action: 'before', target: 'notes', html: '<hr>' },
        ],
        render,
      ),
      `${append('<p>note:{"a":1}</p>')}<turbo-stream action="before" target="notes"><template><hr></template></turbo-stream>`,
    );
  });

  const contentRefusals: [string, object, RegExp][] = [
    [
      'html and template',
      { action: 'append', target: 'x', html: '', template: 't' },
      /either html or template \(with data\), not both/,
    ],
    ['no content', { action: 'append', target: 'x' }, /not neither/],
    [
      'content on remove',
      { action: 'remove', target: 'x', html: '<p>' },
      /"remove" takes no content/,
    ],
  ];
  for (const [label, action, message] of contentRefusals) {
    test(`refuses ${label}`, async () => {
      await assert.rejects(
        renderStream(action as never, () => ''),
        { name: 'TypeError', message },
      );
    });
  }

  test('a template with no renderer says how to get one', async () => {
    restore = setStreamRenderer(undefined);
    await assert.rejects(renderStream({ action: 'append', target: 'x', template: 'note.njk' }), {
      message:
        /stream action 0 \("append"\): no renderer for template "note.njk"; install an engine's helpers \(install\(env\), registerHelpers\(handlebars\), etaEngine\(eta\)\), call setStreamRenderer\(expressRenderer\(app\)\), or pass \{render\}/,
    });
  });

  test('a renderer that returns no string is named', async () => {
    await assert.rejects(
      renderStream({ action: 'append', target: 'x', template: 'n' }, () => 42 as never),
      /the renderer returned number for "n", not a string/,
    );
  });

  test('publishes the markup as text/vnd.turbo-stream.html through the publisher (the double records it)', async () => {
    const publisher = createRecordingPublisher();
    const result = await broadcast(
      'room-1',
      { action: 'remove', target: 'note-1' },
      { publisher, timeout: 1234 },
    );
    assert.equal(result.queued, true);
    assert.deepEqual(publisher.updates, [
      {
        channelId: 'room-1',
        data: '<turbo-stream action="remove" target="note-1"></turbo-stream>',
        options: { timeout: 1234, alreadySerialized: true, contentType: TURBO_STREAM_CONTENT_TYPE },
        url: 'http://127.0.0.1:8001/publisher/room-1',
      },
    ]);
  });

  test('a bad action sends nothing', async () => {
    const publisher = createRecordingPublisher();
    await assert.rejects(broadcast('room-1', { action: 'explode' } as never, { publisher }));
    assert.deepEqual(publisher.updates, []);
  });

  test('a subscriber of the daemon gets the markup with its content type', async (t) => {
    const daemon = createPushServer({});
    const { port } = await daemon.listen(0, '127.0.0.1');
    t.after(() => daemon.close());
    const settings = resolveSettings({ port });
    const { createPublisher } = await import('../../src/publish/publisher.js');
    const publisher = createPublisher(settings);
    t.after(() => publisher.close());
    await broadcast(
      'live',
      { action: 'append', target: 'notes', html: '<li>é</li>' },
      { publisher },
    );
    const response = await fetch(`http://127.0.0.1:${port}/subscriber/live`, {
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), TURBO_STREAM_CONTENT_TYPE);
    assert.equal(await response.text(), append('<li>é</li>'));
  });
});

describe('each engine renders broadcast templates', () => {
  let restore = () => {};
  afterEach(() => restore());
  const publisher = createRecordingPublisher();
  afterEach(() => publisher.clear());

  async function broadcastNote(template: string) {
    await broadcast(
      'room',
      { action: 'append', target: 'notes', template, data: NOTE },
      { publisher },
    );
    return publisher.updates[0]?.data;
  }

  test('nunjucks: install(env) makes env the renderer', async () => {
    restore = setStreamRenderer(undefined);
    install(new nunjucks.Environment(new nunjucks.FileSystemLoader(views), { autoescape: true }));
    assert.equal(await broadcastNote('note.njk'), append(ESCAPED));
  });

  test("nunjucks: a missing template rejects with nunjucks' error", async () => {
    restore = setStreamRenderer(undefined);
    install(new nunjucks.Environment(new nunjucks.FileSystemLoader(views), { autoescape: true }));
    await assert.rejects(broadcastNote('nope.njk'), /template not found: nope.njk/);
  });

  test('handlebars: registerHelpers(instance) renders its partials', async () => {
    restore = setStreamRenderer(undefined);
    const handlebars = registerHelpers(Handlebars.create());
    handlebars.registerPartial('note', '<li id="note-{{note.id}}">{{note.text}}</li>');
    assert.equal(await broadcastNote('note'), append(ESCAPED));
    await assert.rejects(
      broadcastNote('nope'),
      /handlebars has no partial named "nope" to broadcast; register it first: handlebars.registerPartial\("nope", source\)/,
    );
  });

  test('eta: etaEngine(eta) and an instance of withPushserverHelpers(Eta) render', async () => {
    restore = setStreamRenderer(undefined);
    etaEngine(new Eta({ views }));
    assert.equal(await broadcastNote('note'), append(ESCAPED));
    publisher.clear();
    setStreamRenderer(undefined);
    new (withPushserverHelpers(Eta))({ views });
    assert.equal(await broadcastNote('note'), append(ESCAPED));
  });

  test('express: expressRenderer(app) renders with app.render (any engine)', async () => {
    const app = express();
    const handlebars = Handlebars.create();
    app.engine('hbs', (path, data, callback) => {
      import('node:fs').then(({ readFileSync }) =>
        callback(null, handlebars.compile(readFileSync(path, 'utf8'))(data)),
      );
    });
    app.set('views', views);
    await broadcast(
      'room',
      { action: 'append', target: 'notes', template: 'note.hbs', data: NOTE },
      { publisher, render: expressRenderer(app) },
    );
    assert.equal(publisher.updates[0]?.data, append(ESCAPED));
    await assert.rejects(
      broadcast(
        'room',
        { action: 'append', target: 'n', template: 'nope.hbs' },
        { publisher, render: expressRenderer(app) },
      ),
      /Failed to lookup view "nope.hbs"/,
    );
  });
});

describe('stream_from helpers', () => {
  // The page starts after its render's second: a fixed clock makes the output exact.
  const NOW = 1_796_364_664_500;
  const snippetAt = (
    channels: Record<string, string>,
    options: Parameters<typeof subscriptionSnippet>[1],
  ) => {
    const html = subscriptionSnippet(channels, { ...options, start: 'render' });
    assert.match(html, /"after":"1796364664:-"/);
    return html;
  };
  const both = (t: TestContext) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    return snippetAt({ 'room-1': 'room-1', 'user 5': 'user 5' }, { nonce: 'n0' });
  };

  test('nunjucks: {% stream_from %} and pushserverStreamFrom()', (t) => {
    const expected = both(t);
    const env = install(new nunjucks.Environment(null, { autoescape: true }));
    assert.equal(
      env.renderString('{% stream_from "room-1", "user 5" %}', { cspNonce: 'n0' }),
      expected,
    );
    assert.equal(
      env.renderString('{{ pushserverStreamFrom(["room-1", "user 5"]) }}', { cspNonce: 'n0' }),
      expected,
    );
    assert.equal(
      env.renderString('{% stream_from "room-1", mode="data" %}', {}),
      snippetAt({ 'room-1': 'room-1' }, { mode: 'data' }),
    );
    assert.throws(
      () => env.renderString('{% stream_from %}', {}),
      /\{% stream_from %\}: no channel given/,
    );
    assert.throws(
      () => env.renderString('{% stream_from missing %}', {}),
      /\{% stream_from %\}: the channel id is undefined; is the variable set in the render context\?/,
    );
  });

  test('handlebars: {{{pushserverStreamFrom}}}', (t) => {
    const expected = both(t);
    const handlebars = registerHelpers(Handlebars.create());
    assert.equal(
      handlebars.compile('{{pushserverStreamFrom "room-1" "user 5"}}')({ cspNonce: 'n0' }),
      expected,
    );
    assert.equal(
      handlebars.compile('{{pushserverStreamFrom "room-1" mode="data"}}')({}),
      snippetAt({ 'room-1': 'room-1' }, { mode: 'data' }),
    );
    assert.throws(
      () => handlebars.compile('{{pushserverStreamFrom 5}}')({}),
      /\{\{pushserverStreamFrom\}\}: the channel id must be a string/,
    );
  });

  test('eta: it.pushserverStreamFrom()', (t) => {
    const expected = both(t);
    const eta = new Eta();
    assert.equal(
      eta.renderString('<%~ it.pushserverStreamFrom(["room-1", "user 5"]) %>', {
        ...etaHelpers(),
        cspNonce: 'n0',
      }),
      expected,
    );
  });
});
