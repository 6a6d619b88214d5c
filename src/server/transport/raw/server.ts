/**
 * The raw socket path: the daemon's own HTTP/1.1 reader on the sockets of its
 * node:http server, for the requests that make up its load: subscriber polls (GET) and
 * publishes (POST with `Content-Length`). A parked poll then costs a socket, one small
 * connection object and its waiter, instead of node:http's parser, request, response
 * and their listeners; a delivery is one write of the message's shared answer.
 *
 * Everything else is handed to node:http on the same socket, bytes included
 * (`socket.unshift` + node:http's own connection listener), from the first request or
 * in the middle of a keep-alive connection: heads outside the strict subset of
 * `raw-http.ts` (incomplete, malformed, too large, chunked, `Expect`, ...), HTTP/1.0,
 * publisher GET / DELETE / OPTIONS, bodies over `maxBodySize` or not yet received,
 * paths no location answers, and all requests once someone else listens to the
 * server's `request` event (`--allrequests` routes them itself). Once node:http has a
 * socket it keeps it.
 *
 * @module
 */
import { type Server, STATUS_CODES } from 'node:http';
import { Socket } from 'node:net';
import type { PublisherLocation } from '../../locations/publisher.js';
import { type SubscriberLocation, stopWaiter, type Waiter } from '../../locations/subscriber.js';
import {
  currentHttpDate,
  type HeaderList,
  internalError,
  type Reply,
} from '../../protocol/http.js';
import { parseHead } from './head-parser.js';

/** A location and the decoded channel id a path names. */
export interface RawRoute {
  location: PublisherLocation | SubscriberLocation;
  /** Whether `location` is a publisher location. */
  publisher: boolean;
  channel: string;
}

/** What the raw path needs from the daemon. */
export interface RawDaemon {
  /** The `Server` header. */
  servername: string;
  /** Milliseconds an idle keep-alive connection stays open. */
  keepAliveTimeout: number;
  /**
   * The location for a request path, or undefined when node:http must answer it (no
   * location, a bad percent-encoding, a NUL, stores not open yet).
   */
  route(path: string): RawRoute | undefined;
  /**
   * Whether requests may skip the server's `request` event (nobody else listens to
   * it); asked again whenever a `request` listener is added or removed.
   */
  mayBypass(): boolean;
  /** Called once per answered request (the daemon's request log). */
  log:
    | ((entry: {
        method: string;
        url: string;
        status: number;
        duration: number;
        waited: number | undefined;
      }) => void)
    | undefined;
}

/** Received bytes a busy connection holds (pipelined requests) before it stops reading. */
const MAX_PENDING = 64 * 1024;

type RawSocket = Socket & { [CONNECTION]?: RawConnection };
const CONNECTION = Symbol('rawConnection');

/**
 * Node's own way for a socket to read into one buffer of the caller's (the `onread`
 * option of `net.Socket`), for the sockets a server accepts, which cannot be given that
 * option: the socket's symbols for it, found on a socket made with the option. A read
 * then costs no Buffer, ArrayBuffer or stream event of its own; everything read is
 * handled before the next read overwrites the buffer, and what must outlive the read is
 * copied. Undefined when this Node does not have them (the `data` event is used then).
 */
const USER_BUFFER = ((): { buffer: symbol; callback: symbol } | undefined => {
  // `onread` is documented for net.connect; the Socket constructor reads it the same way.
  const options = { onread: { buffer: Buffer.alloc(1), callback: () => false } };
  const probe = new Socket(options as ConstructorParameters<typeof Socket>[0]);
  const symbols = Object.getOwnPropertySymbols(probe);
  const buffer = symbols.find((symbol) => symbol.description === 'kBuffer');
  const callback = symbols.find((symbol) => symbol.description === 'kBufferCb');
  return buffer && callback ? { buffer, callback } : undefined;
})();
/** The buffer every raw connection reads into (see {@link USER_BUFFER}). */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

