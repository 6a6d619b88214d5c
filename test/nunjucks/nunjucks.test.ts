import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import express from 'express';
import nunjucks from 'nunjucks';
import pushserver from '../../src/express/index.js';
import { install } from '../../src/nunjucks/index.js';
import { templatesDirectory } from '../../src/snippet.js';
import {
  assertDataMode,
  assertPage,
  assertServedPages,
  CHANNEL_CASES,
  fetchPage,
  listen,
  NONCE,
  pageRoute,
  renderedChannel,
  runPage,
} from '../fixtures/templates/page.js';

const VIEWS = join(import.meta.dirname, '..', 'fixtures', 'templates', 'nunjucks');

function environment(options: nunjucks.ConfigureOptions = {}) {
  return install(
    new nunjucks.Environment(new nunjucks.FileSystemLoader([VIEWS, templatesDirectory]), {
      autoescape: true,
      ...options,
    }),
  );
}

describe('nunjucks page.njk rendered directly', () => {
  for (const autoescape of [true, false]) {
    const env = environment({ autoescape });
    for (const { label, id, url } of CHANNEL_CASES) {
      for (const nonce of [undefined, NONCE]) {
        test(`autoescape ${autoescape}, ${label} id, ${nonce ? 'with' : 'no'} nonce`, () => {
          assertPage(env.render('page.njk', { channel: id, cspNonce: nonce }), url, nonce);
        });
      }
    }
  }
});

describe('nunjucks through Express 5', async () => {
  const app = express();
  app.use(pushserver());
  environment().express(app);
  app.set('view engine', 'njk');
  app.get('/page', pageRoute);
  // Render-data functions shadow nunjucks globals; the Express locals must still come out safe.
  app.get('/globals', (req, res) => {
    res.render('globals.njk', { channel: req.query.channel, cspNonce: req.query.nonce });
  });
  const server = await listen(app);
  after(server.close);

  for (const { label, id, url } of CHANNEL_CASES) {
    test(`${label} id`, async () => {
      await assertServedPages(server.base, id, url);
    });
  }

  test('the Express locals called as nunjucks functions are marked safe and read cspNonce', async () => {
    const { id, url } = CHANNEL_CASES[1];
    const html = await fetchPage(server.base, '/globals', id, NONCE);
    assert.equal(
      html,
      `${url}\n<script src="/static/pushserver/updates.js" nonce="${NONCE}"></script>\n` +
        `<script nonce="${NONCE}">pushserver.updates.subscribe({"main_channel":${JSON.stringify(renderedChannel(url))}});</script>\n` +
        '\\u003C\\u002D\\u002D\n',
    );
    assert.deepEqual(runPage(html).subscribed, [{ main_channel: renderedChannel(url) }]);
  });
});

