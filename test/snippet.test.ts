import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rememberPublished } from '../src/channel/start.js';
import { channelUrl, multiChannelUrl, publisherUrl } from '../src/channel/urls.js';
import { ChannelIdError } from '../src/errors.js';
import { resolveSettings } from '../src/settings/index.js';
import {
  contextNonce,
  createTemplateHelpers,
  helperSettings,
  helperSnippetOptions,
  type MultiplexedChannel,
  streamFromSnippet,
  subscriptionSnippet,
  templateChannelUrl,
} from '../src/snippet.js';
import {
  CHANNEL_CASES,
  expectedPage,
  inlineScripts,
  NONCE,
  parsePage,
  renderedChannel,
  runPage,
} from './fixtures/templates/page.js';

const SRC = '<script src="/static/pushserver/updates.js"></script>';
/** The rendered `room-1` under the default settings, written out. */
const ROOM_1 =
  '{"url":"http://127.0.0.1:8001/subscriber/room-1","multiplex":{"prefix":"http://127.0.0.1:8001/multi/","suffix":"","delimiter":",","id":"room-1"}}';
const X = renderedChannel('http://127.0.0.1:8001/subscriber/x');

describe('subscriptionSnippet, inline mode', () => {
  test('exact output for an ordinary id: the call a page without jQuery has', () => {
    const html = subscriptionSnippet({ main_channel: 'room-1' });
    assert.equal(
      html,
      `${SRC}\n<script>pushserver.updates.subscribe({"main_channel":${ROOM_1}});</script>`,
    );
    assert.deepEqual(runPage(html).subscribed, [
      {
        main_channel: {
          url: 'http://127.0.0.1:8001/subscriber/room-1',
          multiplex: {
            prefix: 'http://127.0.0.1:8001/multi/',
            suffix: '',
            delimiter: ',',
            id: 'room-1',
          },
        },
      },
    ]);
  });

  test("jquery: true renders the seed's $.updates call, which needs jQuery on the page", () => {
    const html = subscriptionSnippet({ main_channel: 'room-1' }, { jquery: true });
    assert.equal(html, `${SRC}\n<script>$.updates.subscribe({"main_channel":${ROOM_1}});</script>`);
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
        { nonce: 'n"o<n>ce', jquery: false, src: '/js/u.js?a=1&b="2"', multiplex: false },
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
        {
          main_channel: renderedChannel(url),
          other: renderedChannel('http://127.0.0.1:8001/subscriber/b'),
        },
      ]);
      assert.equal(resolveSettings().locations[1].pattern.match(new URL(url).pathname), id);
    });
  }

  test('hostile channel names are escaped in the JSON, not double-escaped', () => {
    const name = '</script><!--"\u2028';
    const html = subscriptionSnippet({ [name]: 'x' }, { multiplex: false });
    assert.equal(
      html,
      `${SRC}\n<script>pushserver.updates.subscribe({"\\u003C/script\\u003E\\u003C!--\\"\\u2028":"http://127.0.0.1:8001/subscriber/x"});</script>`,
    );
    assert.deepEqual(runPage(html).subscribed, [{ [name]: 'http://127.0.0.1:8001/subscriber/x' }]);
    assert.deepEqual(runPage(subscriptionSnippet({ [name]: 'x' })).subscribed, [{ [name]: X }]);
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
          a: renderedChannel('http://127.0.0.1:8001/subscriber/https%3A%2F%2Fevil.example%2Fx'),
          b: renderedChannel('http://127.0.0.1:8001/subscriber/HTTP%3A%2F%2Fx%2Fy'),
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
    const html = subscriptionSnippet({ main_channel: 'room-1' }, { mode: 'data', nonce: 'abc' });
    assert.equal(
      html,
      `<script type="application/json" data-pushserver-channels>{"main_channel":${ROOM_1}}</script>\n` +
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
      assert.deepEqual(JSON.parse(page.scripts[0].text), { [name]: renderedChannel(url) });
    });
  }
});

