import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { compileLocation } from '../../src/channel/location-pattern.ts';
import {
  channelUrl,
  type MultiplexTarget,
  multiChannelUrl,
  multiplexTarget,
  publisherUrl,
} from '../../src/channel/urls.ts';
import { ChannelIdError } from '../../src/errors.ts';
import { resolveSettings } from '../../src/settings/index.ts';

const defaults = resolveSettings();

function idError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ChannelIdError, `expected a ChannelIdError, got ${error}`);
    return error.message;
  }
  assert.fail('no error');
}

describe('channelUrl and publisherUrl', () => {
  test('zero configuration', () => {
    assert.equal(channelUrl('news', defaults), 'http://127.0.0.1:8001/subscriber/news');
    assert.equal(publisherUrl('news', defaults), 'http://127.0.0.1:8001/publisher/news');
  });

  test('hosts from subscriberHost / publisherHost, https when secure', () => {
    const settings = resolveSettings({
      subscriberHost: { location: 'push.example.com', secure: true },
      publisherHost: { location: '10.0.0.5:8001' },
    });
    assert.equal(channelUrl('news', settings), 'https://push.example.com/subscriber/news');
    assert.equal(publisherUrl('news', settings), 'http://10.0.0.5:8001/publisher/news');
  });

  test('the first location of each type is reversed', () => {
    const settings = resolveSettings({
      locations: [
        { type: 'subscriber', url: '/updates/:channel/poll' },
        { type: 'publisher', url: '^/pub/(?P<channel>[^/]+)$' },
        { type: 'subscriber', prefix: '/other/' },
      ],
    });
    assert.equal(channelUrl('a b', settings), 'http://127.0.0.1:8001/updates/a%20b/poll');
    assert.equal(publisherUrl('a/b', settings), 'http://127.0.0.1:8001/pub/a%2Fb');
  });

  const oddIds: Array<[string, string]> = [
    ['sp ace', 'sp%20ace'],
    ['a/b', 'a%2Fb'],
    ['100%', '100%25'],
    ['a+b', 'a%2Bb'],
    ['what?', 'what%3F'],
    ['#tag', '%23tag'],
    ['café ✓', 'caf%C3%A9%20%E2%9C%93'],
    ['😀', '%F0%9F%98%80'],
    ['a&b=c', 'a%26b%3Dc'],
    ["it's", 'it%27s'],
  ];
  for (const [id, encoded] of oddIds) {
    test(`id ${JSON.stringify(id)} is one encoded path segment, and the daemon's match gives it back`, () => {
      const url = channelUrl(id, defaults);
      assert.equal(url, `http://127.0.0.1:8001/subscriber/${encoded}`);
      assert.equal(defaults.locations[1].pattern.match(new URL(url).pathname), id);
    });
  }

  test('ids of exactly 1024 bytes pass; 1025 bytes are refused (Nchan refuses them with 403)', () => {
    const ascii = 'x'.repeat(1024);
    assert.equal(channelUrl(ascii, defaults), `http://127.0.0.1:8001/subscriber/${ascii}`);
    // 341 three-byte characters + 1 = 1024 bytes: the limit counts UTF-8 bytes, not characters.
    const unicode = `${'✓'.repeat(341)}x`;
    assert.ok(channelUrl(unicode, defaults).endsWith('x'));
    assert.equal(
      idError(() => channelUrl('x'.repeat(1025), defaults)),
      'the channel id is 1025 bytes long; the limit is 1024 bytes',
    );
    assert.equal(
      idError(() => channelUrl(`${unicode}x`, defaults)),
      'the channel id is 1025 bytes long; the limit is 1024 bytes',
    );
  });

  test('empty and non-string ids are refused', () => {
    assert.equal(
      idError(() => channelUrl('', defaults)),
      'the channel id is an empty string',
    );
    assert.equal(
      idError(() => channelUrl(42 as unknown as string, defaults)),
      'the channel id must be a string, got number 42',
    );
    assert.equal(
      idError(() => publisherUrl(null as unknown as string, defaults)),
      'the channel id must be a string, got null',
    );
  });

  test('ids the capture group would not match are refused', () => {
    const settings = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/p/' },
        { type: 'subscriber', url: '/u/(\\d+)' },
      ],
    });
    assert.equal(channelUrl('42', settings), 'http://127.0.0.1:8001/u/42');
    assert.equal(
      idError(() => channelUrl('abc', settings)),
      'channel id "abc" does not match the location "/u/(\\d+)" (encoded as "abc")',
    );
  });
});

