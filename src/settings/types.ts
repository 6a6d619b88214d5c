/**
 * The settings' shapes: what a user writes (`PushServerSettings`, every key optional)
 * and what the rest of pushserver reads after defaults and checks (`ResolvedSettings`,
 * every key present). The defaults and checks themselves are in `schema.ts`.
 *
 * @module
 */
import type { LocationPattern } from '../channel/location-pattern.js';

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

/** One store: `{type: 'memory'}` or `{type: 'redis', url}`. */
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
  /**
   * Subscriber: the transports served (Nchan's `nchan_subscriber`). A WebSocket upgrade
   * on a location without `websocket` gets 403; an EventSource request on one without
   * `eventsource` is answered as a long-poll, as Nchan does (the log says so).
   * @default ['longpoll', 'eventsource', 'websocket']
   */
  transports?: SubscriberTransport[];
  /**
   * Subscriber: split the channel id at this string into up to 255 channels served on
   * one connection (Nchan's `nchan_channel_id_split_delimiter`): `/multi/a,b,c` with `','`.
   * null: the id is one channel. @default null
   */
  splitDelimiter?: string | null;
  /** Subscriber: seconds between EventSource ping events (`nchan_eventsource_ping_interval`); 0: none. @default 0 */
  eventsourcePingInterval?: number;
  /**
   * Subscriber: seconds between WebSocket pings (`nchan_websocket_ping_interval`); a
   * client that has not answered the previous ping is closed. 0: none. @default 0
   */
  websocketPingInterval?: number;
  /**
   * Subscriber: every channel of a request needs a signature made with the settings'
   * `secret` (`channelUrl(id, {signed: true})`); a missing, wrong or expired one gets
   * 403 before any channel is created or counted. Needs `secret`. @default false
   */
  signed?: boolean;
  /**
   * Subscriber: before a subscriber is let in, the daemon asks this URL (`GET`, with the
   * subscriber's Cookie, Authorization and Origin, `X-Original-URI` and
   * `X-Original-Method`), as Nchan's `nchan_authorize_request`: a 2xx answer lets it in,
   * any other status (and body) goes back to the subscriber. Asked for each long-poll
   * and once per EventSource or WebSocket connection. @default null
   */
  authorize?: string | null;
  /** Subscriber: seconds `authorize` may take (a slower answer is a 503). @default 5 */
  authorizeTimeout?: number;
  /** Subscriber: requests to `authorize` in flight at once; more wait their turn. @default 32 */
  authorizeConcurrency?: number;
}

/** A subscriber transport: `longpoll` (also interval polls), `eventsource` or `websocket`. */
export type SubscriberTransport = 'longpoll' | 'eventsource' | 'websocket';

/**
 * django-pushserver's `PUSH_SERVER`, in camelCase. Every key is optional.
 *
 * @example
 * const settings: PushServerSettings = {
 *   port: 9000,
 *   subscriberHost: { location: 'push.example.com', secure: true },
 * };
 */
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
  /**
   * The daemon serves subscriber polls and plain publishes on its sockets directly (a
   * strict HTTP/1.1 subset; about half node:http's CPU and memory per subscriber); false:
   * node:http serves every request (`runpushserver --no-raw-sockets`). @default true
   */
  rawSockets?: boolean;
  /**
   * The secret that signs channel URLs (`channelUrl(id, {signed: true})`), or a list:
   * the first signs, all verify (add the new one first to rotate, drop the old one once
   * its URLs have expired). At least 32 characters; read it from the environment, e.g.
   * `process.env.PUSHSERVER_SECRET`. Needed by a location with `signed: true`.
   * @default none
   */
  secret?: string | string[];
}

/**
 * A store after defaults: every key present whatever its type (a memory store carries
 * the Redis defaults, unused).
 */
export interface ResolvedStore {
  type: 'memory' | 'redis';
  minMessages: number;
  maxMessages: number;
  messageTimeout: number;
  url: string;
  keyPrefix: string;
}

/**
 * A location after defaults, its url or prefix compiled into `pattern`. Keys of the
 * other location type carry their defaults, unused.
 */
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
  transports: SubscriberTransport[];
  splitDelimiter: string | null;
  eventsourcePingInterval: number;
  websocketPingInterval: number;
  signed: boolean;
  authorize: string | null;
  authorizeTimeout: number;
  authorizeConcurrency: number;
}

/**
 * Settings after defaults and validation: every key present. `store` becomes `stores`,
 * always a map of named stores (one store is named `default`).
 *
 * @example resolveSettings().stores.default.maxMessages // 10
 */
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
  rawSockets: boolean;
  /**
   * The `secret` setting as a list, the signing one first; empty without one. Not
   * enumerable, so logging or serialising the settings leaves it out.
   */
  secrets: string[];
  /** Where the settings came from, for the daemon's banner. */
  source: string;
}
