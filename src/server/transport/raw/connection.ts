/**
 * One connection of the raw socket path: it reads requests with `head-parser.ts`,
 * answers them one at a time, in order, through the locations, and writes every head
 * with `response-head.ts`.
 *
 * @module
 */
import type { Socket } from 'node:net';
import type { PublisherLocation } from '../../locations/publisher.js';
import type { SubscriberLocation } from '../../locations/subscriber.js';
import { stopWaiter, type Waiter } from '../../locations/waiting-room.js';
import { internalError, type Reply } from '../reply.js';
import { type HeaderList, responseHead } from '../response-head.js';
import type { StreamSink } from '../stream.js';
import { parseHead } from './head-parser.js';
import type { RawRoute, RawServer } from './server.js';

/** Received bytes a busy connection holds (pipelined requests) before it stops reading. */
const MAX_PENDING = 64 * 1024;

/** The connection a raw-path socket belongs to. */
export const CONNECTION = Symbol('rawConnection');
export type RawSocket = Socket & { [CONNECTION]?: RawConnection };

/** The buffer every raw connection reads into, when Node allows (see `node-internals.ts`). */
export const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

function processLater(connection: RawConnection): void {
  connection.process();
}

/** One connection on the raw path; it answers its requests one at a time, in order. */
export class RawConnection implements Reply {
  /** Received bytes not processed yet (a partial or pipelined request). */
  private pending: Buffer | undefined;
  /** A request is being answered (checking, parked, or publishing). */
  busy = false;
  /** Reads land in the shared {@link READ_BUFFER}: bytes kept past a read are copied. */
  sharedBuffer = false;
  /** When the last answer was written (ms), for the keep-alive timeout. */
  idleSince = Date.now();
  headersSent = false;
  private processing = false;
  private keepAlive = true;
  /** The connection carries an EventSource stream: busy until it closes. */
  private streaming = false;
  private waiter: Waiter | undefined;
  /** The last poll's waiter, reused by the next poll once answered. */
  private spare: Waiter | undefined;
  /** The last request's path and route: a kept-alive subscriber asks for the same path again and again. */
  private lastPath = '';
  private lastRoute: RawRoute | undefined;
  private method = '';
  private url = '';
  private startedAt = 0;
  private parkedAt = -1;
  /** How the request is served, for the log: set by a subscriber location, unset for a publish. */
  private transportName: string | undefined = undefined;

  constructor(
    readonly socket: RawSocket,
    private readonly server: RawServer,
  ) {
    socket[CONNECTION] = this;
  }

