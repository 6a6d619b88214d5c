import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ChannelIdError } from '../src/errors.js';
import { resolveSettings } from '../src/settings/index.js';
import {
  contextNonce,
  createTemplateHelpers,
  helperSettings,
  helperSnippetOptions,
  subscriptionSnippet,
  templateChannelUrl,
} from '../src/snippet.js';
import {
  CHANNEL_CASES,
  expectedPage,
  inlineScripts,
  NONCE,
  parsePage,
  runPage,
} from './fixtures/templates/page.js';

const SRC = '<script src="/static/pushserver/updates.js"></script>';

describe('subscriptionSnippet, inline mode', () => {
  test('exact output for an ordinary id: the call a page without jQuery has', () => {
    const html = subscriptionSnippet({ main_channel: 'room-1' });
    assert.equal(
      html,
      `${SRC}\n<script>pushserver.updates.subscribe({"main_channel":"http://127.0.0.1:8001/subscriber/room-1"});</script>`,
    );
    assert.deepEqual(runPage(html).subscribed, [
      { main_channel: 'http://127.0.0.1:8001/subscriber/room-1' },
    ]);
  });

  test("jquery: true renders the seed's $.updates call, which needs jQuery on the page", () => {
    const html = subscriptionSnippet({ main_channel: 'room-1' }, { jquery: true });
    assert.equal(
      html,
      `${SRC}\n<script>$.updates.subscribe({"main_channel":"http://127.0.0.1:8001/subscriber/room-1"});</script>`,
    );
    assert.throws(() => runPage(html), /\$ is not defined/);
    const subscribed: unknown[] = [];
    runPage(html, {
      $: { updates: { subscribe: (channels: unknown) => subscribed.push(channels) } },
    });
    assert.equal(subscribed.length, 1);
  });

  test('nonce on both tags, jquery: false, src escaped for its attribute', () => {
    assert.equal(
      subscriptionSnippet(
        { a: 'x' },
        { nonce: 'n"o<n>ce', jquery: false, src: '/js/u.js?a=1&b="2"' },
      ),
      '<script src="/js/u.js?a=1&amp;b=&quot;2&quot;" nonce="n&quot;o&lt;n&gt;ce"></script>\n' +
        '<script nonce="n&quot;o&lt;n&gt;ce">pushserver.updates.subscribe({"a":"http://127.0.0.1:8001/subscriber/x"});</script>',
    );
    const page = parsePage(
      subscriptionSnippet({ a: 'x' }, { nonce: 'n"o<n>ce', src: '/u.js?a&b' }),
    );
    assert.deepEqual(
      page.scripts.map((script) => script.attrs),
      [{ src: '/u.js?a&b', nonce: 'n"o<n>ce' }, { nonce: 'n"o<n>ce' }],
    );
  });

  for (const { label, id, url } of CHANNEL_CASES) {
    test(`${label} id: parsed and run, subscribes to exactly ${url}`, () => {
      const html = subscriptionSnippet({ main_channel: id, other: 'b' });
      const { subscribed, alerts, page } = runPage(html);
      assert.equal(page.scripts.length, 2);
      assert.deepEqual(page.handlers, []);
      assert.deepEqual(alerts, []);
      assert.deepEqual(subscribed, [
        { main_channel: url, other: 'http://127.0.0.1:8001/subscriber/b' },
      ]);
      assert.equal(resolveSettings().locations[1].pattern.match(new URL(url).pathname), id);
    });
  }

  test('hostile channel names are escaped in the JSON, not double-escaped', () => {
    const name = '</script><!--"\u2028';
    const html = subscriptionSnippet({ [name]: 'x' });
    assert.equal(
      html,
      `${SRC}\n<script>pushserver.updates.subscribe({"\\u003C/script\\u003E\\u003C!--\\"\\u2028":"http://127.0.0.1:8001/subscriber/x"});</script>`,
    );
    assert.deepEqual(runPage(html).subscribed, [{ [name]: 'http://127.0.0.1:8001/subscriber/x' }]);
  });

  test('only {url} is a URL, used as is (and escaped for the script)', () => {
    const url = 'https://push.example.com/sub/</script>?a=1&b=2';
    const { subscribed, page } = runPage(
      subscriptionSnippet({ a: { url }, b: { url: 'HTTP://x/y' } }),
    );
    assert.equal(page.scripts.length, 2);
    assert.deepEqual(subscribed, [{ a: url, b: 'HTTP://x/y' }]);
  });

  test('a string that looks like a URL is a channel id on the configured subscriber host', () => {
    assert.deepEqual(
      runPage(subscriptionSnippet({ a: 'https://evil.example/x', b: 'HTTP://x/y' })).subscribed,
      [
        {
          a: 'http://127.0.0.1:8001/subscriber/https%3A%2F%2Fevil.example%2Fx',
          b: 'http://127.0.0.1:8001/subscriber/HTTP%3A%2F%2Fx%2Fy',
        },
      ],
    );
  });

  for (const [url, got] of [
    ['javascript:alert(1)', '"javascript:alert(1)"'],
    ['//evil.example/x', '"//evil.example/x"'],
    [5, 'number 5'],
    [undefined, 'undefined'],
  ] as const) {
    test(`{url: ${JSON.stringify(url)}} is refused naming the helper and the channel`, () => {
      assert.throws(() => subscriptionSnippet({ a: { url: url as never } }, { helper: 'h()' }), {
        name: 'TypeError',
        message: `h() channel "a": url must be an absolute http(s) URL, e.g. {url: "https://push.example.com/sub/x"}; got ${got}`,
      });
    });
  }

  test('uses the given settings', () => {
    const settings = resolveSettings({
      subscriberHost: { location: 'push.example.com', secure: true },
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', url: '/updates/:channel' },
      ],
    });
    assert.deepEqual(runPage(subscriptionSnippet({ a: 'r 1' }, { settings })).subscribed, [
      { a: 'https://push.example.com/updates/r%201' },
    ]);
  });
});

