/**
 * What a publish sends, worked out without I/O: where it goes (the daemon, the
 * channel's URL and prebuilt request head, both cached), its body and its headers.
 *
 * @module
 */
import { publisherUrl } from '../channel/urls.js';
import type { ResolvedSettings } from '../settings/index.js';

/** The Content-Type of a publish unless the call names another. */
export const JSON_TYPE = 'application/json; charset=utf-8';
/** A Content-Type the own client writes as is; anything else goes through node:http. */
export const PLAIN_HEADER_VALUE = /^[\t\x20-\x7e]*$/;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Channels whose URL and request head a publisher remembers, per daemon. */
const CHANNEL_CACHE_SIZE = 4096;

/** Where a publish goes, worked out once per settings object. */
export interface Daemon {
  secure: boolean;
  /** For `net.connect`: no brackets around an IPv6 address. */
  host: string;
  port: number;
  /** `host:port` */
  key: string;
  /** Channel id → its URL and request head, most recent {@link CHANNEL_CACHE_SIZE}. */
  channels: Map<string, Channel>;
}

/** A channel's publisher URL and the start of its request head. */
export interface Channel {
  url: string;
  /** Request line and Host, CRLF-terminated: the other headers follow per call. */
  head: string;
  /** {@link head} and the headers of a JSON publish, up to the length's value. */
  jsonHead: string;
}

const daemons = new WeakMap<ResolvedSettings, Daemon>();

/**
 * The daemon `settings.publisherHost` names, worked out on the first call per settings object.
 *
 * @example daemonFor(resolveSettings()).key // '127.0.0.1:8001'
 */
export function daemonFor(settings: ResolvedSettings): Daemon {
  let daemon = daemons.get(settings);
  if (!daemon) {
    const { location, secure } = settings.publisherHost;
    const parsed = new URL(`${secure ? 'https' : 'http'}://${location}/`);
    const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(parsed.port || (secure ? 443 : 80));
    daemon = { secure, host, port, key: `${host}:${port}`, channels: new Map() };
    daemons.set(settings, daemon);
  }
  return daemon;
}

/**
 * The URL and request head of `channelId` on `daemon`, from the cache or built.
 *
 * @throws ChannelIdError for an id the publisher location refuses
 * @example channelFor(daemon, 'room-1', settings).url // 'http://127.0.0.1:8001/publisher/room-1'
 */
export function channelFor(daemon: Daemon, channelId: string, settings: ResolvedSettings): Channel {
  let channel = daemon.channels.get(channelId);
  if (!channel) {
    // Throws ChannelIdError for an id the location refuses; only good ids are kept.
    const url = publisherUrl(channelId, settings);
    // As node:http sends it: the URL parser percent-encodes what the location left raw.
    const parsed = new URL(url);
    const head = `POST ${parsed.pathname}${parsed.search} HTTP/1.1\r\nHost: ${parsed.host}\r\n`;
    channel = {
      url,
      head,
      jsonHead: `${head}Accept: application/json\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: `,
    };
    if (daemon.channels.size >= CHANNEL_CACHE_SIZE) daemon.channels.clear();
    daemon.channels.set(channelId, channel);
  }
  return channel;
}

/**
 * The body of a publish: `data` as JSON, or as given with `alreadySerialized`.
 *
 * @throws TypeError for data JSON cannot write, or a non-string, non-Buffer one with `alreadySerialized`
 * @example serialize({ a: 1 }, false) // '{"a":1}'
 */
export function serialize(data: unknown, alreadySerialized: boolean): string | Buffer {
  if (!alreadySerialized) {
    const json = JSON.stringify(data);
    if (json === undefined)
      throw new TypeError(`sendUpdate: ${typeof data} cannot be serialized to JSON`);
    return json;
  }
  if (typeof data === 'string') return data;
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data);
  throw new TypeError('sendUpdate: with alreadySerialized, data must be a string or a Buffer');
}

/**
 * A key that can travel as a header value as it is, or a TypeError naming the rule.
 *
 * @throws TypeError when `key` is not 1 to 255 visible ASCII characters
 * @example checkIdempotencyKey('order-17') // passes
 */
export function checkIdempotencyKey(key: string | undefined): void {
  if (key === undefined) return;
  if (typeof key !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw new TypeError(
      `pushserver: idempotencyKey must be 1 to 255 visible ASCII characters, got ${JSON.stringify(key)}`,
    );
  }
}

/**
 * The headers of a publish, as the signals report them.
 *
 * @example requestHeaders(JSON_TYPE, 7, undefined) // { 'Content-Type': ..., 'Content-Length': '7', Accept: 'application/json' }
 */
export function requestHeaders(
  contentType: string,
  length: number,
  idempotencyKey: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': contentType,
    'Content-Length': String(length),
    Accept: 'application/json',
  };
  if (idempotencyKey !== undefined) headers['Idempotency-Key'] = idempotencyKey;
  return headers;
}

/**
 * The request head for `headers` on the own client, or undefined when node:http must
 * write it (a Host of the listener's own, a name or value that is not plain ASCII).
 *
 * @example headWith(channel, { 'Content-Length': '2' }) // 'POST /publisher/c HTTP/1.1\r\nHost: ...\r\nContent-Length: 2\r\n\r\n'
 */
export function headWith(channel: Channel, headers: Record<string, string>): string | undefined {
  let head = channel.head;
  for (const name of Object.keys(headers)) {
    const value = String(headers[name]);
    if (!HEADER_NAME.test(name) || !PLAIN_HEADER_VALUE.test(value) || /^host$/i.test(name)) {
      return undefined;
    }
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
