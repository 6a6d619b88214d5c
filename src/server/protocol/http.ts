/**
 * HTTP details at the daemon's edge: Nchan's lenient parsing of the cursor headers,
 * CORS as Nchan sends it, the channel info bodies, and small response helpers.
 * Nothing here knows about stores.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MAX_CHANNEL_ID_BYTES } from '../../channel/location-pattern.js';
import type { ResolvedLocation } from '../../settings/index.js';
import { type ChannelInfo, formatId, type MessageId } from '../store/types.js';

/** Headers as `ServerResponse.writeHead` takes them: `[name, value, name, value, ...]`. */
export type HeaderList = string[];

/** Nchan's `Vary` on subscriber answers (in Nchan's order). */
export const VARY = 'If-None-Match, If-Modified-Since';

/** What a subscriber's cache headers say: a cursor (or null: from the oldest), or a 400. */
export type CursorResult = MessageId | null | 'invalid';

let lastImsText: string | undefined;
let lastImsSeconds = Number.NaN;

/**
 * Read `If-Modified-Since` + `If-None-Match` the way Nchan does: a garbage or 1970
 * date means "from the oldest"; the Etag is read like C's `atoi` after dropping a
 * `W/` prefix and quotes (garbage → 0, empty → 0); a valid date without
 * `If-None-Match` is invalid (Nchan answers 400 `Message ID invalid`).
 *
 * @param ims the `If-Modified-Since` header, if any
 * @param inm the `If-None-Match` header, if any
 * @param into an id object to fill in and return instead of a new one (a kept-alive
 *   connection's polls reuse one, so a parked poll allocates nothing that outlives it)
 * @returns the cursor, `null` for "from the oldest", or `'invalid'`
 * @example parseCursor('Sat, 28 Nov 2026 01:21:19 GMT', 'W/"1"') // { time: 1795828879, tag: 1 }
 */
export function parseCursor(
  ims: string | undefined,
  inm: string | undefined,
  into?: { time: number; tag: number },
): CursorResult {
  if (ims === undefined) return null;
  // Subscribers of one channel send the same date over and over: remember the last one.
  if (ims !== lastImsText) {
    lastImsSeconds = parseHttpDate(ims);
    lastImsText = ims;
  }
  const time = lastImsSeconds;
  if (!(time > 0)) return null;
  if (inm === undefined) return 'invalid';
  if (into === undefined) return { time, tag: parseEtag(inm) };
  into.time = time;
  into.tag = parseEtag(inm);
  return into;
}

/** C `atoi` over an Etag with `W/` and quotes removed. */
export function parseEtag(text: string): number {
  let i = 0;
  while (text.charCodeAt(i) === 32) i++;
  if (text.startsWith('W/', i)) i += 2;
  if (text.charCodeAt(i) === 34) i++;
  let sign = 1;
  if (text[i] === '-' || text[i] === '+') {
    if (text[i] === '-') sign = -1;
    i++;
  }
  let value = 0;
  for (; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
    if (value > Number.MAX_SAFE_INTEGER / 10) break;
  }
  return sign * value;
}

const MONTHS: Record<string, number> = {
  jan: 0,
  feb: 1,
  mar: 2,
  apr: 3,
  may: 4,
  jun: 5,
  jul: 6,
  aug: 7,
  sep: 8,
  oct: 9,
  nov: 10,
  dec: 11,
};
// RFC 1123 `Sat, 28 Nov 2026 01:21:19 GMT` and RFC 850 `Saturday, 28-Nov-26 01:21:19 GMT`;
// like nginx, whatever follows the time (zone or nothing) is ignored and read as GMT.
const DATE_RE =
  /^\s*[A-Za-z]*,?\s*(\d{1,2})[ -]([A-Za-z]{3})[ -](\d{2,4})\s+(\d{1,2}):(\d{2}):(\d{2})/;
// asctime: `Sun Nov  6 08:49:37 1994`
const ASCTIME_RE =
  /^\s*[A-Za-z]{3}\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})/;

/**
 * Parse an HTTP date leniently (RFC 1123, RFC 850, asctime; zone ignored, GMT assumed).
 *
 * @returns unix seconds, or NaN when it is not a date
 * @example parseHttpDate('Saturday, 28-Nov-26 01:21:19 GMT') // 1795828879
 */