describe('multiplexed channels', () => {
  /** The channels a snippet subscribes to, read back as the client gets them. */
  const subscribed = (html: string) => runPage(html).subscribed[0] as Record<string, unknown>;
  /** The multiplexed URL a browser builds from rendered descriptors. */
  function joined(channels: unknown[]): string {
    const targets = channels.map((channel) => (channel as MultiplexedChannel).multiplex);
    const [{ prefix, suffix, delimiter }] = targets;
    return prefix + targets.map((target) => target.id).join(delimiter) + suffix;
  }

  test('ids with spaces, quotes and unicode: joined, the descriptors give multiChannelUrl', () => {
    const ids = ['room 1', "it's", 'é'];
    const channels = subscribed(subscriptionSnippet({ a: ids[0], b: ids[1], c: ids[2] }));
    assert.deepEqual(channels.b, {
      url: 'http://127.0.0.1:8001/subscriber/it%27s',
      multiplex: {
        prefix: 'http://127.0.0.1:8001/multi/',
        suffix: '',
        delimiter: ',',
        id: 'it%27s',
      },
    });
    const values = [channels.a, channels.b, channels.c];
    assert.equal(joined(values), multiChannelUrl(ids));
    assert.equal(joined([channels.c, channels.a]), multiChannelUrl(['é', 'room 1']));
    for (const [i, value] of values.entries()) {
      assert.equal((value as MultiplexedChannel).url, channelUrl(ids[i]));
    }
  });

  test('a regex multiplexed location: the prefix and suffix around the ids', () => {
    const settings = resolveSettings({
      subscriberHost: { location: 'push.example.com', secure: true },
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', url: '/sub/:channel' },
        { type: 'subscriber', url: '^/mux/(?P<ids>[^/]+)/stream$', splitDelimiter: '+' },
      ],
    });
    const channels = subscribed(subscriptionSnippet({ a: 'r 1', b: 'é' }, { settings }));
    assert.deepEqual(channels.a, {
      url: 'https://push.example.com/sub/r%201',
      multiplex: {
        prefix: 'https://push.example.com/mux/',
        suffix: '/stream',
        delimiter: '+',
        id: 'r%201',
      },
    });
    assert.equal(
      joined([channels.a, channels.b]),
      'https://push.example.com/mux/r%201+%C3%A9/stream',
    );
    assert.equal(joined([channels.a, channels.b]), multiChannelUrl(['r 1', 'é'], settings));
  });

  test('an id holding the delimiter and a {url} stay URL strings beside the others', () => {
    const url = 'https://push.example.com/sub/x';
    assert.deepEqual(subscribed(subscriptionSnippet({ a: 'x', b: 'a,b', c: { url } })), {
      a: X,
      b: 'http://127.0.0.1:8001/subscriber/a%2Cb',
      c: url,
    });
  });

  test('settings without a multiplexed location render URL strings', () => {
    const settings = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', prefix: '/sub/' },
      ],
    });
    assert.equal(
      subscriptionSnippet({ a: 'room-1' }, { settings }),
      `${SRC}\n<script>pushserver.updates.subscribe({"a":"http://127.0.0.1:8001/sub/room-1"});</script>`,
    );
  });

  test('multiplex: false renders URL strings (a connection per channel), in both modes', () => {
    assert.equal(
      subscriptionSnippet({ a: 'room-1' }, { multiplex: false }),
      `${SRC}\n<script>pushserver.updates.subscribe({"a":"http://127.0.0.1:8001/subscriber/room-1"});</script>`,
    );
    assert.equal(
      subscriptionSnippet({ a: 'room-1' }, { multiplex: false, mode: 'data' }),
      '<script type="application/json" data-pushserver-channels>{"a":"http://127.0.0.1:8001/subscriber/room-1"}</script>\n' +
        SRC,
    );
    assert.match(subscriptionSnippet({ a: 'room-1' }, { multiplex: true }), /"multiplex":/);
  });

  test('data mode renders the same JSON as the inline call', () => {
    const channels = { a: 'room 1', b: 'a,b', c: "it's" };
    const inline = /subscribe\((.*)\);<\/script>$/.exec(subscriptionSnippet(channels))?.[1];
    const data = parsePage(subscriptionSnippet(channels, { mode: 'data' })).scripts[0].text;
    assert.equal(data, inline);
  });

  for (const mode of ['inline', 'data'] as const) {
    test(`${mode} mode: </script> in a channel name or id cannot leave the script`, () => {
      const hostile = '</script><script>alert(1)</script>';
      const html = subscriptionSnippet({ [hostile]: hostile }, { mode });
      assert.equal(html.split('</script>').length - 1, 2);
      const page = parsePage(html);
      assert.equal(page.scripts.length, 2);
      const json = mode === 'data' ? page.scripts[0].text : inlineScripts(page)[0].text;
      const rendered = renderedChannel(CHANNEL_CASES[1].url);
      assert.equal(CHANNEL_CASES[1].id, hostile);
      assert.equal(
        json,
        `${mode === 'data' ? '' : 'pushserver.updates.subscribe('}{"\\u003C/script\\u003E\\u003Cscript\\u003Ealert(1)\\u003C/script\\u003E":${JSON.stringify(rendered)}}${mode === 'data' ? '' : ');'}`,
      );
      if (mode === 'inline') {
        const { subscribed: calls, alerts } = runPage(html);
        assert.deepEqual(calls, [{ [hostile]: rendered }]);
        assert.deepEqual(alerts, []);
      } else {
        assert.deepEqual(JSON.parse(json), { [hostile]: rendered });
      }
    });
  }
});

