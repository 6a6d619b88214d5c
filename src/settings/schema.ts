/**
 * The settings schema as data: every key a user may write, with its default and its
 * check, written once per table (host, store, location, then the top level that uses
 * them). `resolveSettings` walks these tables; `validate.ts` says how a table is read.
 *
 * @module
 */
import { isIP } from 'node:net';
import { compileLocation, type LocationPattern } from '../channel/location-pattern.js';
import { checkRange, LOOPBACK_RANGES } from '../ip.js';
import type {
  HostSettings,
  LocationSettings,
  PushServerSettings,
  ResolvedLocation,
  ResolvedSettings,
  ResolvedStore,
  StoreSettings,
  SubscriberTransport,
} from './types.js';
import {
  asString,
  booleanKey,
  type Context,
  choiceKey,
  integerKey,
  isPlainObject,
  newContext,
  numberKey,
  objectKey,
  resolveObject,
  stringKey,
  type Table,
} from './validate.js';

/** Port the daemon listens on when the settings name none. */
export const DEFAULT_PORT = 8001;
/** Shortest `secret` accepted: 32 characters of a random base64url string are 192 bits. */
export const MIN_SECRET_LENGTH = 32;
/** Address the daemon listens on when the settings name none. */
export const DEFAULT_ADDRESS = '127.0.0.1';

/** `publisherHost` and `subscriberHost`: by default the daemon's own address and port. */
const HOST: Table<HostSettings, Required<HostSettings>> = {
  keys: {
    location: stringKey({
      default: ({ settings }) => hostPort(settings.address!, settings.port!),
      check: (location) =>
        /^[a-z]+:\/\//i.test(location) || location.includes('/')
          ? `is "${location}"; give host and port only, e.g. "push.example.com" or "127.0.0.1:8001"`
          : undefined,
    }),
    secure: booleanKey({ default: false }),
  },
};

/** One store; `url` and `keyPrefix` exist for Redis only. */
const STORE: Table<StoreSettings, ResolvedStore> = {
  variant: 'type',
  notObject: 'must be an object such as {type: "memory"}',
  keys: {
    type: choiceKey(['memory', 'redis'], 'the store types are "memory" and "redis"'),
    url: {
      ...stringKey({
        default: 'redis://127.0.0.1:6379',
        check: (url) =>
          /^rediss?:\/\//.test(url) ? undefined : `is "${url}"; use a redis:// or rediss:// URL`,
      }),
      only: ['redis'],
    },
    keyPrefix: { ...stringKey({ default: 'pushserver:' }), only: ['redis'] },
    minMessages: integerKey({ default: 0, min: 0 }),
    maxMessages: integerKey({ default: 10, min: 1 }),
    messageTimeout: numberKey({ default: 3600, min: 0 }),
  },
  finish(resolved, path, context) {
    const store = resolved as unknown as ResolvedStore;
    if (store.minMessages > store.maxMessages) {
      context.fail(
        `${path}.minMessages`,
        `(${store.minMessages}) is larger than maxMessages (${store.maxMessages})`,
      );
    }
    return store;
  },
};

const TRANSPORTS: SubscriberTransport[] = ['longpoll', 'eventsource', 'websocket'];
const TRANSPORT_NAMES = '"longpoll", "eventsource" and "websocket"';

const PUBLISHER = ['publisher'] as const;
const SUBSCRIBER = ['subscriber'] as const;

