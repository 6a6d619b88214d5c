import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { compileLocation, type LocationPattern } from '../channel/location-pattern.js';
import { SettingsError } from '../errors.js';
import { checkRange, LOOPBACK_RANGES } from '../ip.js';

/** Where the daemon is reached from outside: `host[:port]`, and whether over TLS. */
export interface HostSettings {
  /** `host:port` as a browser or the app reaches it, e.g. `push.example.com` or `127.0.0.1:8001`. */
  location: string;
  /** Use `https://` in URLs built for this host. @default false */
  secure?: boolean;
}

/** In-process message buffer (lost on restart). */
export interface MemoryStoreSettings {
  type: 'memory';
  /** Messages kept per channel even when expired. @default 0 */
  minMessages?: number;
  /** Messages kept per channel; the oldest is dropped beyond this (Nchan's buffer length). @default 10 */
  maxMessages?: number;
  /** Seconds a message is kept (Nchan's `nchan_message_timeout`); 0 keeps it until evicted. @default 3600 */
  messageTimeout?: number;
}

/** Messages in Redis, shared by several daemons. */
export interface RedisStoreSettings {
  type: 'redis';
  /** @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** Prefix of every key this store writes. @default 'pushserver:' */
  keyPrefix?: string;
  /** @default 0 */
  minMessages?: number;
  /** @default 10 */
  maxMessages?: number;
  /** @default 3600 */
  messageTimeout?: number;
}

export type StoreSettings = MemoryStoreSettings | RedisStoreSettings;

/** One URL space of the daemon: where apps publish, or where browsers subscribe. */
export interface LocationSettings {
  type: 'publisher' | 'subscriber';
  /** `/updates/:channel` or a regular expression with one capture group, `/updates/([^/]+)`. */
  url?: string;
  /** Shorthand for `url: prefix + '(.+)'`. */
  prefix?: string;
  /** Name of the store (when `store` is a map of named stores). @default 'default' */
  store?: string;
  /** Subscriber: `long` waits for a message, `interval` answers 304 at once. @default 'long' */
  polling?: 'long' | 'interval';
  /** Subscriber: a GET may create the channel it waits on. @default true */
  createOnGet?: boolean;
  /** Publisher: a POST may create the channel. @default true */
  createOnPost?: boolean;
  /** Only this Origin may use the location (others get 403); null echoes any Origin. @default null */
  allowOrigin?: string | null;
  /** Send `Access-Control-Allow-Credentials: true`. @default true */
  allowCredentials?: boolean;
  /** Subscriber: URL that receives subscribe / unsubscribe notifications. @default null */
  passthrough?: string | null;
  /** Subscriber: seconds a long-poll waits before 408; 0 waits forever (as Nchan). @default 0 */
  subscriberTimeout?: number;
  /** Publisher: largest message body in bytes (413 above). @default 8 MiB */
  maxBodySize?: number;
}

/** django-pushserver's `PUSH_SERVER`, in camelCase. Every key is optional. */
export interface PushServerSettings {
  /** Port the daemon listens on. @default 8001 */
  port?: number;
  /** Address the daemon listens on. @default '127.0.0.1' */
  address?: string;
  /** `Server` header on every daemon response. @default 'pushserver' */
  servername?: string;
  /** How the app reaches the publisher. @default the daemon's address and port */
  publisherHost?: HostSettings;
  /** How browsers reach the subscriber. @default the daemon's address and port */
  subscriberHost?: HostSettings;
  /** One store, or a map of named stores (`{default: {...}, other: {...}}`). @default memory */
  store?: StoreSettings | Record<string, StoreSettings>;
  /** Ordered; the first publisher / subscriber location is the one URLs are built for. */
  locations?: LocationSettings[];
  /** `sendUpdate` failures resolve with the error instead of throwing. @default false */
  ignoreErrors?: boolean;
  /** Addresses allowed to use publisher locations. @default ['127.0.0.0/8', '::1'] */
  publisherAllow?: string[];
  /** Milliseconds `sendUpdate` waits for the daemon. @default 5000 */
  publishTimeout?: number;
}

