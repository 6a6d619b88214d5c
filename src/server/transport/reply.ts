/**
 * Where one request's answer goes. Locations answer through a {@link Reply} and never
 * touch the transport: node:http ({@link NodeReply}, here) or a connection of the raw
 * socket path (`raw/connection.ts`). Both write their heads with `response-head.ts`.
 *
 * @module
 */
import type { ServerResponse } from 'node:http';
import { writePrebuiltResponse } from './node-internals.js';
import { type HeaderList, nodeHeaderList, nodeStreamHeaderList } from './response-head.js';
import type { StreamSink } from './stream.js';

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
  /** How a subscriber request is served, for the request log (`longpoll`, `eventsource`, ...). */
  transport(name: string): void;
  /** Whether the answer has begun. */
  readonly headersSent: boolean;
  /** Drop the connection (an answer that began cannot be finished). */
  destroy(): void;
  /**
   * Begin an answer with no length that ends with the connection (an EventSource
   * stream): the head now, the body through the sink.
   *
   * @returns the sink, or undefined when this exchange cannot stream (the raw path
   *   hands such requests to node:http before they get here)
   */
  stream?(status: number, headers: HeaderList): StreamSink | undefined;
}

/** One answered request, for the daemon's log. */
export interface RequestLogEntry {
  method: string;
  /** Path and query as requested. */
  url: string;
  status: number;
  /** Milliseconds from the request to the end of the answer. */
  duration: number;
  /** Milliseconds a long-poll was parked waiting for a message; undefined when it did not wait. */
  waited: number | undefined;
  /**
   * How a subscriber request was served: `longpoll`, `intervalpoll`, `eventsource` or
   * `websocket`, and what it asked for when its location does not serve that
   * (`longpoll, eventsource not enabled`); undefined for other requests.
   */
  transport?: string;
}

/** When a node:http response's poll was parked (ms, `performance.now()`), for the request log. */
export const PARKED_AT = Symbol('parkedAt');
/** How a node:http response's subscriber request was served, for the request log. */
export const TRANSPORT = Symbol('transport');

/** A node:http response as a {@link Reply}. */
export class NodeReply implements Reply {
  /**
   * @param res the response
   * @param server the `Server` header value
   * @param prebuilt whether prebuilt answers may be written: only on the daemon's own
   *   server, whose keep-alive timeout is the one prebuilt heads announce
   */
  constructor(
    readonly res: ServerResponse,
    private readonly server: string,
    private readonly prebuilt = false,
  ) {}

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  send(status: number, headers: HeaderList, body: string | Buffer = ''): void {
    const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    this.res.writeHead(status, nodeHeaderList(this.server, headers, length));
    this.res.end(body);
  }

  sendPrebuilt(head: string, bytes: Buffer): boolean {
    return this.prebuilt && writePrebuiltResponse(this.res, head, bytes);
  }

  parked(): void {
    (this.res as ServerResponse & { [PARKED_AT]?: number })[PARKED_AT] = performance.now();
  }

  transport(name: string): void {
    (this.res as ServerResponse & { [TRANSPORT]?: string })[TRANSPORT] = name;
  }

  destroy(): void {
    this.res.destroy();
  }

  stream(status: number, headers: HeaderList): StreamSink {
    const res = this.res;
    // Neither a length nor chunked encoding: the stream ends with the connection (as Nchan's).
    res.removeHeader('Transfer-Encoding');
    res.writeHead(status, nodeStreamHeaderList(this.server, headers));
    res.flushHeaders();
    return new NodeStreamSink(res);
  }
}

/** A node:http response as a {@link StreamSink}. */
class NodeStreamSink implements StreamSink {
  constructor(private readonly res: ServerResponse) {}

  write(bytes: string | Buffer): void {
    if (!this.res.destroyed) this.res.write(bytes);
  }

  get buffered(): number {
    return this.res.writableLength + (this.res.socket?.writableLength ?? 0);
  }

  end(): void {
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.socket === null || this.res.socket.destroyed;
  }

  onClose(listener: () => void): void {
    this.res.once('close', listener);
  }
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

/** Where the daemon's own lines go (`runpushserver --workers` tags them with the worker). */
export type ErrorLog = (line: string) => void;

/** The default {@link ErrorLog}: standard error. */
export const consoleErrorLog: ErrorLog = (line) => console.error(line);

/** The line a bug of ours is logged with: its stack. */
export function internalErrorLine(error: unknown): string {
  return `pushserver: internal error: ${(error as Error)?.stack ?? error}`;
}

/**
 * A bug of ours: log it with its stack and answer 500 (or drop the connection when
 * the answer had begun). Costs one request, never the daemon.
 *
 * @param reply the answer of the failed request
 * @param error what was thrown
 * @param log where the line goes
 */
export function internalError(reply: Reply, error: unknown, log: ErrorLog = consoleErrorLog): void {
  log(internalErrorLine(error));
  if (!reply.headersSent) sendText(reply, 500, 'Internal Server Error');
  else reply.destroy();
}