/** A subscriber location's URL of the app (passthrough, authorize): http(s), or null for none. */
const appUrlKey = {
  default: null,
  only: SUBSCRIBER,
  check(value: unknown, path: string, context: Context) {
    if (value !== null && (typeof value !== 'string' || !/^https?:\/\//.test(value)))
      context.fail(path, `is ${JSON.stringify(value)}; use an http:// or https:// URL`);
    return value;
  },
};

/** One location; some keys exist for one type only. Exactly one of `url` and `prefix`. */
const LOCATION: Table<LocationSettings, ResolvedLocation> = {
  variant: 'type',
  keys: {
    type: choiceKey(['publisher', 'subscriber'], 'use "publisher" or "subscriber"'),
    // Checked together in finish: exactly one of the two, compiled into the pattern.
    url: { check: (value) => value },
    prefix: { check: (value) => value },
    store: stringKey({
      default: 'default',
      check(name, context) {
        const stores = context.settings.stores!;
        if (name in stores) return undefined;
        const names = Object.keys(stores).map((n) => `"${n}"`);
        return `is "${name}" but no such store exists; the stores are ${names.join(', ')}`;
      },
    }),
    polling: {
      ...choiceKey(['long', 'interval'], 'use "long" or "interval"', { default: 'long' }),
      only: SUBSCRIBER,
    },
    createOnGet: { ...booleanKey({ default: true }), only: SUBSCRIBER },
    createOnPost: { ...booleanKey({ default: true }), only: PUBLISHER },
    allowOrigin: {
      default: null,
      check(value: unknown, path: string, context: Context) {
        if (value !== null && typeof value !== 'string')
          context.fail(path, 'must be a string or null');
        return value;
      },
    },
    allowCredentials: booleanKey({ default: true }),
    passthrough: appUrlKey,
    subscriberTimeout: { ...numberKey({ default: 0, min: 0 }), only: SUBSCRIBER },
    maxBodySize: { ...integerKey({ default: 8 * 1024 * 1024, min: 0 }), only: PUBLISHER },
    transports: {
      default: TRANSPORTS,
      nullMeansDefault: true,
      only: SUBSCRIBER,
      check(value: unknown, path: string, context: Context): SubscriberTransport[] {
        if (!Array.isArray(value) || value.length === 0)
          context.fail(path, `must be a non-empty array of ${TRANSPORT_NAMES}`);
        value.forEach((name, i) => {
          if (!TRANSPORTS.includes(name))
            context.fail(`${path}[${i}]`, `is ${JSON.stringify(name)}; use ${TRANSPORT_NAMES}`);
        });
        return [...value];
      },
    },
    splitDelimiter: {
      default: null,
      only: SUBSCRIBER,
      check(value: unknown, path: string, context: Context) {
        if (value !== null && (typeof value !== 'string' || value === ''))
          context.fail(path, 'must be a non-empty string such as "," or null');
        return value;
      },
    },
    eventsourcePingInterval: { ...numberKey({ default: 0, min: 0 }), only: SUBSCRIBER },
    websocketPingInterval: { ...numberKey({ default: 0, min: 0 }), only: SUBSCRIBER },
    signed: { ...booleanKey({ default: false }), only: SUBSCRIBER },
    authorize: appUrlKey,
    authorizeTimeout: { ...numberKey({ default: 5, min: 0.001 }), only: SUBSCRIBER },
    authorizeConcurrency: { ...integerKey({ default: 32, min: 1 }), only: SUBSCRIBER },
  },
  finish(location, path, context) {
    const { url, prefix, ...rest } = location;
    if ((url === undefined) === (prefix === undefined))
      context.fail(path, 'needs exactly one of url or prefix');
    const pattern = compilePattern(
      url === undefined ? 'prefix' : 'url',
      url ?? prefix,
      path,
      context,
    );
    if (rest.allowOrigin === '*' && rest.allowCredentials) {
      context.fail(
        `${path}.allowOrigin`,
        'is "*" with allowCredentials: true; browsers refuse credentials with a wildcard origin. Name the origin, leave allowOrigin unset (echo the request Origin), or set allowCredentials: false',
      );
    }
    if (rest.signed === true && (context.settings.secrets ?? []).length === 0) {
      context.fail(
        `${path}.signed`,
        'is true but the settings have no secret to verify signatures with; set secret (at least 32 characters, e.g. from process.env.PUSHSERVER_SECRET)',
      );
    }
    return { ...rest, pattern } as unknown as ResolvedLocation;
  },
};

/** The top level, django-pushserver's `PUSH_SERVER` in camelCase. */
const SETTINGS: Table<PushServerSettings, Omit<ResolvedSettings, 'source'>> = {
  keys: {
    port: integerKey({ default: DEFAULT_PORT, min: 0, max: 65535 }),
    address: stringKey({
      default: DEFAULT_ADDRESS,
      check: (address) =>
        isIP(address) || address === 'localhost'
          ? undefined
          : `is "${address}"; use an IP address such as "127.0.0.1", "0.0.0.0" or "::1"`,
    }),
    servername: stringKey({ default: 'pushserver' }),
    publisherHost: objectKey(HOST),
    subscriberHost: objectKey(HOST),
    store: {
      // One store is the store named "default".
      default: { type: 'memory' },
      nullMeansDefault: true,
      into: 'stores',
      check(value: unknown, path: string, context: Context): Record<string, ResolvedStore> {
        if (!isPlainObject(value))
          context.fail(path, 'must be a store ({type: "memory"}) or a map of named stores');
        if ('type' in value) return { default: resolveObject(STORE, value, path, context) };
        const names = Object.keys(value);
        if (names.length === 0) context.fail(path, 'is an empty map; name at least one store');
        return Object.fromEntries(
          names.map((name) => [
            name,
            resolveObject(STORE, value[name], `${path}.${name}`, context),
          ]),
        );
      },
    },
    // Before locations, whose `signed` needs it.
    secret: {
      into: 'secrets',
      check(value: unknown, path: string, context: Context): string[] {
        const list = Array.isArray(value) ? value : [value];
        if (list.length === 0) context.fail(path, 'is an empty list; give at least one secret');
        list.forEach((secret, i) => {
          const at = Array.isArray(value) ? `${path}[${i}]` : path;
          // The value itself is never put in the message: it is a secret.
          if (typeof secret !== 'string')
            context.fail(at, `must be a string, got ${secret === null ? 'null' : typeof secret}`);
          if (secret.length < MIN_SECRET_LENGTH)
            context.fail(
              at,
              `is ${secret.length} characters long; use at least ${MIN_SECRET_LENGTH}, e.g. the output of: node -e "console.log(crypto.randomBytes(32).toString('base64url'))"`,
            );
        });
        return [...list];
      },
    },
    locations: {
      default: [
        { type: 'publisher', prefix: '/publisher/' },
        { type: 'subscriber', prefix: '/subscriber/' },
        // As ../shared/nchan/nginx.conf: up to 255 channels on one connection.
        { type: 'subscriber', prefix: '/multi/', splitDelimiter: ',' },
      ],
      nullMeansDefault: true,
      check(value: unknown, path: string, context: Context): ResolvedLocation[] {
        if (!Array.isArray(value)) context.fail(path, 'must be an array of locations');
        const locations = value.map((location, i) =>
          resolveObject(LOCATION, location, `${path}[${i}]`, context),
        );
        for (const type of ['publisher', 'subscriber'] as const) {
          if (!locations.some((location) => location.type === type))
            context.fail(path, `has no ${type} location; channel URLs need one`);
        }
        return locations;
      },
    },
    ignoreErrors: booleanKey({ default: false }),
    publisherAllow: {
      default: LOOPBACK_RANGES,
      nullMeansDefault: true,
      check(value: unknown, path: string, context: Context): string[] {
        if (!Array.isArray(value))
          context.fail(path, 'must be an array of addresses or CIDR ranges');
        value.forEach((range, i) => {
          const problem = checkRange(range);
          if (problem) context.fail(`${path}[${i}]`, problem);
        });
        return [...value];
      },
    },
    publishTimeout: numberKey({ default: 5000, min: 1 }),
    rawSockets: booleanKey({ default: true }),
  },
};

/**
 * Apply defaults to `input` and validate it.
 *
 * @param input settings as a user writes them
 * @param source where they came from (shown in errors and in the daemon's banner)
 * @returns every key filled in
 * @throws SettingsError naming the key path and the reason
 * @example resolveSettings({ port: 9000 }).subscriberHost.location // '127.0.0.1:9000'
 */
export function resolveSettings(
  input: PushServerSettings = {},
  source = 'defaults',
): ResolvedSettings {
  const context = newContext(source);
  // The top level resolves into context.settings, where later keys read earlier ones.
  resolveObject(SETTINGS, input, '', context, context.settings);
  const { secrets = [], ...settings } = context.settings;
  const resolved = { ...settings, source } as ResolvedSettings;
  // Not enumerable: a logged or serialised settings object does not show the secrets.
  Object.defineProperty(resolved, 'secrets', { value: secrets, enumerable: false });
  return resolved;
}

/**
 * `host:port` for a listen address, bracketing IPv6 and mapping wildcard addresses to loopback.
 *
 * @example hostPort('::', 8001) // '[::1]:8001'
 */
export function hostPort(address: string, port: number): string {
  if (address === '0.0.0.0') address = '127.0.0.1';
  if (address === '::') address = '::1';
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A location's `url` or `prefix`, compiled into the pattern that matches and builds its paths. */
function compilePattern(
  key: 'url' | 'prefix',
  value: unknown,
  path: string,
  context: Context,
): LocationPattern {
  const text = asString(value, `${path}.${key}`, context);
  try {
    return compileLocation(key === 'url' ? { url: text } : { prefix: text });
  } catch (error) {
    context.fail(`${path}.${key}`, `"${text}" ${(error as Error).message}`);
  }
}
