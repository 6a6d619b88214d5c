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
 * `head-parser.ts` (incomplete, malformed, too large, chunked, `Expect`, ...), HTTP/1.0,
 * publisher GET / DELETE / OPTIONS, bodies over `maxBodySize` or not yet received, and
 * paths no location answers (a 404, the app's pages under `--allrequests`). Once
 * node:http has a socket it keeps it.
 *
 * @module
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { PublisherLocation } from '../../locations/publisher.js';
import type { SubscriberLocation } from '../../locations/subscriber.js';
import { readIntoBuffer, setReadCallback, takeConnectionListener } from '../node-internals.js';
import type { ErrorLog, RequestLogEntry } from '../reply.js';
import { CONNECTION, RawConnection, type RawSocket, READ_BUFFER } from './connection.js';

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
  /** Called once per answered request (the daemon's request log). */
  log: ((entry: RequestLogEntry) => void) | undefined;
  /** Where a bug's line goes. */
  errorLog: ErrorLog;
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
  private readonly sweeper: NodeJS.Timeout;

  /**
   * Put the raw path on `server`, when this Node allows it (see `node-internals.ts`).
   *
   * @param server a node:http server, before it accepts connections
   * @param daemon routes, log, servername
   * @returns the raw path, or undefined when node:http serves everything
   */
  static attach(server: Server, daemon: RawDaemon): RawServer | undefined {
    const nodeConnection = takeConnectionListener(server);
    return nodeConnection ? new RawServer(server, daemon, nodeConnection) : undefined;
  }

  private constructor(
    readonly server: Server,
    readonly daemon: RawDaemon,
    private readonly nodeConnection: (socket: Socket) => void,
  ) {
    server.on('connection', (socket: Socket) => this.accept(socket));
    // One timer for every idle connection instead of one per socket.
    this.sweeper = setInterval(() => this.closeIdle(Date.now() - daemon.keepAliveTimeout), 1000);
    this.sweeper.unref();
  }

  /** Serve a new connection raw until it sends something the raw path does not serve. */
  accept(socket: Socket): void {
    const connection = new RawConnection(socket as RawSocket, this);
    this.connections.add(connection);
    connection.sharedBuffer = readIntoBuffer(socket, READ_BUFFER, onRawRead);
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
    if (connection.sharedBuffer) setReadCallback(socket, onHandedOffRead);
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
function onRawRead(this: Socket, nread: number, buffer: Buffer): boolean {
  (this as RawSocket)[CONNECTION]?.received(buffer.subarray(0, nread));
  return true;
}

function onHandedOffRead(this: Socket, nread: number, buffer: Buffer): boolean {
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

/** The socket events the raw path listens to, with their shared listeners (no closure per connection). */
const RAW_LISTENERS: ReadonlyArray<readonly [string, (this: RawSocket, chunk: Buffer) => void]> = [
  ['data', onRawData],
  ['end', onRawEnd],
  ['close', onRawClose],
  ['error', onRawError],
  ['finish', onRawFinish],
  ['drain', onRawDrain],
];
