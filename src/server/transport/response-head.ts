/**
 * The one writer of response heads: every answer of the daemon, node:http's or the raw
 * path's, prebuilt or not, gets its status line and headers here, in one order, so the
 * two transports cannot drift apart (a test compares their bytes for every kind of answer).
 *
 * @module
 */
import { STATUS_CODES } from 'node:http';
import { currentHttpDate } from '../protocol/dates.js';

/** Headers as `ServerResponse.writeHead` takes them: `[name, value, name, value, ...]`. */
export type HeaderList = string[];

/** Milliseconds a kept-alive connection may stay idle between requests (nginx's default). */
export const KEEP_ALIVE_TIMEOUT_MS = 75_000;

/** `Connection` and `Keep-Alive` of a kept-alive answer, as node:http writes them. */
const KEEP_ALIVE_LINES = `Connection: keep-alive\r\nKeep-Alive: timeout=${KEEP_ALIVE_TIMEOUT_MS / 1000}\r\n`;
const CLOSE_LINE = 'Connection: close\r\n';

/**
 * The headers of an answer as node:http's `writeHead` takes them: `Server`, the
 * answer's own headers, `Content-Length`. node:http then adds `Date`, `Connection` and
 * `Keep-Alive` in the order {@link responseHead} writes them.
 *
 * @param servername the `Server` header
 * @param headers the answer's own headers
 * @param contentLength body length in bytes
 */
export function nodeHeaderList(
  servername: string,
  headers: HeaderList,
  contentLength: number,
): HeaderList {
  return ['Server', servername, ...headers, 'Content-Length', String(contentLength)];
}

/**
 * The headers of an answer with no length (an EventSource stream) as node:http's
 * `writeHead` takes them: `Server`, then the answer's own. node:http adds `Date`,
 * `Connection` and `Keep-Alive`; the body ends with the connection, as Nchan's does.
 *
 * @param servername the `Server` header
 * @param headers the answer's own headers
 */
export function nodeStreamHeaderList(servername: string, headers: HeaderList): HeaderList {
  return ['Server', servername, ...headers];
}

/**
 * The lines of a WebSocket `101` head in Nchan's order: status, `Server`, `Date`,
 * `Connection: upgrade`, the answer's own headers (CORS, the subprotocol), the
 * handshake's `Sec-WebSocket-Accept` and `Upgrade`. `ws` writes them as given.
 *
 * @param servername the `Server` header
 * @param headers CORS and `Sec-WebSocket-Protocol`, when they apply
 * @param accept the `Sec-WebSocket-Accept` value
 * @returns the head's lines, without line ends
 */
export function upgradeHeadLines(
  servername: string,
  headers: HeaderList,
  accept: string,
): string[] {
  const lines = [
    'HTTP/1.1 101 Switching Protocols',
    `Server: ${servername}`,
    `Date: ${currentHttpDate()}`,
    'Connection: upgrade',
  ];
  for (let i = 0; i < headers.length; i += 2) lines.push(`${headers[i]}: ${headers[i + 1]}`);
  lines.push(`Sec-WebSocket-Accept: ${accept}`, 'Upgrade: websocket');
  return lines;
}

/**
 * A head up to its `Date` line: status line, `Server`, the answer's own headers,
 * `Content-Length` (none when it is null). A message's prebuilt answer keeps this part for as long as the
 * message is the newest, and adds {@link headTail} once per second.
 *
 * @example headStart(200, 'pushserver', ['Etag', '1'], 2) // 'HTTP/1.1 200 OK\r\nServer: pushserver\r\nEtag: 1\r\nContent-Length: 2\r\n'
 */
export function headStart(
  status: number,
  servername: string,
  headers: HeaderList,
  contentLength: number | null,
): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\nServer: ${servername}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return contentLength === null ? head : `${head}Content-Length: ${contentLength}\r\n`;
}

/**
 * The end of a head: `Date`, then `Connection` (and `Keep-Alive`) unless the answer's
 * own headers had a `Connection`, then the blank line.
 *
 * @param date the `Date` value
 * @param keepAlive whether the connection stays open after this answer
 * @param hasConnection the answer's own headers carry `Connection`
 */
export function headTail(date: string, keepAlive: boolean, hasConnection = false): string {
  if (hasConnection) return `Date: ${date}\r\n\r\n`;
  return `Date: ${date}\r\n${keepAlive ? KEEP_ALIVE_LINES : CLOSE_LINE}\r\n`;
}

/** A whole head, and whether the connection closes after the answer. */
export interface ResponseHead {
  head: string;
  closes: boolean;
}

/**
 * A whole head, in the order node:http writes `writeHead(status, nodeHeaderList(...))`.
 *
 * @param status the status code
 * @param servername the `Server` header
 * @param headers the answer's own headers (a `Connection: close` among them closes)
 * @param contentLength body length in bytes; null for an answer with no length that
 *   ends with the connection (an EventSource stream: node:http writes no
 *   `Content-Length` for `writeHead` without `Transfer-Encoding`, and the same
 *   `Date` and keep-alive lines)
 * @param keepAlive whether the client and the daemon want to keep the connection
 * @returns the head and whether the connection closes after it
 */
export function responseHead(
  status: number,
  servername: string,
  headers: HeaderList,
  contentLength: number | null,
  keepAlive: boolean,
): ResponseHead {
  let closes = !keepAlive;
  let hasConnection = false;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() === 'connection') {
      hasConnection = true;
      if (headers[i + 1].toLowerCase() === 'close') closes = true;
    }
  }
  const head =
    headStart(status, servername, headers, contentLength) +
    headTail(currentHttpDate(), !closes, hasConnection);
  return { head, closes };
}