describe("start: 'render' (stream_from's default): the page starts after its render", () => {
  /** 2026-12-04T06:11:04.500Z: the render's second is 1796364664. */
  const NOW = 1_796_364_664_500;
  const SECOND = 1_796_364_664;
  const channelsOf = (html: string) =>
    JSON.parse(/subscribe\((.*)\);<\/script>$/.exec(html)?.[1] ?? 'null') as Record<
      string,
      { url: string; after?: string; multiplex?: unknown }
    >;

  test("each channel carries the render's second; {url} and URL-string channels too", (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const html = subscriptionSnippet(
      { a: 'start-a', b: 'start-b', far: { url: 'https://push.example.com/sub/x' } },
      { start: 'render' },
    );
    const channels = channelsOf(html);
    assert.deepEqual(channels.far, {
      url: 'https://push.example.com/sub/x',
      after: `${SECOND}:-`,
    });
    assert.equal(channels.a.after, `${SECOND}:-`);
    assert.equal(channels.b.after, `${SECOND}:-`);
    assert.ok(channels.a.multiplex, 'the multiplexed place stays');
    assert.deepEqual(
      channelsOf(subscriptionSnippet({ a: 'start-a' }, { start: 'render', multiplex: false })),
      { a: { url: channelUrl('start-a'), after: `${SECOND}:-` } },
    );
    // The default stays the seed's: from the oldest, no `after`.
    assert.equal(channelsOf(subscriptionSnippet({ a: 'start-a' })).a.after, undefined);
  });

  test("this process's own publish in the render's second, or later, is where the page starts", (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    rememberPublished(publisherUrl('start-own'), `${SECOND}:2`);
    // An older answer arriving last (concurrent publishes) does not move it back.
    rememberPublished(publisherUrl('start-own'), `${SECOND}:1`);
    rememberPublished(publisherUrl('start-old'), `${SECOND - 1}:7`);
    rememberPublished(publisherUrl('start-ahead'), `${SECOND + 1}:0`);
    rememberPublished(publisherUrl('start-bad'), 'not an id');
    const channels = channelsOf(
      streamFromSnippet(['start-own', 'start-old', 'start-ahead', 'start-bad']),
    );
    assert.deepEqual(
      Object.fromEntries(Object.entries(channels).map(([name, value]) => [name, value.after])),
      {
        'start-own': `${SECOND}:2`,
        'start-old': `${SECOND}:-`,
        'start-ahead': `${SECOND + 1}:0`,
        'start-bad': `${SECOND}:-`,
      },
    );
  });

  test("another daemon's publish to the same id does not count", (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const other = resolveSettings({ publisherHost: { location: '10.0.0.5:8001' } });
    rememberPublished(publisherUrl('start-other', other), `${SECOND}:4`);
    assert.equal(
      channelsOf(streamFromSnippet(['start-other']))['start-other'].after,
      `${SECOND}:-`,
    );
  });

  test('a channel id no publisher location here takes starts at the render second', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const settings = resolveSettings({
      locations: [
        { type: 'publisher', url: '/pub/(\\d+)' },
        { type: 'subscriber', prefix: '/sub/' },
      ],
    });
    assert.deepEqual(channelsOf(streamFromSnippet(['abc', '42'], { settings, multiplex: false })), {
      abc: { url: 'http://127.0.0.1:8001/sub/abc', after: `${SECOND}:-` },
      42: { url: 'http://127.0.0.1:8001/sub/42', after: `${SECOND}:-` },
    });
  });

  test("stream_from takes start: 'oldest'; a bad start names the helper", () => {
    const html = streamFromSnippet(['start-a'], { start: 'oldest' });
    assert.equal(html, subscriptionSnippet({ 'start-a': 'start-a' }));
    assert.throws(
      () =>
        streamFromSnippet(['start-a'], { start: 'newest' as never, helper: '{% stream_from %}' }),
      /^TypeError: \{% stream_from %\}: start must be "oldest" or "render", got "newest"$/,
    );
  });
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
    const perChannel = { pushserverOptions: { multiplex: false } };
    assert.equal(helperSnippetOptions(perChannel, {}, undefined, 'h').multiplex, false);
    assert.equal(
      helperSnippetOptions(perChannel, { multiplex: true }, undefined, 'h').multiplex,
      true,
    );
    assert.equal(
      helperSnippetOptions({}, { multiplex: true }, { multiplex: false }, 'h').multiplex,
      false,
    );
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