export function parseHttpDate(text: string): number {
  let day: string;
  let month: string;
  let year: string;
  let hms: string[];
  let found = DATE_RE.exec(text);
  if (found) {
    [, day, month, year] = found;
    hms = found.slice(4, 7);
  } else {
    found = ASCTIME_RE.exec(text);
    if (!found) return Number.NaN;
    [, month, day] = found;
    hms = found.slice(3, 6);
    year = found[6];
  }
  const monthIndex = MONTHS[month.toLowerCase()];
  if (monthIndex === undefined) return Number.NaN;
  let fullYear = Number(year);
  if (year.length === 2) fullYear += fullYear < 70 ? 2000 : 1900;
  const ms = Date.UTC(
    fullYear,
    monthIndex,
    Number(day),
    Number(hms[0]),
    Number(hms[1]),
    Number(hms[2]),
  );
  return ms / 1000;
}

/**
 * The RFC 1123 date of a unix second, as in `Last-Modified`.
 *
 * @example httpDate(0) // 'Thu, 01 Jan 1970 00:00:00 GMT'
 */
export function httpDate(seconds: number): string {
  // Messages of one second share their Last-Modified: format it once.
  if (seconds !== lastDateSeconds) {
    lastDateSeconds = seconds;
    lastDateText = new Date(seconds * 1000).toUTCString();
  }
  return lastDateText;
}

let lastDateSeconds = Number.NaN;
let lastDateText = '';

let dateSecond = -1;
let dateText = '';

/**
 * The `Date` header value for now, formatted once per second.
 *
 * @example currentHttpDate() // 'Sat, 28 Nov 2026 04:23:33 GMT'
 */
export function currentHttpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = httpDate(second);
  }
  return dateText;
}

/**
 * Where one request's answer goes: a node:http response ({@link NodeReply}) or a
 * connection of the raw socket path (`raw-server.ts`). Locations answer through it
 * and never touch the transport.
 */
export interface Reply {
  /**
   * Answer with `status`: the `Server` header first, then `headers`, then
   * `Content-Length` and `body` (empty by default).
   */
  send(status: number, headers: HeaderList, body?: string | Buffer): void;
  /**
   * Answer 200 with a complete prebuilt keep-alive response (status line, headers with
   * `Date`, body), written as is.
   *
   * @param head the status line and headers at the start of `bytes`
   * @param bytes the whole response
   * @returns false when this exchange cannot take it (the caller then uses `send`)
   */
  sendPrebuilt(head: string, bytes: Buffer): boolean;
  /** The poll is parked from now on (the request log's `waited`). */
  parked(): void;
  /** Whether the answer has begun. */
  readonly headersSent: boolean;
  /** Drop the connection (an answer that began cannot be finished). */
  destroy(): void;
}

/** The private fields of `ServerResponse` that say the header is already written. */
interface HeaderState {
  _header: string | null;
  _headerSent: boolean;
}

/** When a node:http response's poll was parked (ms, `performance.now()`), for the request log. */
export const PARKED_AT = Symbol('parkedAt');

/** A node:http response as a {@link Reply}. */
export class NodeReply implements Reply {
  /**
   * @param res the response
   * @param server the `Server` header value
   */
  constructor(
    readonly res: ServerResponse,
    private readonly server: string,
  ) {}

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  send(status: number, headers: HeaderList, body: string | Buffer = ''): void {
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    this.res.writeHead(status, [
      'Server',
      this.server,
      ...headers,
      'Content-Length',
      String(length),
    ]);
    this.res.end(body);
  }

  /**
   * The response goes through `res.end`, so Node still orders pipelined answers, keeps
   * the connection alive and emits `finish`; only its header rendering is skipped, by
   * marking the header as sent (the fields `compression` and `on-headers` rely on too).
   */
  sendPrebuilt(head: string, bytes: Buffer): boolean {
    const res = this.res;
    if (!res.shouldKeepAlive || res.headersSent) return false;
    const state = res as unknown as HeaderState;
    res.statusCode = 200;
    state._header = head;
    state._headerSent = true;
    res.end(bytes);
    return true;
  }

  parked(): void {
    (this.res as ServerResponse & { [PARKED_AT]?: number })[PARKED_AT] = performance.now();
  }

  destroy(): void {
    this.res.destroy();
  }
}

/** CORS decision for one request: no headers, refuse (403), or allow with these headers. */
export type Cors = { refuse: boolean; headers: HeaderList };

const NO_CORS: Cors = { refuse: false, headers: [] };

/**
 * Nchan's CORS: nothing without an `Origin` header; with one, echo it (or the fixed
 * `allowOrigin`) plus `Access-Control-Allow-Credentials: true`; a fixed `allowOrigin`
 * that differs from the request's Origin refuses the request (403, still echoing it).
 *
 * @param origin the request's Origin header
 * @param location the location's `allowOrigin` / `allowCredentials`
 */