export interface ResolvedStore {
  type: 'memory' | 'redis';
  minMessages: number;
  maxMessages: number;
  messageTimeout: number;
  url: string;
  keyPrefix: string;
}

export interface ResolvedLocation {
  type: 'publisher' | 'subscriber';
  pattern: LocationPattern;
  store: string;
  polling: 'long' | 'interval';
  createOnGet: boolean;
  createOnPost: boolean;
  allowOrigin: string | null;
  allowCredentials: boolean;
  passthrough: string | null;
  subscriberTimeout: number;
  maxBodySize: number;
}

/** Settings after defaults and validation: every key present. */
export interface ResolvedSettings {
  port: number;
  address: string;
  servername: string;
  publisherHost: Required<HostSettings>;
  subscriberHost: Required<HostSettings>;
  stores: Record<string, ResolvedStore>;
  locations: ResolvedLocation[];
  ignoreErrors: boolean;
  publisherAllow: string[];
  publishTimeout: number;
  /** Where the settings came from, for the daemon's banner. */
  source: string;
}

export const DEFAULT_PORT = 8001;
export const DEFAULT_ADDRESS = '127.0.0.1';
const DEFAULT_MAX_BODY = 8 * 1024 * 1024;
const CONFIG_FILES = [
  'pushserver.config.js',
  'pushserver.config.mjs',
  'pushserver.config.cjs',
  'pushserver.config.json',
];

const TOP_KEYS = [
  'port',
  'address',
  'servername',
  'publisherHost',
  'subscriberHost',
  'store',
  'locations',
  'ignoreErrors',
  'publisherAllow',
  'publishTimeout',
];
const HOST_KEYS = ['location', 'secure'];
const STORE_KEYS = {
  memory: ['type', 'minMessages', 'maxMessages', 'messageTimeout'],
  redis: ['type', 'url', 'keyPrefix', 'minMessages', 'maxMessages', 'messageTimeout'],
};
const LOCATION_KEYS = {
  publisher: [
    'type',
    'url',
    'prefix',
    'store',
    'createOnPost',
    'allowOrigin',
    'allowCredentials',
    'maxBodySize',
  ],
  subscriber: [
    'type',
    'url',
    'prefix',
    'store',
    'polling',
    'createOnGet',
    'allowOrigin',
    'allowCredentials',
    'passthrough',
    'subscriberTimeout',
  ],
};

/**
 * Typed identity for config files: `export default defineSettings({...})`.
 *
 * @example export default defineSettings({ port: 9000 });
 */
export function defineSettings(settings: PushServerSettings): PushServerSettings {
  return settings;
}

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
  const check = new Checker(source);
  check.object(input, '', TOP_KEYS);
  const port = check.integer(input.port, 'port', DEFAULT_PORT, 0, 65535);
  const address = check.string(input.address, 'address', DEFAULT_ADDRESS);
  if (!isIP(address) && address !== 'localhost') {
    check.fail(
      'address',
      `is "${address}"; use an IP address such as "127.0.0.1", "0.0.0.0" or "::1"`,
    );
  }
  const ownHost = { location: hostPort(address, port), secure: false };
  const stores = resolveStores(input.store, check);
  const locations = resolveLocations(input.locations, stores, check);
  const publisherAllow = input.publisherAllow ?? [...LOOPBACK_RANGES];
  if (!Array.isArray(publisherAllow))
    check.fail('publisherAllow', 'must be an array of addresses or CIDR ranges');
  publisherAllow.forEach((range, i) => {
    const problem = checkRange(range);
    if (problem) check.fail(`publisherAllow[${i}]`, problem);
  });
  return {
    port,
    address,
    servername: check.string(input.servername, 'servername', 'pushserver'),
    publisherHost: resolveHost(input.publisherHost, 'publisherHost', ownHost, check),
    subscriberHost: resolveHost(input.subscriberHost, 'subscriberHost', ownHost, check),
    stores,
    locations,
    ignoreErrors: check.boolean(input.ignoreErrors, 'ignoreErrors', false),
    publisherAllow,
    publishTimeout: check.number(input.publishTimeout, 'publishTimeout', 5000, 1),
    source,
  };
}

