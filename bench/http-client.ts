import { connect, type Socket } from 'node:net';

/** One HTTP/1.1 response as the load generator needs it: status, raw head, body. */
export interface RawResponse {
  status: number;
  /** Status line and headers in latin1, without the final blank line. */
  head: string;
  body: Buffer;
  /** The server said `Connection: close`. */
  close: boolean;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[ \t]*chunked/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;

/**
 * Incremental parser of HTTP/1.1 responses on one keep-alive connection.
 * Deliberately small: the generator must cost less CPU than the server it measures.
 *
 * @param onResponse called once per complete response, in order
 * @example const reader = new ResponseReader((r) => console.log(r.status)); socket.on('data', (c) => reader.push(c));
 */
export class ResponseReader {
  private pending: Buffer | undefined;

  constructor(private readonly onResponse: (response: RawResponse) => void) {}

  /** Feed bytes read from the socket. @param chunk what `data` gave */
  push(chunk: Buffer): void {
    const buffer = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      const end = buffer.indexOf(HEAD_END, offset);
      if (end < 0) break;
      const head = buffer.toString('latin1', offset, end);
      const bodyStart = end + 4;
      const length = contentLength(head);
      let body: Buffer;
      let next: number;
      if (length < 0) {
        const decoded = decodeChunked(buffer, bodyStart);
        if (!decoded) break;
        body = decoded.body;
        next = decoded.end;
      } else {
        if (buffer.length < bodyStart + length) break;
        body = buffer.subarray(bodyStart, bodyStart + length);
        next = bodyStart + length;
      }
      offset = next;
      this.onResponse({ status: Number(head.slice(9, 12)), head, body, close: closes(head) });
    }
    // Copy the unfinished tail so the whole chunk it came from can be freed.
    this.pending = offset < buffer.length ? Buffer.from(buffer.subarray(offset)) : undefined;
  }

  /** Forget a partly read response (after a reconnect). */
  reset(): void {
    this.pending = undefined;
  }
}

// Canonical header spelling first (both servers use it); a regular expression only
// when it is missing. The generator's CPU per response must stay below the server's.
function contentLength(head: string): number {
  const at = head.indexOf('\r\nContent-Length: ');
  if (at >= 0) return Number.parseInt(head.slice(at + 18, at + 30), 10);
  const match = CONTENT_LENGTH.exec(head);
  if (match) return Number(match[1]);
  return CHUNKED.test(head) ? -1 : 0;
}

function closes(head: string): boolean {
  if (head.indexOf('\r\nConnection: keep-alive') >= 0) return false;
  return CONNECTION_CLOSE.test(head);
}

function decodeChunked(buffer: Buffer, start: number): { body: Buffer; end: number } | undefined {
  const parts: Buffer[] = [];
  let offset = start;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', offset);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(buffer.toString('latin1', offset, lineEnd), 16);
    if (size === 0) {
      const trailerEnd = buffer.indexOf(HEAD_END, lineEnd);
      if (trailerEnd < 0 && buffer.length < lineEnd + 4) return undefined;
      return { body: Buffer.concat(parts), end: trailerEnd < 0 ? lineEnd + 4 : trailerEnd + 4 };
    }
    if (buffer.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
}

/**
 * The value of one header in a raw response head.
 *
 * @param head `RawResponse.head`
 * @param name the canonical spelling with its CRLF before and ": " after, e.g. `'\r\nEtag: '`
 * @param pattern the case-insensitive fallback, e.g. `/\r\netag:[ \t]*([^\r]*)/i`
 * @returns the value, or '' when absent
 * @example headerValue(response.head, '\r\nEtag: ', ETAG)
 */
export function headerValue(head: string, name: string, pattern: RegExp): string {
  const at = head.indexOf(name);
  if (at >= 0) {
    const end = head.indexOf('\r', at + name.length);
    return head.slice(at + name.length, end < 0 ? head.length : end);
  }
  return pattern.exec(head)?.[1] ?? '';
}

/**
 * Open a TCP connection to 127.0.0.1:port with Nagle off.
 *
 * @param port the server's port
 * @returns the connected socket
 * @example const socket = await openSocket(8001);
 */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Run `task` over `items` with at most `limit` at a time (connection ramps: a burst of
 * 10,000 SYNs would overflow the listen backlog and stall on SYN retries).
 *
 * @param items what to work on
 * @param limit how many at once
 * @param task the work
 * @example await inBatches(subscribers, 200, (s) => s.connect());
 */
export async function inBatches<T>(
  items: T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Microseconds on CLOCK_MONOTONIC, comparable between processes on one machine. */
export function monotonicMicros(): number {
  const [seconds, nanos] = process.hrtime();
  return seconds * 1e6 + nanos / 1e3;
}