describe('compileLocation', () => {
  test('named parameter: one segment of the raw path', () => {
    const pattern = compileLocation({ url: '/updates/:channel' });
    assert.equal(pattern.match('/updates/a%2Fb'), 'a/b');
    assert.equal(pattern.match('/updates/a/b'), undefined);
    assert.equal(pattern.match('/other/a'), undefined);
    assert.equal(pattern.reverse('a/b'), '/updates/a%2Fb');
  });

  test('regular expressions: anchors, escapes, named and non-capturing groups', () => {
    const pattern = compileLocation({ url: '^/u\\.v/(?P<id>(?:ab|cd)[a-z]*)/end$' });
    assert.equal(pattern.match('/u.v/abc/end'), 'abc');
    assert.equal(pattern.match('/uXv/abc/end'), undefined);
    assert.equal(pattern.reverse('cdz'), '/u.v/cdz/end');
    assert.throws(
      () => compileLocation({ url: '/u/(?:x)?([a-z]+)' }),
      new Error(
        'cannot be reversed into a URL: outside its capture group it may only hold literal text',
      ),
    );
  });

  test('prefix: the rest of the path, slashes included (as ../shared/nchan)', () => {
    const pattern = compileLocation({ prefix: '/subscriber/' });
    assert.equal(pattern.match('/subscriber/a/b'), 'a/b');
    assert.equal(pattern.match('/subscriber/a%2Fb'), 'a/b');
    assert.equal(pattern.match('/subscriber/a+b'), 'a+b');
    assert.equal(pattern.match('/subscriber/'), undefined);
  });

  test('reverseParts: the literal text around the encoded id, which reverse joins', () => {
    const pattern = compileLocation({ url: '^/m/(?P<ids>[^/]+)/stream$' });
    assert.deepEqual(pattern.reverseParts('a b,c', ','), {
      before: '/m/',
      channel: 'a%20b,c',
      after: '/stream',
    });
    assert.equal(pattern.reverse('a b,c', ','), '/m/a%20b,c/stream');
    assert.deepEqual(compileLocation({ prefix: '/multi/' }).reverseParts("it's"), {
      before: '/multi/',
      channel: 'it%27s',
      after: '',
    });
  });

  test('a malformed escape in a request path throws URIError for the daemon to answer 400', () => {
    assert.throws(() => compileLocation({ prefix: '/s/' }).match('/s/%zz'), URIError);
  });
});

describe('multiChannelUrl and channelUrl([...])', () => {
  test('ids encoded one by one, joined with the location delimiter', () => {
    assert.equal(
      multiChannelUrl(['news', 'room 1'], defaults),
      'http://127.0.0.1:8001/multi/news,room%201',
    );
    assert.equal(channelUrl(['a', 'b'], defaults), 'http://127.0.0.1:8001/multi/a,b');
    const settings = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', prefix: '/sub/' },
        { type: 'subscriber', url: '/mux/:ids/stream', splitDelimiter: '+' },
      ],
    });
    assert.equal(
      multiChannelUrl(['a', 'b c'], settings),
      'http://127.0.0.1:8001/mux/a+b%20c/stream',
    );
  });

  test('refused: an id with the delimiter, none, more than 255, no multiplexed location', () => {
    assert.match(
      idError(() => multiChannelUrl(['a,b'], defaults)),
      /contains the delimiter ","/,
    );
    assert.match(
      idError(() => multiChannelUrl([], defaults)),
      /1 to 255 channel ids, got 0/,
    );
    const many = Array.from({ length: 256 }, (_, i) => String(i));
    assert.match(
      idError(() => multiChannelUrl(many, defaults)),
      /got 256/,
    );
    assert.match(
      idError(() => multiChannelUrl(['a', ''], defaults)),
      /empty string/,
    );
    const single = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', prefix: '/sub/' },
      ],
    });
    assert.match(
      idError(() => multiChannelUrl(['a'], single)),
      /no subscriber location has a splitDelimiter/,
    );
  });
});

