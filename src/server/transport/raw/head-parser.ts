/**
 * The request heads the raw socket path serves itself: a strict subset of what
 * node:http accepts. Anything outside it (an incomplete head, a malformed or unusual
 * one) is left to node:http, which answers it or refuses it as it always does, so the
 * daemon never accepts a request node:http would refuse nor reads one differently.
 *
 * The subset: `GET` or `POST`, an origin-form target of visible ASCII, `HTTP/1.1`,
 * header lines `name: value` with token names, values of visible ASCII, space and tab,
 * every line ending in CRLF, at most {@link MAX_RAW_HEAD} bytes and
 * {@link MAX_RAW_HEADERS} headers, each name once, a `Host`, no `Transfer-Encoding`,
 * `Upgrade` or `Expect`, `Connection` only `keep-alive` or `close`, and a
 * `Content-Length` of digits on a POST only (required there).
 *
 * @module
 */

/** One request head of the subset. */
export interface RawHead {
  method: 'GET' | 'POST';
  /** The target as sent (path and query). */
  url: string;
  /** Lower-case names → values without surrounding spaces, as node:http's `req.headers`. */
  headers: Record<string, string>;
  /** Whether the connection stays open after the answer (no `Connection: close`). */
  keepAlive: boolean;
  /** The body's length: the POST's `Content-Length`, 0 for a GET. */
  contentLength: number;
  /** Offset of the first byte after the head's blank line. */
  end: number;
}

/** Longest head served raw; longer ones go to node:http (whose limit is 16 KiB). */
export const MAX_RAW_HEAD = 8192;
/** Most header lines served raw. */
export const MAX_RAW_HEADERS = 64;

const CR = 13;
const LF = 10;
const SP = 32;
const HTAB = 9;

/** RFC 9110 `tchar`. */
const TOKEN = byteTable((c) => /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(String.fromCharCode(c)));
/** Visible ASCII, space and tab: header value bytes of the subset (no obs-text, no CTL). */
const VALUE = byteTable((c) => c === HTAB || (c >= 0x20 && c <= 0x7e));
/** Visible ASCII: request target bytes of the subset. */
const TARGET = byteTable((c) => c >= 0x21 && c <= 0x7e);
const VERSION = Buffer.from(' HTTP/1.1\r\n', 'latin1');

/**
 * Header names every poll and publish sends, by length: read without allocating a
 * string (a head has a handful of headers and the daemon reads thousands a second).
 */
const KNOWN_NAMES: string[][] = [];
for (const name of [
  'host',
  'accept',
  'origin',
  'cookie',
  'connection',
  'user-agent',
  'content-type',
  'content-length',
  'if-none-match',
  'if-modified-since',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'referer',
  'pragma',
]) {
  if (KNOWN_NAMES[name.length] === undefined) KNOWN_NAMES[name.length] = [];
  KNOWN_NAMES[name.length].push(name);
}

/**
 * The lower-case name of the token at `buffer[start, end)`. Token bytes only: `| 0x20`
 * lowers letters, and a known name holds nothing but letters and `-`, which no other
 * token byte turns into.
 */
function headerName(buffer: Buffer, start: number, end: number): string {
  const candidates = KNOWN_NAMES[end - start];
  if (candidates !== undefined) {
    for (const name of candidates) {
      let i = 0;
      while (i < name.length && (buffer[start + i] | 0x20) === name.charCodeAt(i)) i++;
      if (i === name.length) return name;
    }
  }
  return buffer.toString('latin1', start, end).toLowerCase();
}

function byteTable(test: (byte: number) => boolean): Uint8Array {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = test(c) ? 1 : 0;
  return table;
}

/**
 * Read one request head of the subset from `buffer` at `start`.
 *
 * @param buffer received bytes
 * @param start where the request begins
 * @returns the head, or undefined when node:http must handle the request (the head is
 *   incomplete, too long, malformed, or outside the subset)
 * @example parseHead(Buffer.from('GET /sub/a HTTP/1.1\r\nHost: x\r\n\r\n'), 0)?.url // '/sub/a'
 */
export function parseHead(buffer: Buffer, start: number): RawHead | undefined {
  const limit = Math.min(buffer.length, start + MAX_RAW_HEAD);
  let i = start;
  let method: RawHead['method'];
  if (
    buffer[i] === 0x47 /* G */ &&
    buffer[i + 1] === 0x45 /* E */ &&
    buffer[i + 2] === 0x54 /* T */ &&
    buffer[i + 3] === SP
  ) {
    method = 'GET';
    i += 4;
  } else if (
    buffer[i] === 0x50 /* P */ &&
    buffer[i + 1] === 0x4f /* O */ &&
    buffer[i + 2] === 0x53 /* S */ &&
    buffer[i + 3] === 0x54 /* T */ &&
    buffer[i + 4] === SP
  ) {
    method = 'POST';
    i += 5;
  } else {
    return undefined;
  }
  const targetStart = i;
  if (buffer[i] !== 0x2f /* / */) return undefined;
  while (i < limit && TARGET[buffer[i]] === 1) i++;
  const targetEnd = i;
  if (i + VERSION.length > limit) return undefined;
  for (let v = 0; v < VERSION.length; v++, i++) if (buffer[i] !== VERSION[v]) return undefined;

  const headers: Record<string, string> = {};
  let count = 0;
  for (;;) {
    if (i + 1 >= limit) return undefined;
    if (buffer[i] === CR) {
      if (buffer[i + 1] !== LF) return undefined;
      i += 2;
      break;
    }
    const nameStart = i;
    while (i < limit && TOKEN[buffer[i]] === 1) i++;
    // An empty name also catches obs-fold (a line starting with space or tab).
    if (i === nameStart || i >= limit || buffer[i] !== 0x3a /* : */) return undefined;
    const nameEnd = i++;
    while (i < limit && (buffer[i] === SP || buffer[i] === HTAB)) i++;
    const valueStart = i;
    while (i < limit && VALUE[buffer[i]] === 1) i++;
    // A bare CR or LF, a control byte, obs-text, or the end of what we have.
    if (i + 1 >= limit || buffer[i] !== CR || buffer[i + 1] !== LF) return undefined;
    let valueEnd = i;
    while (valueEnd > valueStart && (buffer[valueEnd - 1] === SP || buffer[valueEnd - 1] === HTAB))
      valueEnd--;
    i += 2;
    if (++count > MAX_RAW_HEADERS) return undefined;
    const name = headerName(buffer, nameStart, nameEnd);
    // Twice the same name (or a name of Object.prototype): node:http's rules decide.
    if (headers[name] !== undefined) return undefined;
    headers[name] = buffer.toString('latin1', valueStart, valueEnd);
  }

  if (
    headers.host === undefined ||
    headers['transfer-encoding'] !== undefined ||
    headers.upgrade !== undefined ||
    headers.expect !== undefined
  ) {
    return undefined;
  }
  let keepAlive = true;
  const connection = headers.connection;
  if (connection !== undefined) {
    const token = connection.toLowerCase();
    if (token === 'close') keepAlive = false;
    else if (token !== 'keep-alive') return undefined;
  }
  let contentLength = 0;
  const length = headers['content-length'];
  if (method === 'GET') {
    if (length !== undefined) return undefined;
  } else {
    if (length === undefined || !/^\d{1,15}$/.test(length)) return undefined;
    contentLength = Number(length);
  }
  return {
    method,
    url: buffer.toString('latin1', targetStart, targetEnd),
    headers,
    keepAlive,
    contentLength,
    end: i,
  };
}