/** `host:port` for a listen address, bracketing IPv6 and mapping wildcard addresses to loopback. */
export function hostPort(address: string, port: number): string {
  if (address === '0.0.0.0') address = '127.0.0.1';
  if (address === '::') address = '::1';
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

function resolveHost(
  value: HostSettings | undefined,
  path: string,
  fallback: Required<HostSettings>,
  check: Checker,
): Required<HostSettings> {
  if (value === undefined || value === null) return fallback;
  check.object(value, path, HOST_KEYS);
  const location = check.string(value.location, `${path}.location`, fallback.location);
  if (/^[a-z]+:\/\//i.test(location) || location.includes('/')) {
    check.fail(
      `${path}.location`,
      `is "${location}"; give host and port only, e.g. "push.example.com" or "127.0.0.1:8001"`,
    );
  }
  return { location, secure: check.boolean(value.secure, `${path}.secure`, false) };
}

function resolveStores(
  value: PushServerSettings['store'],
  check: Checker,
): Record<string, ResolvedStore> {
  if (value === undefined || value === null)
    return { default: resolveStore({ type: 'memory' }, 'store', check) };
  if (typeof value !== 'object' || Array.isArray(value)) {
    check.fail('store', 'must be a store ({type: "memory"}) or a map of named stores');
  }
  if ('type' in value) return { default: resolveStore(value as StoreSettings, 'store', check) };
  const entries = Object.entries(value as Record<string, StoreSettings>);
  if (entries.length === 0) check.fail('store', 'is an empty map; name at least one store');
  return Object.fromEntries(
    entries.map(([name, store]) => [name, resolveStore(store, `store.${name}`, check)]),
  );
}

function resolveStore(value: StoreSettings, path: string, check: Checker): ResolvedStore {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    check.fail(path, 'must be an object such as {type: "memory"}');
  }
  const type = value.type;
  if (type !== 'memory' && type !== 'redis') {
    check.fail(
      `${path}.type`,
      `is ${JSON.stringify(type)}; the store types are "memory" and "redis"`,
    );
  }
  check.object(value, path, STORE_KEYS[type]);
  const redis = value as RedisStoreSettings;
  const store: ResolvedStore = {
    type,
    minMessages: check.integer(value.minMessages, `${path}.minMessages`, 0, 0),
    maxMessages: check.integer(value.maxMessages, `${path}.maxMessages`, 10, 1),
    messageTimeout: check.number(value.messageTimeout, `${path}.messageTimeout`, 3600, 0),
    url: check.string(redis.url, `${path}.url`, 'redis://127.0.0.1:6379'),
    keyPrefix: check.string(redis.keyPrefix, `${path}.keyPrefix`, 'pushserver:'),
  };
  if (store.minMessages > store.maxMessages) {
    check.fail(
      `${path}.minMessages`,
      `(${store.minMessages}) is larger than maxMessages (${store.maxMessages})`,
    );
  }
  if (type === 'redis' && !/^rediss?:\/\//.test(store.url)) {
    check.fail(`${path}.url`, `is "${store.url}"; use a redis:// or rediss:// URL`);
  }
  return store;
}

function resolveLocations(
  value: LocationSettings[] | undefined,
  stores: Record<string, ResolvedStore>,
  check: Checker,
): ResolvedLocation[] {
  const list = value ?? [
    { type: 'publisher', prefix: '/publisher/' },
    { type: 'subscriber', prefix: '/subscriber/' },
  ];
  if (!Array.isArray(list)) check.fail('locations', 'must be an array of locations');
  const resolved = list.map((location, i) =>
    resolveLocation(location, `locations[${i}]`, stores, check),
  );
  for (const type of ['publisher', 'subscriber'] as const) {
    if (!resolved.some((location) => location.type === type)) {
      check.fail('locations', `has no ${type} location; channel URLs need one`);
    }
  }
  return resolved;
}