describe('subscriptionSnippet, data mode', () => {
  test('exact output: the data block first, then the client; nothing executable inline', () => {
    const html = subscriptionSnippet(
      { main_channel: '</script><script>alert(1)</script>' },
      { mode: 'data', nonce: 'abc' },
    );
    assert.equal(
      html,
      '<script type="application/json" data-pushserver-channels>{"main_channel":"http://127.0.0.1:8001/subscriber/%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"}</script>\n' +
        '<script src="/static/pushserver/updates.js" nonce="abc"></script>',
    );
    const page = parsePage(html);
    assert.deepEqual(inlineScripts(page), []);
    assert.equal(page.scripts.length, 2);
    assert.deepEqual(page.scripts[0].attrs, {
      type: 'application/json',
      'data-pushserver-channels': '',
    });
  });

  for (const { label, id, url } of CHANNEL_CASES) {
    test(`${label} id: the data block parses to exactly ${url}`, () => {
      const name = `n ${id}`;
      const page = parsePage(subscriptionSnippet({ [name]: id }, { mode: 'data' }));
      assert.equal(page.scripts.length, 2);
      assert.deepEqual(inlineScripts(page), []);
      assert.deepEqual(JSON.parse(page.scripts[0].text), { [name]: url });
    });
  }
});

describe('errors name the helper and the problem', () => {
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /^x\(\) channel "c": the channel id is undefined; is the variable set/],
    [null, /^x\(\) channel "c": the channel id must be a string, got null$/],
    [42, /^x\(\) channel "c": the channel id must be a string, got number 42$/],
    [{}, /^x\(\) channel "c": the channel id must be a string, got an object$/],
    ['', /^x\(\) channel "c": the channel id is an empty string$/],
    [
      'é'.repeat(513),
      /^x\(\) channel "c": the channel id is 1026 bytes long; the limit is 1024 bytes$/,
    ],
  ];
  for (const [value, message] of cases) {
    test(`subscriptionSnippet with ${JSON.stringify(value)?.slice(0, 20)}`, () => {
      assert.throws(
        () => subscriptionSnippet({ c: value as string }, { helper: 'x()' }),
        (error: Error) => error instanceof ChannelIdError && message.test(error.message),
      );
    });
  }

  test('templateChannelUrl names the helper; a pattern mismatch keeps the pattern reason', () => {
    assert.throws(() => templateChannelUrl('', '{% channel_url %}'), {
      name: 'ChannelIdError',
      message: '{% channel_url %}: the channel id is an empty string',
    });
    const settings = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', url: '/u/(\\d+)' },
      ],
    });
    assert.throws(() => templateChannelUrl('abc', 'h', settings), {
      name: 'ChannelIdError',
      message: /^h: channel id "abc" does not match the location/,
    });
  });

  test('no channels, not an object, bad mode', () => {
    assert.throws(() => subscriptionSnippet({}), /subscriptionSnippet\(\): no channels given/);
    assert.throws(
      () => subscriptionSnippet('room' as never),
      /channels must be an object of name → channel id, got string/,
    );
    assert.throws(
      () => subscriptionSnippet({ a: 'b' }, { mode: 'module' as never }),
      /mode must be "inline" or "data", got "module"/,
    );
  });
});

