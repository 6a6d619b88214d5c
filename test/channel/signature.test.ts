// Signed channel ids: what channelUrl, the helpers' multiplexed descriptors and the
// daemon's / middleware's check agree on (issue 18).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Eta } from 'eta';
import Handlebars from 'handlebars';
import nunjucks from 'nunjucks';
import {
  channelSignature,
  signedChannelQuery,
  verifyChannelSignatures,
} from '../../src/channel/signature.ts';
import { channelUrl, multiplexTarget, multiplexTargets } from '../../src/channel/urls.ts';
import { SettingsError } from '../../src/errors.ts';
import { etaHelpers } from '../../src/eta/index.ts';
import { registerHelpers } from '../../src/handlebars/index.ts';
import { install } from '../../src/nunjucks/index.ts';
import { resolveSettings } from '../../src/settings/index.ts';
import { subscriptionSnippet } from '../../src/snippet.ts';

const SECRET = 'k'.repeat(40);
const OLD = 'o'.repeat(40);
const settings = resolveSettings({ secret: [SECRET, OLD] });
const queryOf = (url: string) => new URL(url).search.slice(1);

describe('signed channel ids', () => {
  test('channelUrl signs the id; the signature verifies for that id only', () => {
    const url = channelUrl('user 7', { signed: true, settings });
    assert.match(url, /^http:\/\/127\.0\.0\.1:8001\/subscriber\/user%207\?sig=[\w-]{43}$/);
    assert.equal(verifyChannelSignatures(['user 7'], queryOf(url), [SECRET]), undefined);
    assert.equal(
      verifyChannelSignatures(['user 8'], queryOf(url), [SECRET]),
      'the channel URL has a wrong signature',
    );
    // Unsigned by default.
    assert.equal(channelUrl('user 7', settings), 'http://127.0.0.1:8001/subscriber/user%207');
  });

  test('expiresIn: valid until then, an expired or altered expiry is refused', () => {
    const now = Date.UTC(2030, 0, 1);
    const query = signedChannelQuery(['a'], SECRET, { expiresIn: 60, now });
    assert.equal(query.split('&')[0], `exp=${now / 1000 + 60}`);
    assert.equal(verifyChannelSignatures(['a'], query, [SECRET], now + 59_000), undefined);
    assert.match(
      verifyChannelSignatures(['a'], query, [SECRET], now + 60_000) ?? '',
      /has expired/,
    );
    const later = query.replace(/exp=\d+/, `exp=${now / 1000 + 3600}`);
    assert.match(verifyChannelSignatures(['a'], later, [SECRET], now) ?? '', /wrong signature/);
    assert.throws(() => signedChannelQuery(['a'], SECRET, { expiresIn: -1 }), RangeError);
  });

  test('missing, malformed and forged signatures; the answer never holds the expected one', () => {
    const expected = channelSignature('a', SECRET, null);
    for (const [query, problem] of [
      ['', /no signature/],
      ['sig=', /no signature/],
      ['sig=abc', /malformed/],
      ['sig=a&sig=b', /malformed/],
      [`exp=soon&sig=${expected}`, /malformed/],
      [`sig=${'A'.repeat(43)}`, /wrong signature/],
    ] as const) {
      const answer = verifyChannelSignatures(['a'], query, [SECRET]) ?? '';
      assert.match(answer, problem, query);
      assert.ok(!answer.includes(expected) && !answer.includes(SECRET));
    }
    assert.match(verifyChannelSignatures(['a'], `sig=${expected}`, []) ?? '', /malformed/);
  });

  test('key rotation: the first secret signs, every secret verifies', () => {
    const url = channelUrl('a', { signed: true, settings });
    assert.equal(queryOf(url), `sig=${channelSignature('a', SECRET, null)}`);
    const old = signedChannelQuery(['a'], OLD);
    assert.equal(verifyChannelSignatures(['a'], old, [SECRET, OLD]), undefined);
    assert.match(verifyChannelSignatures(['a'], old, [SECRET]) ?? '', /wrong/);
  });

  test('signing without a secret says how to set one', () => {
    assert.throws(
      () => channelUrl('a', { signed: true, settings: resolveSettings({}) }),
      (error: Error) => error instanceof SettingsError && /PUSHSERVER_SECRET/.test(error.message),
    );
  });

  test("a page's multiplexed channels share one signed suffix; any subset in any order verifies", () => {
    const targets = multiplexTargets(['a', 'b', 'c'], { signed: true, settings });
    const suffixes = new Set(targets.map((target) => target?.suffix));
    assert.equal(suffixes.size, 1);
    const first = targets[0];
    assert.ok(first);
    // As the browser client builds it, then adds its resume id with URLSearchParams
    // (which writes the commas as %2C).
    const url = new URL(`${first.prefix}c,a${first.suffix}`);
    url.searchParams.set('last_event_id', '1:[0],0');
    assert.equal(verifyChannelSignatures(['c', 'a'], url.search.slice(1), [SECRET]), undefined);
    assert.match(verifyChannelSignatures(['c', 'd'], url.search.slice(1), [SECRET]) ?? '', /wrong/);
    assert.equal(multiplexTarget('a', settings)?.suffix, '');
    const multi = channelUrl(['a', 'b'], { signed: true, settings });
    assert.equal(verifyChannelSignatures(['b', 'a'], queryOf(multi), [SECRET]), undefined);
  });

  test('subscriptionSnippet({signed}) renders signed URLs and one signed multiplexed suffix', () => {
    const html = subscriptionSnippet(
      { a: 'user-1', b: 'user-1-orders' },
      { settings, signed: { expiresIn: 600 } },
    );
    const json = JSON.parse(/subscribe\((.*)\);<\/script>$/.exec(html)?.[1] ?? '');
    for (const [name, id] of [
      ['a', 'user-1'],
      ['b', 'user-1-orders'],
    ]) {
      assert.equal(verifyChannelSignatures([id], queryOf(json[name].url), [SECRET]), undefined);
      assert.match(json[name].multiplex.suffix, /^\?exp=\d+&sig=[\w-]{43},[\w-]{43}$/);
    }
    assert.equal(json.a.multiplex.suffix, json.b.multiplex.suffix);
    assert.doesNotMatch(subscriptionSnippet({ a: 'x' }, { settings }), /sig=/);
  });

  test("every engine's helpers pass the one signed option to the core (README's forms)", () => {
    const env = new nunjucks.Environment();
    install(env, { settings });
    const handlebars = Handlebars.create();
    registerHelpers(handlebars, { settings });
    const rendered = [
      new Eta().renderString(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: eta source, as README writes it
        '<%~ it.pushserverSubscribe({ inbox: `user-${it.id}` }, { signed: { expiresIn: 3600 } }) %>',
        { ...etaHelpers({ settings }), id: 7 },
      ),
      env.renderString('{{ pushserverSubscribe({ inbox: "user-" + id }, { signed: true }) }}', {
        id: 7,
      }),
      env.renderString('{% stream_from "user-7", signed=true %}', {}),
      handlebars.compile('{{pushserverStreamFrom "user-7" signed=true}}')({}),
      handlebars.compile('{{{pushserverSubscribe channels sign}}}')({
        channels: { inbox: 'user-7' },
        sign: { signed: true },
      }),
    ];
    for (const html of rendered) {
      const url = /"url":"([^"]+)"/.exec(html)?.[1].replaceAll('\\u0026', '&') ?? '';
      assert.equal(verifyChannelSignatures(['user-7'], queryOf(url), [SECRET]), undefined, html);
    }
  });
});