type UserBufferSocket = RawSocket & Record<symbol, unknown>;
interface ReadHandle {
  useUserBuffer?(buffer: Uint8Array): void;
}

/** Read into {@link READ_BUFFER}; false when this Node or this socket cannot. */
function readIntoSharedBuffer(socket: RawSocket): boolean {
  const handle = (socket as unknown as { _handle?: ReadHandle })._handle;
  if (USER_BUFFER === undefined || typeof handle?.useUserBuffer !== 'function') return false;
  (socket as UserBufferSocket)[USER_BUFFER.buffer] = READ_BUFFER;
  (socket as UserBufferSocket)[USER_BUFFER.callback] = onRawRead;
  handle.useUserBuffer(READ_BUFFER);
  return true;
}

/**
 * The raw path of one node:http server: it takes the server's connections and hands
 * node:http those it does not serve.
 */
export class RawServer {
  /** Connections served raw right now. */
  readonly connections = new Set<RawConnection>();
  /** The daemon is stopping: answers close their connection, idle ones are closed. */
  closing = false;
  /** `Connection` and `Keep-Alive` of a keep-alive answer, as node:http sends them. */
  readonly keepAliveHeaders: string;
  /** {@link RawDaemon.mayBypass}, as of the last change of the `request` listeners. */
  bypass = false;
  private readonly nodeConnection: (socket: Socket) => void;
  private readonly sweeper: NodeJS.Timeout;