export function corsFor(origin: string | undefined, location: ResolvedLocation): Cors {
  if (origin === undefined) return NO_CORS;
  const allowed = location.allowOrigin;
  const headers: HeaderList = [];
  if (location.allowCredentials) headers.push('Access-Control-Allow-Credentials', 'true');
  headers.push('Access-Control-Allow-Origin', allowed === '*' ? '*' : origin);
  return { refuse: allowed !== null && allowed !== '*' && allowed !== origin, headers };
}

type InfoFormat = 'text' | 'json' | 'xml' | 'yaml';
const INFO_TYPES: Record<InfoFormat, string> = {
  text: 'text/plain',
  json: 'text/json',
  xml: 'text/xml',
  yaml: 'text/yaml',
};
const ACCEPTED: Array<[string, InfoFormat]> = [
  ['application/json', 'json'],
  ['text/json', 'json'],
  ['text/xml', 'xml'],
  ['application/xml', 'xml'],
  ['text/yaml', 'yaml'],
  ['application/yaml', 'yaml'],
  ['text/x-yaml', 'yaml'],
];

/**
 * The channel info body in the format the `Accept` header asks for, as Nchan writes it
 * (`application/json` is answered with `text/json`).
 *
 * @returns the Content-Type and the body
 * @example infoBody({ messages: 1, requested: -1, subscribers: 0, lastMessageId: { time: 5, tag: 0 } }, undefined).body
 * // 'queued messages: 1\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: 5:0'
 */
export function infoBody(
  info: ChannelInfo,
  accept: string | undefined,
): { type: string; body: string } {
  const format = infoFormat(accept);
  const id = info.lastMessageId ? formatId(info.lastMessageId) : '0:0';
  const { messages, requested, subscribers } = info;
  let body: string;
  switch (format) {
    case 'json':
      body = `{"messages": ${messages}, "requested": ${requested}, "subscribers": ${subscribers}, "last_message_id": "${id}" }`;
      break;
    case 'xml':
      body =
        '<?xml version="1.0" encoding="UTF-8" ?>\r\n<channel>\r\n' +
        `  <messages>${messages}</messages>\r\n  <requested>${requested}</requested>\r\n` +
        `  <subscribers>${subscribers}</subscribers>\r\n  <last_message_id>${id}</last_message_id>\r\n</channel>`;
      break;
    case 'yaml':
      body = `---\r\nmessages: ${messages}\r\nrequested: ${requested}\r\nsubscribers: ${subscribers}\r\nlast_message_id: "${id}"\r\n\r\n`;
      break;
    default:
      body = `queued messages: ${messages}\r\nlast requested: ${requested} sec. ago\r\nactive subscribers: ${subscribers}\r\nlast message id: ${id}`;
  }
  return { type: INFO_TYPES[format], body };
}

function infoFormat(accept: string | undefined): InfoFormat {
  if (!accept) return 'text';
  let best: InfoFormat = 'text';
  let bestAt = Number.POSITIVE_INFINITY;
  for (const [type, format] of ACCEPTED) {
    const at = accept.indexOf(type);
    if (at >= 0 && at < bestAt) {
      best = format;
      bestAt = at;
    }
  }
  return best;
}

/** Answer a client's mistake with a one-line plain-text body. */
export function sendText(
  reply: Reply,
  status: number,
  text: string,
  headers: HeaderList = [],
): void {
  reply.send(status, ['Content-Type', 'text/plain', ...headers], text);
}

/**
 * Whether a channel id is over 1024 UTF-8 bytes, which Nchan refuses with an empty 403.
 *
 * @example isTooLong('x'.repeat(1025)) // true
 */
export function isTooLong(channel: string): boolean {
  // Every UTF-16 unit is at most 3 bytes: short ids need no counting.
  return (
    channel.length > MAX_CHANNEL_ID_BYTES / 3 && Buffer.byteLength(channel) > MAX_CHANNEL_ID_BYTES
  );
}

/**
 * A bug of ours: log it with its stack and answer 500 (or drop the connection when
 * the answer had begun). Costs one request, never the daemon.
 *
 * @param reply the answer of the failed request
 * @param error what was thrown
 */
export function internalError(reply: Reply, error: unknown): void {
  console.error(`pushserver: internal error: ${(error as Error)?.stack ?? error}`);
  if (!reply.headersSent) sendText(reply, 500, 'Internal Server Error');
  else reply.destroy();
}

/** The path of a request without its query string. */
export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}