function resolveLocation(
  value: LocationSettings,
  path: string,
  stores: Record<string, ResolvedStore>,
  check: Checker,
): ResolvedLocation {
  if (typeof value !== 'object' || value === null) check.fail(path, 'must be an object');
  const type = value.type;
  if (type !== 'publisher' && type !== 'subscriber') {
    check.fail(`${path}.type`, `is ${JSON.stringify(type)}; use "publisher" or "subscriber"`);
  }
  check.object(value, path, LOCATION_KEYS[type]);
  if ((value.url === undefined) === (value.prefix === undefined)) {
    check.fail(path, 'needs exactly one of url or prefix');
  }
  const key = value.url === undefined ? 'prefix' : 'url';
  const text = check.string(value[key], `${path}.${key}`, '');
  let pattern: LocationPattern;
  try {
    pattern = compileLocation(key === 'url' ? { url: text } : { prefix: text });
  } catch (error) {
    check.fail(`${path}.${key}`, `"${text}" ${(error as Error).message}`);
  }
  const store = check.string(value.store, `${path}.store`, 'default');
  if (!(store in stores)) {
    check.fail(
      `${path}.store`,
      `is "${store}" but no such store exists; the stores are ${Object.keys(stores)
        .map((n) => `"${n}"`)
        .join(', ')}`,
    );
  }
  const allowOrigin = value.allowOrigin ?? null;
  if (allowOrigin !== null && typeof allowOrigin !== 'string')
    check.fail(`${path}.allowOrigin`, 'must be a string or null');
  const allowCredentials = check.boolean(value.allowCredentials, `${path}.allowCredentials`, true);
  if (allowOrigin === '*' && allowCredentials) {
    check.fail(
      `${path}.allowOrigin`,
      'is "*" with allowCredentials: true; browsers refuse credentials with a wildcard origin. Name the origin, leave allowOrigin unset (echo the request Origin), or set allowCredentials: false',
    );
  }
  const polling = value.polling ?? 'long';
  if (polling !== 'long' && polling !== 'interval') {
    check.fail(`${path}.polling`, `is ${JSON.stringify(polling)}; use "long" or "interval"`);
  }
  const passthrough = value.passthrough ?? null;
  if (
    passthrough !== null &&
    (typeof passthrough !== 'string' || !/^https?:\/\//.test(passthrough))
  ) {
    check.fail(
      `${path}.passthrough`,
      `is ${JSON.stringify(passthrough)}; use an http:// or https:// URL`,
    );
  }
  return {
    type,
    pattern,
    store,
    polling,
    createOnGet: check.boolean(value.createOnGet, `${path}.createOnGet`, true),
    createOnPost: check.boolean(value.createOnPost, `${path}.createOnPost`, true),
    allowOrigin,
    allowCredentials,
    passthrough,
    subscriberTimeout: check.number(value.subscriberTimeout, `${path}.subscriberTimeout`, 0, 0),
    maxBodySize: check.integer(value.maxBodySize, `${path}.maxBodySize`, DEFAULT_MAX_BODY, 0),
  };
}

/** Small typed validators that throw SettingsError with the key path. */
class Checker {
  constructor(private readonly source: string) {}

  fail(path: string, reason: string): never {
    const where =
      this.source === 'defaults' || this.source === 'configure()' ? '' : ` (in ${this.source})`;
    throw new SettingsError(path, reason + where);
  }

  object(value: object, path: string, known: string[]): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path || 'settings', 'must be an object');
    }
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const suggestion = closest(key, known);
      const hint = suggestion
        ? `; did you mean "${suggestion}"?`
        : `; known keys: ${known.join(', ')}`;
      this.fail(path ? `${path}.${key}` : key, `is not a known setting${hint}`);
    }
  }

  string(value: unknown, path: string, fallback: string): string {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || value === '')
      this.fail(path, `must be a non-empty string, got ${JSON.stringify(value)}`);
    return value;
  }

  boolean(value: unknown, path: string, fallback: boolean): boolean {
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean')
      this.fail(path, `must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  number(
    value: unknown,
    path: string,
    fallback: number,
    min: number,
    max = Number.POSITIVE_INFINITY,
  ): number {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value))
      this.fail(path, `must be a number, got ${JSON.stringify(value)}`);
    if (value < min || value > max) {
      this.fail(
        path,
        `is ${value}; it must be ${max === Number.POSITIVE_INFINITY ? `at least ${min}` : `between ${min} and ${max}`}`,
      );
    }
    return value;
  }

  integer(
    value: unknown,
    path: string,
    fallback: number,
    min: number,
    max = Number.MAX_SAFE_INTEGER,
  ): number {
    const number = this.number(value, path, fallback, min, max);
    if (!Number.isInteger(number)) this.fail(path, `is ${number}; it must be a whole number`);
    return number;
  }
}

/** The known key nearest to `key` by edit distance, if it is plausibly a typo. */
function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length];
}

// ---------------------------------------------------------------------------
// Process-wide settings: defaults, then a config file, then configure().

let fileLayer: { settings: PushServerSettings; source: string } | undefined;
let codeLayer: PushServerSettings = {};
let current: ResolvedSettings | undefined;

/**
 * Read the config file: `PUSHSERVER_CONFIG` if set, else the first of
 * `pushserver.config.{js,mjs,cjs,json}` in `cwd`. Synchronous, so template helpers
 * can call it; ES modules load through `require()` (Node 20.19+), so they may not
 * use top-level await.
 *
 * @returns the file's settings and its path, or empty settings and `'defaults'`
 * @throws SettingsError when the named file is missing or does not parse
 */
export function readConfigFile(
  cwd = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): { settings: PushServerSettings; source: string } {
  const named = env.PUSHSERVER_CONFIG;
  const path = named
    ? resolve(cwd, named)
    : CONFIG_FILES.map((name) => resolve(cwd, name)).find((file) => existsSync(file));
  if (!path) return { settings: {}, source: 'defaults' };
  if (!existsSync(path))
    throw new SettingsError('', `config file ${path} (from PUSHSERVER_CONFIG) does not exist`);
  try {
    if (path.endsWith('.json'))
      return { settings: JSON.parse(readFileSync(path, 'utf8')), source: path };
    const loaded = createRequire(import.meta.url)(path);
    const settings =
      loaded && typeof loaded === 'object' && 'default' in loaded ? loaded.default : loaded;
    return { settings, source: path };
  } catch (error) {
    throw new SettingsError(
      '',
      `config file ${path} could not be loaded: ${(error as Error).message}`,
    );
  }
}

/** Deep-merge settings layers: objects merge, arrays and stores are replaced. */
export function mergeSettings(
  base: PushServerSettings,
  override: PushServerSettings,
): PushServerSettings {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    const previous = merged[key];
    const mergeable =
      (key === 'publisherHost' || key === 'subscriberHost') &&
      isPlainObject(previous) &&
      isPlainObject(value);
    merged[key] = mergeable ? { ...previous, ...value } : value;
  }
  return merged as PushServerSettings;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Set settings in code; they win over the config file. Calls merge with earlier ones.
 * Validates at once.
 *
 * @returns the resolved settings now in effect
 * @throws SettingsError naming the key path and the reason
 * @example configure({ subscriberHost: { location: 'push.example.com', secure: true } });
 */
export function configure(settings: PushServerSettings): ResolvedSettings {
  const next = mergeSettings(codeLayer, settings);
  const resolved = resolveLayers(next);
  codeLayer = next;
  current = resolved;
  return resolved;
}

/**
 * The settings in effect: defaults, then the config file (read once), then `configure()`.
 *
 * @throws SettingsError when the config file or the configured settings are invalid
 */
export function getSettings(): ResolvedSettings {
  current ??= resolveLayers(codeLayer);
  return current;
}

/** Forget `configure()` calls and the config file read; for tests. */
export function resetSettings(): void {
  fileLayer = undefined;
  codeLayer = {};
  current = undefined;
}

function resolveLayers(code: PushServerSettings): ResolvedSettings {
  fileLayer ??= readConfigFile();
  const hasCode = Object.keys(code).length > 0;
  const source = hasCode
    ? fileLayer.source === 'defaults'
      ? 'configure()'
      : `${fileLayer.source} + configure()`
    : fileLayer.source;
  return resolveSettings(mergeSettings(fileLayer.settings, code), source);
}