  /** Bytes arrived. */
  received(chunk: Buffer): void {
    // An EventSource stream answers its one request until the connection ends.
    if (this.streaming) return;
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.busy) this.process();
    else if (this.pending.length > MAX_PENDING) {
      // A paused socket never reads its client's close, and a parked poll may wait for
      // ever: a client that pipelines this much behind one loses the connection. Behind
      // a request the store is still answering, reading waits for that answer.
      if (this.waiter?.state === 'waiting') {
        this.pending = undefined;
        this.socket.destroy();
        return;
      }
      this.socket.pause();
    }
    // The next read overwrites the shared buffer.
    if (this.pending !== undefined && this.pending.buffer === READ_BUFFER.buffer) {
      this.pending = Buffer.from(this.pending);
    }
  }

  /** Serve the requests in `pending`, until one waits or must go to node:http. */
  process(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      while (!this.busy && this.pending !== undefined && !this.socket.destroyed) {
        // A client that sends and does not read: stop reading until it does (as node:http).
        if (this.socket.writableNeedDrain) {
          this.socket.pause();
          return;
        }
        if (!this.serveOne(this.pending)) {
          const bytes = this.pending;
          this.pending = undefined;
          this.server.handOff(this, bytes);
          return;
        }
      }
      if (!this.busy && this.socket.isPaused()) this.socket.resume();
    } finally {
      this.processing = false;
    }
  }

  /** Serve the request at the start of `buffer`; false when node:http must. */
  private serveOne(buffer: Buffer): boolean {
    const { daemon } = this.server;
    const head = parseHead(buffer, 0);
    if (head === undefined) return false;
    const query = head.url.indexOf('?');
    const path = query < 0 ? head.url : head.url.slice(0, query);
    let route = this.lastRoute;
    if (path !== this.lastPath || route === undefined) {
      route = daemon.route(path);
      if (route === undefined) return false;
      this.lastPath = path;
      this.lastRoute = route;
    }
    const bodyEnd = head.end + head.contentLength;
    if (route.publisher) {
      // Publishes whose body is here and not over the limit; node:http answers the rest.
      const location = route.location as PublisherLocation;
      if (
        head.method !== 'POST' ||
        bodyEnd > buffer.length ||
        head.contentLength > location.location.maxBodySize
      ) {
        return false;
      }
    } else if (
      head.method !== 'GET' ||
      (route.location as SubscriberLocation).authorizer !== undefined
    ) {
      // A poll that waits for the app's authorize answer first is node:http's.
      return false;
    }
    this.pending = bodyEnd < buffer.length ? buffer.subarray(bodyEnd) : undefined;
    this.busy = true;
    this.headersSent = false;
    this.keepAlive = head.keepAlive;
    if (daemon.log) {
      this.method = head.method;
      this.url = head.url;
      this.startedAt = performance.now();
      this.parkedAt = -1;
      this.transportName = undefined;
    }
    try {
      if (route.publisher) {
        // A copy: the message may stay in the store long after this read buffer.
        const body = Buffer.allocUnsafe(head.contentLength);
        buffer.copy(body, 0, head.end, bodyEnd);
        (route.location as PublisherLocation).serve(
          'POST',
          head.headers,
          this.socket,
          this,
          route.channel,
          body,
        );
      } else {
        const waiter = (route.location as SubscriberLocation).serve(
          'GET',
          head.headers,
          this,
          route.channel,
          this.spare,
          head.url,
        );
        if (waiter !== undefined) {
          this.spare = waiter;
          if (waiter.state !== 'done') this.waiter = waiter;
        }
      }
    } catch (error) {
      // A bug of ours costs one request, never the daemon.
      if (this.waiter) stopWaiter(this.waiter);
      internalError(this, error, daemon.errorLog);
    }
    return true;
  }

  send(status: number, headers: HeaderList, body: string | Buffer = ''): void {
    if (this.headersSent) return;
    const bodyLength = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    const keepAlive = this.keepAlive && !this.server.closing;
    const { head, closes } = responseHead(
      status,
      this.server.daemon.servername,
      headers,
      bodyLength,
      keepAlive,
    );
    if (closes) this.keepAlive = false;
    // An ASCII body (info bodies, error lines) goes out with the head as one string,
    // which Node writes without a Buffer of ours.
    if (typeof body === 'string' && bodyLength === body.length) {
      this.write(head + body, status);
      return;
    }
    const headLength = Buffer.byteLength(head, 'latin1');
    const bytes = Buffer.allocUnsafe(headLength + bodyLength);
    bytes.write(head, 0, 'latin1');
    if (typeof body === 'string') bytes.write(body, headLength, 'utf8');
    else body.copy(bytes, headLength);
    this.write(bytes, status);
  }

  stream(status: number, headers: HeaderList): StreamSink | undefined {
    if (this.headersSent) return undefined;
    this.headersSent = true;
    this.waiter = undefined;
    // `busy` stays set: the keep-alive sweep leaves the stream alone.
    this.streaming = true;
    this.keepAlive = false;
    this.pending = undefined;
    const socket = this.socket;
    if (socket.writable)
      socket.write(
        responseHead(status, this.server.daemon.servername, headers, null, true).head,
        'latin1',
      );
    return new RawStreamSink(socket);
  }

  sendPrebuilt(_head: string, bytes: Buffer): boolean {
    if (this.headersSent || !this.keepAlive || this.server.closing) return false;
    this.write(bytes, 200);
    return true;
  }

  transport(name: string): void {
    if (this.server.daemon.log) this.transportName = name;
  }

  parked(): void {
    if (this.server.daemon.log) this.parkedAt = performance.now();
    // Paused behind the store's answer with a full backlog: see `received`.
    if (this.pending !== undefined && this.pending.length > MAX_PENDING) this.socket.destroy();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private write(bytes: Buffer | string, status: number): void {
    this.headersSent = true;
    this.waiter = undefined;
    this.busy = false;
    this.idleSince = Date.now();
    const socket = this.socket;
    if (socket.writable) socket.write(bytes, 'latin1');
    this.logAnswer(status);
    if (!this.keepAlive) {
      this.pending = undefined;
      socket.end();
    } else if (this.pending !== undefined && !this.processing) {
      // Pipelined requests: after this call returns (it may be inside a store event).
      process.nextTick(processLater, this);
    } else if (socket.isPaused()) {
      socket.resume();
    }
  }

  /** The client ended its side: as node:http, stop its poll and close. */
  ended(): void {
    this.abandon();
    this.socket.end();
  }

  /** The socket is gone. */
  closed(): void {
    this.abandon();
    // A stream is logged when it ends, as node:http logs it.
    if (this.streaming) this.logAnswer(200);
    this.server.connections.delete(this);
    this.socket[CONNECTION] = undefined;
  }

  /** Forget the request in progress, if any: its client went away. */
  private abandon(): void {
    this.pending = undefined;
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter) stopWaiter(waiter);
    if (this.busy && !this.headersSent) {
      this.headersSent = true;
      this.logAnswer(0);
    }
  }

  private logAnswer(status: number): void {
    const log = this.server.daemon.log;
    if (!log) return;
    const end = performance.now();
    log({
      method: this.method,
      url: this.url,
      status,
      duration: end - this.startedAt,
      waited: this.parkedAt < 0 ? undefined : end - this.parkedAt,
      transport: this.transportName,
    });
  }
}

/** A raw connection's socket as an EventSource stream's {@link StreamSink}. */
class RawStreamSink implements StreamSink {
  constructor(private readonly socket: Socket) {}

  write(bytes: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  get buffered(): number {
    return this.socket.writableLength;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  onClose(listener: () => void): void {
    this.socket.once('close', listener);
  }
}