describe('multiplexTarget', () => {
  /** The multiplexed URL the browser builds from the targets of `ids`. */
  function joined(ids: string[], settings = defaults): string {
    const targets = ids.map((id) => multiplexTarget(id, settings) as MultiplexTarget);
    const [{ prefix, suffix, delimiter }] = targets;
    for (const target of targets)
      assert.deepEqual([target.prefix, target.suffix], [prefix, suffix]);
    return prefix + targets.map((target) => target.id).join(delimiter) + suffix;
  }

  test('the default /multi/ location: prefix, empty suffix, the id as reverse encodes it', () => {
    assert.deepEqual(multiplexTarget('room 1', defaults), {
      prefix: 'http://127.0.0.1:8001/multi/',
      suffix: '',
      delimiter: ',',
      id: 'room%201',
    });
  });

  test('joined, the targets give exactly multiChannelUrl, odd ids included', () => {
    const ids = ['room 1', "it's", 'é', '</script>', '100%', 'a/b', '😀', '%2C', 'x%'];
    assert.equal(joined(ids), multiChannelUrl(ids, defaults));
    for (const id of ids) assert.equal(joined([id]), multiChannelUrl([id], defaults));
  });

  test('a regex location with a suffix and a two-character delimiter, on an https host', () => {
    const settings = resolveSettings({
      subscriberHost: { location: 'push.example.com', secure: true },
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', prefix: '/sub/' },
        { type: 'subscriber', url: '^/m/(?P<ids>[^/]+)/stream$', splitDelimiter: ';;' },
      ],
    });
    assert.deepEqual(multiplexTarget('a b', settings), {
      prefix: 'https://push.example.com/m/',
      suffix: '/stream',
      delimiter: ';;',
      id: 'a%20b',
    });
    const ids = ['a b', "it's", 'é', ';x', 'x;y'];
    assert.equal(joined(ids, settings), multiChannelUrl(ids, settings));
    assert.equal(
      joined(ids, settings),
      'https://push.example.com/m/a%20b;;it%27s;;%C3%A9;;%3Bx;;x%3By/stream',
    );
    // `x;` before the delimiter reads as `x` then `;;`: it cannot share the URL.
    assert.equal(multiplexTarget('x;', settings), null);
  });

  test('null: an id holding the delimiter, no multiplexed location, a pattern that refuses', () => {
    assert.equal(multiplexTarget('a,b', defaults), null);
    const single = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', prefix: '/sub/' },
      ],
    });
    assert.equal(multiplexTarget('a', single), null);
    const digits = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', url: '/m/([0-9,]+)', splitDelimiter: ',' },
      ],
    });
    assert.equal(multiplexTarget('abc', digits), null);
    assert.equal(multiplexTarget('12', digits)?.id, '12');
    const oneOnly = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/pub/' },
        { type: 'subscriber', url: '/m/([^,]+)', splitDelimiter: ',' },
      ],
    });
    assert.equal(multiplexTarget('a', oneOnly), null);
  });

  test('a bad id throws as channelUrl does', () => {
    assert.equal(
      idError(() => multiplexTarget('', defaults)),
      'the channel id is an empty string',
    );
  });
});