describe('templateChannelUrl', () => {
  for (const { label, id, url } of CHANNEL_CASES) {
    test(`${label} id gives ${url}`, () => {
      assert.equal(templateChannelUrl(id, 'h'), url);
      assert.doesNotMatch(templateChannelUrl(id, 'h'), /[&<>"']/);
    });
  }
});

describe('helperSnippetOptions', () => {
  test('middleware options < engine options < cspNonce < call options; undefined keys fall through', () => {
    const context = {
      cspNonce: 'ctx',
      pushserverOptions: { mode: 'data', src: '/m.js', jquery: true },
    };
    assert.deepEqual(
      helperSnippetOptions(context, { src: '/e.js', mode: undefined }, undefined, 'h'),
      { mode: 'data', src: '/e.js', jquery: true, nonce: 'ctx', helper: 'h' },
    );
    assert.deepEqual(
      helperSnippetOptions(context, { src: '/e.js' }, { nonce: undefined, jquery: false }, 'h'),
      { mode: 'data', src: '/e.js', jquery: false, nonce: 'ctx', helper: 'h' },
    );
    assert.deepEqual(helperSnippetOptions(undefined, {}, undefined, 'h'), { helper: 'h' });
  });

  test("helperSettings: the engine's, else the middleware's from the render data", () => {
    const mine = resolveSettings({ port: 1 }, 'test');
    const theirs = resolveSettings({ port: 2 }, 'test');
    const context = { pushserverOptions: { settings: theirs } };
    assert.equal(helperSettings(context, { settings: mine }), mine);
    assert.equal(helperSettings(context, {}), theirs);
    assert.equal(helperSettings({}, {}), undefined);
  });
});

describe('createTemplateHelpers', () => {
  test('pushserverSubscribe takes the nonce from this.cspNonce, the call overrides it', () => {
    const helpers = createTemplateHelpers({ jquery: false });
    const it = { ...helpers, cspNonce: 'ctx' };
    assert.match(
      it.pushserverSubscribe({ a: 'b' }),
      /^<script src="[^"]+" nonce="ctx"><\/script>\n<script nonce="ctx">pushserver\./,
    );
    assert.match(it.pushserverSubscribe({ a: 'b' }, { nonce: 'own' }), /nonce="own"/);
    assert.doesNotMatch(helpers.pushserverSubscribe({ a: 'b' }), /nonce/);
    assert.equal(helpers.channelUrl("it's"), 'http://127.0.0.1:8001/subscriber/it%27s');
    assert.equal(helpers.escapejs('<'), '\\u003C');
    assert.throws(
      () => helpers.channelUrl(undefined as never),
      /^ChannelIdError: channelUrl\(\): the channel id is undefined/,
    );
  });

  test('contextNonce reads a non-empty string cspNonce only', () => {
    assert.equal(contextNonce({ cspNonce: 'a' }), 'a');
    assert.equal(contextNonce({ cspNonce: '' }), undefined);
    assert.equal(contextNonce({ cspNonce: 1 }), undefined);
    assert.equal(contextNonce(undefined), undefined);
  });
});

describe('README templates section', () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const section = readme.slice(
    readme.indexOf('<!-- section: templates -->'),
    readme.indexOf('<!-- /section: templates -->'),
  );
  const fixtures = join(import.meta.dirname, 'fixtures', 'templates');

  for (const file of ['nunjucks/page.njk', 'handlebars/page.hbs', 'eta/page.eta']) {
    test(`shows ${file} verbatim (the template the engine tests render)`, () => {
      const template = readFileSync(join(fixtures, file), 'utf8');
      assert.ok(section.includes(`\n${template}\`\`\`\n`), `${file} is not in the README`);
    });
  }

  test('shows the rendered page and the data-mode snippet exactly', () => {
    const { url } = CHANNEL_CASES[0];
    assert.ok(section.includes(`\`\`\`html\n${expectedPage(url, NONCE)}\n\`\`\``));
    const data = subscriptionSnippet({ main_channel: 'room-1' }, { mode: 'data', nonce: NONCE });
    assert.ok(section.includes(`\`\`\`html\n${data}\n\`\`\``));
  });
});
