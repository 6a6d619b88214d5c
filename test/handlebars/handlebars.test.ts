import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import express from 'express';
import Handlebars from 'handlebars';
import pushserver from '../../src/express/index.js';
import { registerHelpers } from '../../src/handlebars/index.js';
import {
  assertDataMode,
  assertPage,
  assertServedPages,
  CHANNEL_CASES,
  listen,
  NONCE,
  pageRoute,
  renderedChannel,
  runPage,
} from '../fixtures/templates/page.js';

const VIEWS = join(import.meta.dirname, '..', 'fixtures', 'templates', 'handlebars');
const PAGE = readFileSync(join(VIEWS, 'page.hbs'), 'utf8');

// registerHelpers on the global instance once; the other tests use isolated instances.
registerHelpers(Handlebars);

describe('handlebars page.hbs rendered directly', () => {
  const instances = {
    global: Handlebars,
    'Handlebars.create()': registerHelpers(Handlebars.create()),
  };
  for (const [which, handlebars] of Object.entries(instances)) {
    const page = handlebars.compile(PAGE);
    for (const { label, id, url } of CHANNEL_CASES) {
      for (const nonce of [undefined, NONCE]) {
        test(`${which}, ${label} id, ${nonce ? 'with' : 'no'} nonce`, () => {
          assertPage(page({ channel: id, cspNonce: nonce }), url, nonce);
        });
      }
    }
  }
});

describe('handlebars through Express 5', async () => {
  const handlebars = registerHelpers(Handlebars.create());
  const app = express();
  app.use(pushserver());
  // The whole view engine a handlebars app needs: compile the file, render with the locals.
  app.engine('hbs', (path, data, callback) => {
    try {
      callback(null, handlebars.compile(readFileSync(path, 'utf8'))(data));
    } catch (error) {
      callback(error);
    }
  });
  app.set('views', VIEWS);
  app.set('view engine', 'hbs');
  app.get('/page', pageRoute);
  const server = await listen(app);
  after(server.close);

  for (const { label, id, url } of CHANNEL_CASES) {
    test(`${label} id`, async () => {
      await assertServedPages(server.base, id, url);
    });
  }
});

describe('handlebars helpers', () => {
  const handlebars = registerHelpers(Handlebars.create());
  const render = (template: string, context: object = {}) => handlebars.compile(template)(context);
  const { id, url } = CHANNEL_CASES[1];

  test('the partial renders the same snippet as the helper, nonce from @root inside it', () => {
    const context = { channels: { main_channel: id, b: 'x' }, cspNonce: NONCE };
    const partial = render(
      '{{#with channels}}{{> pushserver/subscribe channels=this}}{{/with}}',
      context,
    );
    assert.equal(partial, render('{{{pushserverSubscribe channels}}}', context));
    assert.match(partial, /^<script src="[^"]+" nonce="r4nd0mN0nce"><\/script>/);
    assert.deepEqual(runPage(partial).subscribed, [
      {
        main_channel: renderedChannel(url),
        b: renderedChannel('http://127.0.0.1:8001/subscriber/x'),
      },
    ]);
  });

  test('positional channels and options, hash channels merged over them', () => {
    const html = render('{{{pushserverSubscribe more opts b="3"}}}', {
      more: { a: '1', b: '2' },
      opts: { jquery: false, multiplex: false },
    });
    assert.match(html, /pushserver\.updates\.subscribe\(\{"a":"[^"]+\/1","b":"[^"]+\/3"\}\)/);
  });

  test('a URL only as {url: ...}; a URL-shaped string is a channel id', () => {
    const html = render('{{{pushserverSubscribe feed=feed main=channel}}}', {
      feed: { url: 'https://push.example.com/sub/x' },
      channel: 'https://evil.example/x',
    });
    assert.deepEqual(runPage(html).subscribed, [
      {
        feed: 'https://push.example.com/sub/x',
        main: renderedChannel('http://127.0.0.1:8001/subscriber/https%3A%2F%2Fevil.example%2Fx'),
      },
    ]);
  });

  test('multiplex: false from registerHelpers, or from the call, renders URL strings', () => {
    const perChannel = registerHelpers(Handlebars.create(), { multiplex: false });
    const expected = [{ a: 'http://127.0.0.1:8001/subscriber/x' }];
    const html = perChannel.compile('{{{pushserverSubscribe a="x"}}}')({});
    assert.deepEqual(runPage(html).subscribed, expected);
    const call = render('{{{pushserverSubscribe more opts}}}', {
      more: { a: 'x' },
      opts: { multiplex: false },
    });
    assert.deepEqual(runPage(call).subscribed, expected);
    const partial = perChannel.compile('{{> pushserver/subscribe channels=channels}}')({
      channels: { a: 'x' },
    });
    assert.deepEqual(runPage(partial).subscribed, expected);
  });

  test('escapejs and a SafeString id', () => {
    assert.equal(render('{{escapejs value}}', { value: '</script>' }), '\\u003C/script\\u003E');
    assert.equal(render('{{escapejs missing}}'), '');
    // `$` too, so a template literal does not run `${...}`.
    assert.equal(render('{{escapejs value}}', { value: 'a$b' }), 'a\\u0024b');
    assert.equal(
      render('{{channelUrl (escapejs "a-b")}}'),
      'http://127.0.0.1:8001/subscriber/a%5Cu002Db',
    );
  });

  test('the {{pushserverSubscribe}} output is the same with {{ }} as with {{{ }}}', () => {
    assert.equal(
      render('{{pushserverSubscribe main_channel=c}}', { c: id }),
      render('{{{pushserverSubscribe main_channel=c}}}', { c: id }),
    );
  });

  test('data mode renders no executable inline script, with the nonce on the client tag', () => {
    const data = registerHelpers(Handlebars.create(), { mode: 'data' });
    const html = data.compile('{{{pushserverSubscribe main_channel=channel}}}')({
      channel: id,
      cspNonce: NONCE,
    });
    assertDataMode(html, url, NONCE);
  });

  const bad: Array<[string, string, RegExp]> = [
    [
      '{{channelUrl missing}}',
      'missing',
      /^\{\{channelUrl\}\}: the channel id is undefined; is the variable set/,
    ],
    ['{{channelUrl}}', 'no argument', /^\{\{channelUrl\}\}: the channel id is undefined/],
    ['{{channelUrl ""}}', 'empty', /^\{\{channelUrl\}\}: the channel id is an empty string$/],
    [
      '{{channelUrl 42}}',
      'a number',
      /^\{\{channelUrl\}\}: the channel id must be a string, got number 42$/,
    ],
    ['{{channelUrl long}}', 'too long', /^\{\{channelUrl\}\}: the channel id is 1025 bytes long/],
    ['{{channelUrl "a" "b"}}', 'two', /^\{\{channelUrl\}\} takes one channel id/],
    [
      '{{{pushserverSubscribe a=""}}}',
      'empty',
      /^\{\{pushserverSubscribe\}\} channel "a": the channel id is an empty string$/,
    ],
    ['{{{pushserverSubscribe}}}', 'no channels', /^\{\{pushserverSubscribe\}\}: no channels given/],
    [
      '{{{pushserverSubscribe "room-1" b="x"}}}',
      'a string instead of channels',
      /^\{\{pushserverSubscribe\}\}: the first argument must be an object of name → channel id, got string$/,
    ],
  ];
  for (const [template, what, message] of bad) {
    test(`${template} (${what}) fails naming the helper`, () => {
      assert.throws(() => render(template, { long: 'x'.repeat(1025) }), { message });
    });
  }
});
