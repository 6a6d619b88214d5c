import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SettingsError } from '../../src/errors.ts';
import {
  type PushServerSettings,
  type ResolvedSettings,
  resolveSettings,
} from '../../src/settings/index.ts';

function failure(settings: unknown): string {
  try {
    resolveSettings(settings as PushServerSettings);
  } catch (error) {
    assert.ok(error instanceof SettingsError, `expected a SettingsError, got ${error}`);
    return error.message;
  }
  assert.fail('the settings were accepted');
}

describe('resolveSettings', () => {
  test('zero configuration: daemon on 127.0.0.1:8001, /publisher/ and /subscriber/, memory store', () => {
    const settings = resolveSettings();
    assert.equal(settings.port, 8001);
    assert.equal(settings.address, '127.0.0.1');
    assert.deepEqual(settings.publisherHost, { location: '127.0.0.1:8001', secure: false });
    assert.deepEqual(settings.subscriberHost, { location: '127.0.0.1:8001', secure: false });
    assert.deepEqual(
      settings.locations.map((l) => [l.type, l.pattern.source, l.store]),
      [
        ['publisher', '/publisher/', 'default'],
        ['subscriber', '/subscriber/', 'default'],
        ['subscriber', '/multi/', 'default'],
      ],
    );
    assert.deepEqual(settings.stores, {
      default: {
        type: 'memory',
        minMessages: 0,
        maxMessages: 10,
        messageTimeout: 3600,
        url: 'redis://127.0.0.1:6379',
        keyPrefix: 'pushserver:',
      },
    });
    assert.equal(settings.locations[0].maxBodySize, 8 * 1024 * 1024);
    assert.equal(settings.locations[1].createOnGet, true);
    assert.equal(settings.locations[1].allowOrigin, null);
    assert.equal(settings.locations[1].allowCredentials, true);
    assert.deepEqual(settings.publisherAllow, ['127.0.0.0/8', '::1']);
    assert.equal(settings.ignoreErrors, false);
    assert.equal(settings.servername, 'pushserver');
  });

  test('hosts default to the listen address; wildcard and IPv6 addresses become usable hosts', () => {
    assert.equal(resolveSettings({ port: 9000 }).subscriberHost.location, '127.0.0.1:9000');
    assert.equal(resolveSettings({ address: '0.0.0.0' }).subscriberHost.location, '127.0.0.1:8001');
    assert.equal(resolveSettings({ address: '::1' }).publisherHost.location, '[::1]:8001');
    assert.equal(resolveSettings({ address: '::' }).publisherHost.location, '[::1]:8001');
  });

  test('unknown keys are refused with a did-you-mean', () => {
    assert.equal(
      failure({ prot: 1 }),
      'pushserver settings: prot is not a known setting; did you mean "port"?',
    );
    assert.equal(
      failure({
        locations: [
          { type: 'subscriber', prefix: '/s/', alowOrigin: 'x' },
          { type: 'publisher', prefix: '/p/' },
        ],
      }),
      'pushserver settings: locations[0].alowOrigin is not a known setting; did you mean "allowOrigin"?',
    );
    assert.equal(
      failure({ store: { type: 'memory', maxMesages: 3 } }),
      'pushserver settings: store.maxMesages is not a known setting; did you mean "maxMessages"?',
    );
    assert.match(
      failure({ zzzzzzzz: 1 }),
      /^pushserver settings: zzzzzzzz is not a known setting; known keys: port, address/,
    );
    // A key of the other location type is unknown here, and says so.
    assert.match(
      failure({
        locations: [
          { type: 'publisher', prefix: '/p/', polling: 'long' },
          { type: 'subscriber', prefix: '/s/' },
        ],
      }),
      /^pushserver settings: locations\[0\]\.polling is not a known setting/,
    );
  });

  test("allowOrigin '*' with credentials is refused; without credentials it is fine", () => {
    assert.equal(
      failure({
        locations: [
          { type: 'publisher', prefix: '/p/' },
          { type: 'subscriber', prefix: '/s/', allowOrigin: '*' },
        ],
      }),
      'pushserver settings: locations[1].allowOrigin is "*" with allowCredentials: true; browsers refuse credentials with a wildcard origin. Name the origin, leave allowOrigin unset (echo the request Origin), or set allowCredentials: false',
    );
    const ok = resolveSettings({
      locations: [
        { type: 'publisher', prefix: '/p/' },
        { type: 'subscriber', prefix: '/s/', allowOrigin: '*', allowCredentials: false },
      ],
    });
    assert.equal(ok.locations[1].allowOrigin, '*');
  });

  test('a location url needs exactly one channel capture', () => {
    const withUrl = (url: string) => ({
      locations: [
        { type: 'publisher', url },
        { type: 'subscriber', prefix: '/s/' },
      ],
    });
    assert.equal(
      failure(withUrl('/x/(a)(b)')),
      'pushserver settings: locations[0].url "/x/(a)(b)" has 2 capture groups; a location needs exactly one (the channel id)',
    );
    assert.equal(
      failure(withUrl('/x/(?:a|b)/static')),
      'pushserver settings: locations[0].url "/x/(?:a|b)/static" has 0 capture groups; a location needs exactly one (the channel id)',
    );
    assert.equal(
      failure(withUrl('/x/static')),
      'pushserver settings: locations[0].url "/x/static" has 0 parameters; a location needs exactly one (the channel id), e.g. "/updates/:channel" or "/updates/([^/]+)"',
    );
    assert.equal(
      failure(withUrl('/x/:a/:b')),
      'pushserver settings: locations[0].url "/x/:a/:b" has 2 parameters; a location needs exactly one (the channel id), e.g. "/updates/:channel" or "/updates/([^/]+)"',
    );
    assert.equal(
      failure(withUrl('/x.*/([^/]+)')),
      'pushserver settings: locations[0].url "/x.*/([^/]+)" cannot be reversed into a URL: outside its capture group it may only hold literal text',
    );
    assert.match(
      failure(withUrl('/x/([a-)')),
      /^pushserver settings: locations\[0\]\.url "\/x\/\(\[a-\)" is not a valid regular expression: /,
    );
    assert.equal(
      failure({ locations: [{ type: 'publisher' }, { type: 'subscriber', prefix: '/s/' }] }),
      'pushserver settings: locations[0] needs exactly one of url or prefix',
    );
  });

  test('a location must name an existing store; store types are checked', () => {
    assert.equal(
      failure({
        locations: [
          { type: 'publisher', prefix: '/p/', store: 'fast' },
          { type: 'subscriber', prefix: '/s/' },
        ],
      }),
      'pushserver settings: locations[0].store is "fast" but no such store exists; the stores are "default"',
    );
    assert.equal(
      failure({ store: { type: 'mongo' } }),
      'pushserver settings: store.type is "mongo"; the store types are "memory" and "redis"',
    );
    assert.equal(
      failure({ store: { main: { type: 'memcache' } } }),
      'pushserver settings: store.main.type is "memcache"; the store types are "memory" and "redis"',
    );
    const named = resolveSettings({
      store: { main: { type: 'memory' }, shared: { type: 'redis', url: 'redis://10.0.0.1:6380' } },
      locations: [
        { type: 'publisher', prefix: '/p/', store: 'shared' },
        { type: 'subscriber', prefix: '/s/', store: 'shared' },
      ],
    });
    assert.equal(named.stores.shared.url, 'redis://10.0.0.1:6380');
    assert.equal(named.locations[0].store, 'shared');
  });

  test('ports out of range and other bad values', () => {
    assert.equal(
      failure({ port: 70000 }),
      'pushserver settings: port is 70000; it must be between 0 and 65535',
    );
    assert.equal(
      failure({ port: -1 }),
      'pushserver settings: port is -1; it must be between 0 and 65535',
    );
    assert.equal(
      failure({ port: 80.5 }),
      'pushserver settings: port is 80.5; it must be a whole number',
    );
    assert.equal(
      failure({ port: '8001' }),
      'pushserver settings: port must be a number, got "8001"',
    );
    assert.equal(
      failure({ ignoreErrors: 'yes' }),
      'pushserver settings: ignoreErrors must be true or false, got "yes"',
    );
    assert.equal(
      failure({ address: 'example.com' }),
      'pushserver settings: address is "example.com"; use an IP address such as "127.0.0.1", "0.0.0.0" or "::1"',
    );
    assert.equal(
      failure({ subscriberHost: { location: 'https://push.example.com' } }),
      'pushserver settings: subscriberHost.location is "https://push.example.com"; give host and port only, e.g. "push.example.com" or "127.0.0.1:8001"',
    );
    assert.equal(
      failure({ publisherAllow: ['10.0.0.0/33'] }),
      'pushserver settings: publisherAllow[0] "10.0.0.0/33" has a prefix length outside 0..32',
    );
    assert.equal(
      failure({ store: { type: 'memory', minMessages: 5, maxMessages: 2 } }),
      'pushserver settings: store.minMessages (5) is larger than maxMessages (2)',
    );
    assert.equal(
      failure({ locations: [{ type: 'publisher', prefix: '/p/' }] }),
      'pushserver settings: locations has no subscriber location; channel URLs need one',
    );
  });

  test('a left-out or null key takes its default, which passes the same checks', () => {
    const nulls = resolveSettings({
      store: null,
      locations: null,
      publisherHost: null,
      publisherAllow: null,
    } as unknown as PushServerSettings);
    // Patterns hold functions; their source stands for them.
    const comparable = (settings: ResolvedSettings) => ({
      ...settings,
      locations: settings.locations.map((l) => ({ ...l, pattern: l.pattern.source })),
    });
    assert.deepEqual(comparable(nulls), comparable(resolveSettings()));
    // A location's store defaults to "default", which a map of named stores may lack.
    assert.equal(
      failure({
        store: { main: { type: 'memory' } },
        locations: [
          { type: 'publisher', prefix: '/p/' },
          { type: 'subscriber', prefix: '/s/', store: 'main' },
        ],
      }),
      'pushserver settings: locations[0].store is "default" but no such store exists; the stores are "main"',
    );
  });

  test('keys of one store or location type are unknown to the other', () => {
    assert.equal(
      failure({ store: { type: 'memory', url: 'redis://h' } }),
      'pushserver settings: store.url is not a known setting; known keys: type, minMessages, maxMessages, messageTimeout',
    );
    assert.equal(
      failure({ store: { type: 'redis', url: 'http://h' } }),
      'pushserver settings: store.url is "http://h"; use a redis:// or rediss:// URL',
    );
    assert.equal(
      failure({
        locations: [
          { type: 'publisher', prefix: '/p/' },
          { type: 'subscriber', prefix: '/s/', maxBodySize: 1 },
        ],
      }),
      'pushserver settings: locations[1].maxBodySize is not a known setting; known keys: type, url, prefix, store, polling, createOnGet, allowOrigin, allowCredentials, passthrough, subscriberTimeout, transports, splitDelimiter, eventsourcePingInterval, websocketPingInterval, signed, authorize, authorizeTimeout, authorizeConcurrency',
    );
  });
});
