import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Eta } from 'eta';
import { Eta as Eta3 } from 'eta3';
import express from 'express';
import {
  type EtaRenderer,
  etaEngine,
  etaHelpers,
  loadPartials,
  withPushserverHelpers,
} from '../../src/eta/index.js';
import pushserver from '../../src/express/index.js';
import {
  assertDataMode,
  assertPage,
  assertServedPages,
  CHANNEL_CASES,
  listen,
  NONCE,
  pageRoute,
  parsePage,
  renderedChannel,
  runPage,
} from '../fixtures/templates/page.js';

const VIEWS = join(import.meta.dirname, '..', 'fixtures', 'templates', 'eta');
// eta's default autoTrim drops the newline after the last tag.
const ENDING = '';

const VERSIONS: Record<string, new (config?: { views?: string }) => EtaRenderer> = {
  'eta 4': Eta,
  'eta 3': Eta3,
};

for (const [version, EtaClass] of Object.entries(VERSIONS)) {
  describe(`${version}: page.eta rendered directly`, () => {
    const plain = new EtaClass({ views: VIEWS });
    const Subclass = withPushserverHelpers(EtaClass);
    const subclassed = new Subclass({ views: VIEWS });
    for (const { label, id, url } of CHANNEL_CASES) {
      for (const nonce of [undefined, NONCE]) {
        const name = `${label} id, ${nonce ? 'with' : 'no'} nonce`;
        test(`helper object: ${name}`, () => {
          const html = plain.render('page', { ...etaHelpers(), channel: id, cspNonce: nonce });
          assertPage(html, url, nonce, ENDING);
        });
        test(`withPushserverHelpers(Eta): ${name}`, async () => {
          assertPage(
            subclassed.render('page', { channel: id, cspNonce: nonce }),
            url,
            nonce,
            ENDING,
          );
          const async = await subclassed.renderAsync('page', { channel: id, cspNonce: nonce });
          assertPage(async, url, nonce, ENDING);
        });
      }
    }
  });

  describe(`${version} through Express 5 with etaEngine`, async () => {
    const app = express();
    app.use(pushserver());
    app.engine('eta', etaEngine(new EtaClass({ views: VIEWS })));
    app.set('views', VIEWS);
    app.set('view engine', 'eta');
    app.get('/page', pageRoute);
    const server = await listen(app);
    after(server.close);

    for (const { label, id, url } of CHANNEL_CASES) {
      test(`${label} id`, async () => {
        await assertServedPages(server.base, id, url, ENDING);
      });
    }
  });

  describe(`${version} helpers`, () => {
    const eta = new (withPushserverHelpers(EtaClass, { mode: 'data' }))({ views: VIEWS });
    const { id, url } = CHANNEL_CASES[1];

    test('the partial renders the same snippet as the helper', () => {
      const inline = new (withPushserverHelpers(EtaClass))();
      const data = { channels: { main_channel: id, b: 'x' }, cspNonce: NONCE };
      // eta 3's include passes only the data it is given, so pass the nonce along.
      const partial = inline.renderString(
        `<%~ include('@pushserver/subscribe', { channels: it.channels, cspNonce: it.cspNonce }) %>`,
        data,
      );
      assert.equal(
        partial,
        inline.renderString('<%~ it.pushserverSubscribe(it.channels) %>', data),
      );
      assert.match(partial, /^<script src="[^"]+" nonce="r4nd0mN0nce"><\/script>\n<script nonce/);
      assert.deepEqual(runPage(partial).subscribed, [
        {
          main_channel: renderedChannel(url),
          b: renderedChannel('http://127.0.0.1:8001/subscriber/x'),
        },
      ]);
    });

    test('loadPartials works on a plain Eta given the helpers', () => {
      const plain = loadPartials(new EtaClass());
      const html = plain.renderString(`<%~ include('@pushserver/subscribe', it) %>`, {
        ...etaHelpers({ jquery: false, multiplex: false }),
        channels: { a: 'b' },
      });
      assert.match(html, /pushserver\.updates\.subscribe\(\{"a":"[^"]+\/b"\}\);<\/script>$/);
    });

    test('data mode renders no executable inline script, with the nonce on the client tag', () => {
      const html = eta.renderString('<%~ it.pushserverSubscribe({ main_channel: it.channel }) %>', {
        channel: id,
        cspNonce: NONCE,
      });
      assertDataMode(html, url, NONCE);
    });

    test('a URL only as {url: ...}; a URL-shaped string is a channel id', () => {
      const html = eta.renderString(
        '<%~ it.pushserverSubscribe({ feed: { url: it.feed }, main: it.channel }) %>',
        { feed: 'https://push.example.com/sub/x', channel: 'https://evil.example/x' },
      );
      assert.deepEqual(JSON.parse(parsePage(html).scripts[0].text), {
        feed: 'https://push.example.com/sub/x',
        main: renderedChannel('http://127.0.0.1:8001/subscriber/https%3A%2F%2Fevil.example%2Fx'),
      });
    });

    test('multiplex: false from withPushserverHelpers, or from the call, renders URL strings', () => {
      const expected = [{ a: 'http://127.0.0.1:8001/subscriber/x' }];
      const perChannel = new (withPushserverHelpers(EtaClass, { multiplex: false }))();
      for (const template of [
        '<%~ it.pushserverSubscribe({ a: "x" }) %>',
        `<%~ include('@pushserver/subscribe', { channels: { a: "x" } }) %>`,
      ]) {
        assert.deepEqual(runPage(perChannel.renderString(template, {})).subscribed, expected);
      }
      const inline = new (withPushserverHelpers(EtaClass))();
      const call = inline.renderString(
        '<%~ it.pushserverSubscribe({ a: "x" }, { multiplex: false }) %>',
        {},
      );
      assert.deepEqual(runPage(call).subscribed, expected);
    });

    test('escapejs through <%= %> and <%~ %> is the same text', () => {
      assert.equal(
        eta.renderString('<%= it.escapejs(it.v) %>|<%~ it.escapejs(it.v) %>', { v: `</script>"'` }),
        '\\u003C/script\\u003E\\u0022\\u0027|\\u003C/script\\u003E\\u0022\\u0027',
      );
      // `$` too, so a template literal does not run `${...}`.
      assert.equal(eta.renderString('<%= it.escapejs(it.v) %>', { v: 'a$b' }), 'a\\u0024b');
    });

    const bad: Array<[string, string, RegExp]> = [
      [
        '<%= it.channelUrl(it.missing) %>',
        'missing',
        /channelUrl\(\): the channel id is undefined; is the variable set/,
      ],
      ['<%= it.channelUrl("") %>', 'empty', /channelUrl\(\): the channel id is an empty string/],
      [
        '<%= it.channelUrl(42) %>',
        'a number',
        /channelUrl\(\): the channel id must be a string, got number 42/,
      ],
      [
        '<%= it.channelUrl(it.long) %>',
        'too long',
        /channelUrl\(\): the channel id is 1025 bytes long/,
      ],
      [
        '<%~ it.pushserverSubscribe({ a: "" }) %>',
        'empty',
        /pushserverSubscribe\(\) channel "a": the channel id is an empty string/,
      ],
      [
        '<%~ it.pushserverSubscribe() %>',
        'no channels',
        /pushserverSubscribe\(\): channels must be an object/,
      ],
    ];
    for (const [template, what, message] of bad) {
      test(`${template} (${what}) fails naming the helper`, () => {
        assert.throws(() => eta.renderString(template, { long: 'x'.repeat(1025) }), message);
      });
    }
  });
}

describe('etaEngine', async () => {
  const app = express();
  app.engine('eta', etaEngine(new Eta({ views: VIEWS })));
  app.set('views', VIEWS);
  app.get('/outside', (_req, res) => {
    res.render(join(VIEWS, '..', 'outside.eta'));
  });
  app.use(
    (error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).type('text/plain').send(error.message);
    },
  );
  const server = await listen(app);
  after(server.close);

  test('a view outside eta.config.views fails with the fix', async () => {
    const response = await fetch(`${server.base}/outside`);
    assert.equal(response.status, 500);
    assert.equal(
      await response.text(),
      `etaEngine: view ${join(VIEWS, '..', 'outside.eta')} is not inside eta's views folder (${VIEWS}); create Eta with { views: app.get('views') }`,
    );
  });
});