  /**
   * Take over the `connection` event of `server` (node:http's own listener is kept
   * for the connections handed to it).
   *
   * @param server a node:http server, before it accepts connections
   * @param daemon routes, log, servername
   */
  constructor(
    readonly server: Server,
    readonly daemon: RawDaemon,
  ) {
    this.keepAliveHeaders = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(daemon.keepAliveTimeout / 1000)}\r\n`;
    const [nodeConnection] = server.rawListeners('connection') as Array<(socket: Socket) => void>;
    this.nodeConnection = nodeConnection;
    server.removeListener('connection', nodeConnection);
    server.on('connection', (socket: Socket) => this.accept(socket));
    const listenersChanged = (event: string | symbol) => {
      // Emitted before the change is made: look once it is.
      if (event === 'request') process.nextTick(() => this.checkBypass());
    };
    server.on('newListener', listenersChanged);
    server.on('removeListener', listenersChanged);
    this.checkBypass();
    // One timer for every idle connection instead of one per socket.
    this.sweeper = setInterval(() => this.closeIdle(Date.now() - daemon.keepAliveTimeout), 1000);
    this.sweeper.unref();
  }

  private checkBypass(): void {
    this.bypass = this.daemon.mayBypass();
  }

  /** Serve a new connection raw until it sends something the raw path does not serve. */
  accept(socket: Socket): void {
    const connection = new RawConnection(socket as RawSocket, this);
    this.connections.add(connection);
    connection.sharedBuffer = readIntoSharedBuffer(socket);
    for (const [event, listener] of RAW_LISTENERS) {
      if (!(connection.sharedBuffer && event === 'data')) socket.on(event, listener);
    }
  }

  /** Give `socket` to node:http, with `bytes` it has received and not processed. */
  handOff(connection: RawConnection, bytes: Buffer | undefined): void {
    const socket = connection.socket;
    this.connections.delete(connection);
    socket[CONNECTION] = undefined;
    for (const [event, listener] of RAW_LISTENERS) socket.removeListener(event, listener);
    // Reads go on into the shared buffer: node:http gets copies through the stream (its
    // parser mostly reads the socket itself, from C++, once it has it).
    if (connection.sharedBuffer)
      (socket as UserBufferSocket)[USER_BUFFER?.callback as symbol] = onHandedOffRead;
    if (bytes !== undefined) socket.unshift(Buffer.from(bytes));
    // node:http's data listener resumes a flowing socket, not a paused one.
    if (socket.isPaused()) socket.resume();
    this.nodeConnection.call(this.server, socket);
  }

  /** Stop: close idle connections now, the others once answered. */
  close(): void {
    this.closing = true;
    clearInterval(this.sweeper);
    this.closeIdle(Number.POSITIVE_INFINITY);
  }

  /** Close the connections idle since before `before` (ms). */
  private closeIdle(before: number): void {
    for (const connection of this.connections) {
      if (!connection.busy && connection.idleSince < before) connection.socket.destroy();
    }
  }
}

function onRawData(this: RawSocket, chunk: Buffer): void {
  this[CONNECTION]?.received(chunk);
}

/** `nread` bytes arrived in {@link READ_BUFFER}. */
function onRawRead(this: RawSocket, nread: number, buffer: Buffer): boolean {
  this[CONNECTION]?.received(buffer.subarray(0, nread));
  return true;
}

function onHandedOffRead(this: RawSocket, nread: number, buffer: Buffer): boolean {
  return this.push(Buffer.from(buffer.subarray(0, nread)));
}

function onRawEnd(this: RawSocket): void {
  this[CONNECTION]?.ended();
}

function onRawClose(this: RawSocket): void {
  this[CONNECTION]?.closed();
}

/** The `close` event follows; there is nothing to answer on a broken connection. */
function onRawError(): void {}

/** We ended our side: nothing more to write, and a half-open peer must not hold the socket. */
function onRawFinish(this: RawSocket): void {
  this.destroy();
}

/** The client read what we wrote: serve what it sent meanwhile. */
function onRawDrain(this: RawSocket): void {
  this[CONNECTION]?.process();
}

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

  constructor(
    readonly socket: RawSocket,
    private readonly server: RawServer,
  ) {
    socket[CONNECTION] = this;
  }

  /** Bytes arrived. */
  received(chunk: Buffer): void {
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.busy) this.process();
    // Pipelined behind a poll: read on once it is answered.
    else if (this.pending.length > MAX_PENDING) this.socket.pause();
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
    if (!this.server.bypass) return false;
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
    } else if (head.method !== 'GET') {
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
        );
        if (waiter !== undefined) {
          this.spare = waiter;
          if (waiter.state !== 'done') this.waiter = waiter;
        }
      }
    } catch (error) {
      // A bug of ours costs one request, never the daemon.
      if (this.waiter) stopWaiter(this.waiter);
      internalError(this, error);
    }
    return true;
  }

  send(status: number, headers: HeaderList, body: string | Buffer = ''): void {
    if (this.headersSent) return;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nServer: ${this.server.daemon.servername}\r\n`;
    let closing = !this.keepAlive || this.server.closing;
    let connection = false;
    for (let i = 0; i < headers.length; i += 2) {
      head += `${headers[i]}: ${headers[i + 1]}\r\n`;
      if (headers[i].toLowerCase() === 'connection') {
        connection = true;
        if (headers[i + 1].toLowerCase() === 'close') closing = true;
      }
    }
    const bodyLength = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    head += `Content-Length: ${bodyLength}\r\nDate: ${currentHttpDate()}\r\n`;
    if (!connection) head += closing ? 'Connection: close\r\n' : this.server.keepAliveHeaders;
    head += '\r\n';
    if (closing) this.keepAlive = false;
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

  sendPrebuilt(_head: string, bytes: Buffer): boolean {
    if (this.headersSent || !this.keepAlive || this.server.closing) return false;
    this.write(bytes, 200);
    return true;
  }

  parked(): void {
    if (this.server.daemon.log) this.parkedAt = performance.now();
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
    });
  }
}

/** The socket events the raw path listens to, with their shared listeners (no closure per connection). */
const RAW_LISTENERS: ReadonlyArray<readonly [string, (this: RawSocket, chunk: Buffer) => void]> = [
  ['data', onRawData],
  ['end', onRawEnd],
  ['close', onRawClose],
  ['error', onRawError],
  ['finish', onRawFinish],
  ['drain', onRawDrain],
];