describe('nunjucks helpers', () => {
  const env = environment();
  const { id, url } = CHANNEL_CASES[1];

  test('the globals channelUrl() and pushserverSubscribe() match the tags', () => {
    const context = { channel: id, cspNonce: NONCE };
    assert.equal(
      env.renderString(
        '{{ channelUrl(channel) }}|{{ pushserverSubscribe({main_channel: channel}) }}',
        context,
      ),
      env.renderString(
        '{% channel_url channel %}|{% pushserver_subscribe main_channel=channel %}',
        context,
      ),
    );
  });

  test('the channel_url argument is any expression; the seed filter form works', () => {
    assert.equal(
      env.renderString('{% channel_url "room-" ~ room.id %}', { room: { id: 7 } }),
      'http://127.0.0.1:8001/subscriber/room-7',
    );
    assert.equal(
      env.renderString(`{% filter escapejs %}{% channel_url "it's" %}{% endfilter %}`, {}),
      'http://127.0.0.1:8001/subscriber/it%27s'.replace(/-/g, '\\u002D'),
    );
    assert.equal(env.renderString('{{ "</script>" | escapejs }}', {}), '\\u003C/script\\u003E');
    // `$` too, so a template literal does not run `${...}`.
    assert.equal(env.renderString('{{ v | escapejs }}', { v: 'a$b' }), 'a\\u0024b');
  });

  test('a {% set %} capture and a SafeString work as channel ids', () => {
    assert.equal(
      env.renderString('{% set c %}a<b{% endset %}{% channel_url c %}', {}),
      'http://127.0.0.1:8001/subscriber/a%3Cb',
    );
    assert.equal(
      env.renderString('{% channel_url "a<b" | safe %}|{{ channelUrl("c" | safe) }}', {}),
      'http://127.0.0.1:8001/subscriber/a%3Cb|http://127.0.0.1:8001/subscriber/c',
    );
  });

  test('custom delimiters', () => {
    const custom = environment({
      tags: { blockStart: '<%', blockEnd: '%>', variableStart: '<$', variableEnd: '$>' },
    });
    assert.equal(
      custom.renderString(
        '<% channel_url channel %>|<$ channelUrl(channel) $>|<% filter escapejs %><% channel_url channel %><% endfilter %>\n<% pushserver_subscribe main_channel=channel %>',
        { channel: id, cspNonce: NONCE },
      ),
      `${url}|${url}|${url.replace(/-/g, '\\u002D')}\n` +
        `<script src="/static/pushserver/updates.js" nonce="${NONCE}"></script>\n` +
        `<script nonce="${NONCE}">pushserver.updates.subscribe({"main_channel":${JSON.stringify(renderedChannel(url))}});</script>`,
    );
  });

  test('the partial renders the same snippet as the tag', () => {
    const context = { channels: { main_channel: id, b: 'x' }, cspNonce: NONCE };
    const partial = env.renderString('{% include "pushserver/subscribe.njk" %}', context);
    assert.equal(partial, env.renderString('{% pushserver_subscribe channels %}', context));
    assert.deepEqual(runPage(partial).subscribed, [
      {
        main_channel: renderedChannel(url),
        b: renderedChannel('http://127.0.0.1:8001/subscriber/x'),
      },
    ]);
  });

  test('positional channels and options, keyword channels (SafeStrings too) merged over them', () => {
    const html = env.renderString(
      '{% pushserver_subscribe {a: "1", b: "2"}, {jquery: false, multiplex: false}, b="3" | safe %}',
      {},
    );
    assert.match(html, /pushserver\.updates\.subscribe\(\{"a":"[^"]+\/1","b":"[^"]+\/3"\}\)/);
  });

  test('a URL only as {url: ...}; a URL-shaped string is a channel id', () => {
    const html = env.renderString(
      '{% pushserver_subscribe feed={url: "https://push.example.com/sub/x"}, main=channel %}',
      { channel: 'https://evil.example/x' },
    );
    assert.deepEqual(runPage(html).subscribed, [
      {
        feed: 'https://push.example.com/sub/x',
        main: renderedChannel('http://127.0.0.1:8001/subscriber/https%3A%2F%2Fevil.example%2Fx'),
      },
    ]);
  });

  test('multiplex: false from install, or from the call, renders URL strings', () => {
    const perChannel = install(new nunjucks.Environment(null, { autoescape: true }), {
      multiplex: false,
    });
    const expected = [{ a: 'http://127.0.0.1:8001/subscriber/x' }];
    for (const [template, data] of [
      ['{% pushserver_subscribe a="x" %}', perChannel],
      ['{{ pushserverSubscribe({a: "x"}) }}', perChannel],
      ['{% pushserver_subscribe {a: "x"}, {multiplex: false} %}', env],
      ['{{ pushserverSubscribe({a: "x"}, {multiplex: false}) }}', env],
    ] as const) {
      assert.deepEqual(runPage(data.renderString(template, {})).subscribed, expected, template);
    }
    const html = perChannel.renderString(
      '{% pushserver_subscribe {a: "x"}, {multiplex: true} %}',
      {},
    );
    assert.deepEqual(runPage(html).subscribed, [
      { a: renderedChannel('http://127.0.0.1:8001/subscriber/x') },
    ]);
  });

  test('data mode renders no executable inline script, with the nonce on the client tag', () => {
    const data = install(new nunjucks.Environment(null, { autoescape: true }), { mode: 'data' });
    const html = data.renderString('{% pushserver_subscribe main_channel=channel %}', {
      channel: id,
      cspNonce: NONCE,
    });
    assertDataMode(html, url, NONCE);
  });

  const bad: Array<[string, string, RegExp]> = [
    [
      '{% channel_url missing %}',
      'missing',
      /\{% channel_url %\}: the channel id is undefined; is the variable set/,
    ],
    ['{% channel_url "" %}', 'empty', /\{% channel_url %\}: the channel id is an empty string/],
    [
      '{% channel_url 42 %}',
      'a number',
      /\{% channel_url %\}: the channel id must be a string, got number 42/,
    ],
    [
      '{% channel_url long %}',
      'too long',
      /\{% channel_url %\}: the channel id is 1025 bytes long; the limit is 1024 bytes/,
    ],
    ['{{ channelUrl() }}', 'missing', /channelUrl\(\): the channel id is undefined/],
    [
      '{% pushserver_subscribe a="" %}',
      'empty',
      /\{% pushserver_subscribe %\} channel "a": the channel id is an empty string/,
    ],
    [
      '{% pushserver_subscribe %}',
      'no channels',
      /\{% pushserver_subscribe %\}: no channels given/,
    ],
    [
      '{% pushserver_subscribe "room-1" %}',
      'a string instead of channels',
      /\{% pushserver_subscribe %\}: the first argument must be an object of name → channel id, got string/,
    ],
    ['{% channel_url "a", "b" %}', 'two', /\{% channel_url %\} takes exactly one channel id/],
  ];
  for (const [template, what, message] of bad) {
    test(`${template} (${what}) fails naming the helper`, () => {
      assert.throws(() => env.renderString(template, { long: 'x'.repeat(1025) }), message);
    });
  }
});
