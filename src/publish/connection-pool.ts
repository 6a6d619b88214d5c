// The publisher's own keep-alive HTTP/1.1 client on `net` sockets. A publish is one
// small POST and one small answer; node:http spends more CPU on its request and
// response objects, listeners and agent bookkeeping than the daemon spends storing the
// message, so `sendUpdate` writes a prebuilt request head and reads the answer with
// the strict reader in response-reader.ts. https goes through node:https instead.
import { connect, type Socket } from 'node:net';
import { type PublishAnswer, ResponseReader } from './response-reader.js';

/** No answer came within the timeout. */
export class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/** The connection failed after the request went out and before the whole answer came. */
export class ConnectionClosedError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    cause?: Error,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ConnectionClosedError';
  }
}

/** Connections per daemon, as node:http's agent had (`maxSockets`). */
const MAX_CONNECTIONS = 64;
/**
 * Reuse a connection idle this long only after the event loop has looked at it once
 * more: a daemon's keep-alive timeout may have closed it a moment ago, and the close
 * only shows once the event loop reads the socket.
 */
const IDLE_CHECK_MS = 1000;
/** Retire a connection this long before the daemon's announced keep-alive timeout. */
const KEEP_ALIVE_MARGIN_MS = 1000;
/** Bodies up to this size are copied behind the head to go out in one write. */
const COPY_LIMIT = 16 * 1024;

/**
 * One request through a {@link ConnectionPool}: the caller fills in the request and
 * implements {@link WireCall.answered}; the pool keeps its bookkeeping here, so a
 * publish costs one object.
 */
export abstract class WireCall {
  /** Request line and headers, ending with the blank line (ASCII). */
  head = '';
  /** The body: a string is sent as UTF-8. */
  body: string | Buffer = '';
  /** `latin1` when a string body is plain ASCII: the cheaper encoder, the same bytes. */
  encoding: 'utf8' | 'latin1' = 'utf8';
  /** Milliseconds for the whole call: a connection, the request, the answer. */
  timeout = 0;
  signal: AbortSignal | undefined = undefined;

  /** When it was sent (Date.now()). */
  since = 0;
  /** It did not go out at once (it waited for a connection, or is sent again): its timer counts from {@link since}. */
  late = false;
  /** Its own timer, while it waits for a connection. */
  timer: NodeJS.Timeout | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  connection: Connection | undefined = undefined;
  pool: ConnectionPool | undefined = undefined;
  /** Sent once on a kept-alive connection that turned out dead; the retry got a fresh one. */
  retried = false;
  /** Waited for the event loop to look at idle connections once more. */
  checked = false;
  settled = false;

  /** Called once, with the answer or why there is none. */
  abstract answered(error: Error | undefined, answer: PublishAnswer | undefined): void;

  settle(error: Error | undefined, answer: PublishAnswer | undefined): void {
    if (this.settled) return;
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.answered(error, answer);
  }

  /** Timeout or abort: stop waiting, and close the connection its answer would come on. */
  cancel(error: Error): void {
    if (this.settled) return;
    const connection = this.connection;
    this.connection = undefined;
    this.pool?.forget(this);
    this.settle(error, undefined);
    connection?.abandon();
  }

  /** Start its own timer (while it waits for a connection). */
  wait(): void {
    this.late = true;
    this.timer ??= setTimeout(() => this.cancel(new TimeoutError(this.timeout)), this.timeout);
  }
}

/**
 * Kept-alive connections to one daemon (host and port), at most 64, the most recently
 * used first. Requests beyond 64 in flight wait for a connection.
 *
 * @example const pool = new ConnectionPool('127.0.0.1', 8001); pool.send(call);
 */
export class ConnectionPool {
  private readonly idle: Connection[] = [];
  private readonly waiting: WireCall[] = [];
  private open = 0;
  /** Set by {@link close}: connections in use are closed once answered. Cleared by the next send. */
  private closing = false;

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  /**
   * Send a request; its `answered` is called with the answer or the failure.
   *
   * @param call the request
   */
  send(call: WireCall): void {
    call.pool = this;
    call.since = Date.now();
    const { signal } = call;
    if (signal) {
      if (signal.aborted) {
        call.settle(new Error('aborted before it was sent', { cause: signal.reason }), undefined);
        return;
      }
      call.onAbort = () => call.cancel(new Error('aborted', { cause: signal.reason }));
      signal.addEventListener('abort', call.onAbort, { once: true });
    }
    this.closing = false;
    this.dispatch(call);
  }

  /** Close the idle connections; those in use close once answered. */
  close(): void {
    for (const connection of this.idle.splice(0)) connection.destroy();
    this.closing = true;
  }

  private dispatch(call: WireCall): void {
    const idle = this.idle;
    if (idle.length > 0) {
      const now = Date.now();
      do {
        const connection = idle[idle.length - 1];
        const idleFor = now - connection.idleSince;
        if (idleFor >= connection.keepAliveMs) {
          // The daemon is about to close it, if it has not already.
          idle.pop();
          connection.destroy();
          continue;
        }
        if (idleFor >= IDLE_CHECK_MS && !call.checked) {
          call.checked = true;
          call.wait();
          // Two turns: the second runs after a poll that began after this call, so a
          // close the daemon sent before now has been read and the connection dropped.
          setImmediate(() => setImmediate(() => this.dispatchChecked(call)));
          return;
        }
        idle.pop();
        connection.start(call);
        return;
      } while (idle.length > 0);
    }
    if (this.open < MAX_CONNECTIONS) {
      this.connect().start(call);
      return;
    }
    call.wait();
    this.waiting.push(call);
  }

  private dispatchChecked(call: WireCall): void {
    if (!call.settled) this.dispatch(call);
  }

  /** A new connection, counted against the limit. */
  private connect(): Connection {
    this.open++;
    return new Connection(this, connect({ host: this.host, port: this.port, noDelay: true }));
  }

  /** A kept-alive connection proved dead before the daemon read the request: once more, fresh. */
  retry(call: WireCall): void {
    call.retried = true;
    call.late = true;
    this.connect().start(call);
  }

  /** The answer was read and the connection can carry another request. */
  release(connection: Connection): void {
    const next = this.waiting.shift();
    if (next) {
      connection.start(next);
      return;
    }
    if (this.closing) {
      connection.destroy();
      return;
    }
    connection.idleSince = Date.now();
    // An idle connection does not keep the process alive, as with node:http's agent.
    connection.socket.unref();
    this.idle.push(connection);
  }

  /** A connection can no longer be used (ended, failed, destroyed). */
  drop(connection: Connection): void {
    const at = this.idle.lastIndexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
  }

  /** A connection's socket closed. */
  closed(): void {
    this.open--;
    // A waiting request may now open a connection of its own.
    const next = this.waiting.shift();
    if (next) this.dispatch(next);
  }

  /** A waiting request gave up. */
  forget(call: WireCall): void {
    const at = this.waiting.indexOf(call);
    if (at >= 0) this.waiting.splice(at, 1);
  }
}

/** One socket to the daemon: one request at a time, answers read by a {@link ResponseReader}. */
export class Connection {
  private readonly reader = new ResponseReader();
  private call: WireCall | undefined = undefined;
  /** An answer came on it: the next request on it goes on a kept-alive connection. */
  private reused = false;
  private dead = false;
  /** Why the socket failed, when it reported an error. */
  private error: NodeJS.ErrnoException | undefined = undefined;
  /**
   * One timer per connection, re-armed per request (cheaper than a timer per call);
   * it fires for the request in flight, if any.
   */
  private timer: NodeJS.Timeout | undefined = undefined;
  private timerMs = 0;
  idleSince = 0;
  keepAliveMs = Number.POSITIVE_INFINITY;

  constructor(
    private readonly pool: ConnectionPool,
    readonly socket: Socket,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (error: NodeJS.ErrnoException) => this.onError(error));
    socket.on('close', () => this.onClose());
  }

  start(call: WireCall): void {
    this.call = call;
    call.connection = this;
    if (call.timer) {
      clearTimeout(call.timer);
      call.timer = undefined;
    }
    this.arm(call.late ? call.timeout - (Date.now() - call.since) : call.timeout);
    const socket = this.socket;
    if (this.reused) socket.ref();
    const { head, body } = call;
    if (typeof body === 'string') {
      socket.write(head + body, call.encoding);
    } else if (body.length <= COPY_LIMIT) {
      const wire = Buffer.allocUnsafe(head.length + body.length);
      wire.write(head, 0, 'latin1');
      body.copy(wire, head.length);
      socket.write(wire);
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
  }

  private arm(ms: number): void {
    if (this.timer && this.timerMs === ms) {
      this.timer.refresh();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timerMs = ms;
    // Unref'd: a request in flight keeps the process alive through its socket.
    this.timer = setTimeout(() => this.onTimer(), Math.max(ms, 1)).unref();
  }

  private onTimer(): void {
    const call = this.call;
    if (call) call.cancel(new TimeoutError(call.timeout));
  }

  destroy(): void {
    this.die();
    if (this.timer) clearTimeout(this.timer);
    this.socket.destroy();
  }

  /** Out of the pool for good: the daemon closed it, it failed, or it was destroyed. */
  private die(): void {
    if (this.dead) return;
    this.dead = true;
    this.pool.drop(this);
  }

  /** The request in progress gave up (timeout, abort): its answer would come too late. */
  abandon(): void {
    this.call = undefined;
    this.destroy();
  }

  private onData(chunk: Buffer): void {
    const call = this.call;
    if (!call) {
      // Nothing was asked: a daemon talking out of turn (a 408 before closing, say).
      this.destroy();
      return;
    }
    let answer: PublishAnswer | undefined;
    try {
      answer = this.reader.push(chunk);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (!answer) return;
    this.call = undefined;
    call.connection = undefined;
    this.reused = true;
    if (answer.keepAliveMs !== undefined) {
      this.keepAliveMs = answer.keepAliveMs - KEEP_ALIVE_MARGIN_MS;
    }
    // Keep it only when the daemon said so, sent nothing more, and got all of ours (an
    // early 413 may come while the body is still being written). Not after an error
    // answer either: the daemon may have answered without reading our body, and read it
    // later as a request of its own (Nchan's 403 on a subscriber location does, its 400
    // for the body would then answer our next publish).
    if (
      answer.status < 400 &&
      answer.keepAlive &&
      !this.reader.extra &&
      this.socket.writableLength === 0 &&
      this.keepAliveMs > 0 &&
      !this.dead
    ) {
      this.reader.reset();
      this.pool.release(this);
    } else {
      this.destroy();
    }
    call.settle(undefined, answer);
  }

  private onEnd(): void {
    const call = this.call;
    if (call) {
      // A body that runs until the connection closes ends here.
      const answer = this.reader.end();
      if (answer) {
        this.call = undefined;
        call.connection = undefined;
        this.destroy();
        call.settle(undefined, answer);
        return;
      }
    }
    this.die();
    this.fail(undefined);
  }

  private onError(error: NodeJS.ErrnoException): void {
    this.error ??= error;
    this.die();
    this.fail(undefined);
  }

  private onClose(): void {
    this.die();
    if (this.timer) clearTimeout(this.timer);
    this.fail(undefined);
    this.pool.closed();
  }

  /** The request in progress, if any, will get no answer on this connection. */
  private fail(cause: Error | undefined): void {
    const call = this.call;
    if (!call) return;
    this.call = undefined;
    call.connection = undefined;
    if (!this.dead) this.destroy();
    if (cause) {
      call.settle(cause, undefined);
      return;
    }
    const error = this.error;
    const code = error?.code;
    const received = this.reader.received;
    // Proof the daemon never read the whole request, so it cannot have stored it: the
    // kept-alive connection was reset (closed with our bytes unread) or refused the
    // write. Then, once, a fresh connection. A plain close may come after the daemon
    // read the request; that publish is never sent twice.
    if (
      this.reused &&
      !call.retried &&
      received === 0 &&
      (code === 'ECONNRESET' || code === 'EPIPE')
    ) {
      this.pool.retry(call);
      return;
    }
    call.settle(describeSocketFailure(error, received, this.pool), undefined);
  }
}

function describeSocketFailure(
  error: NodeJS.ErrnoException | undefined,
  received: number,
  pool: ConnectionPool,
): Error {
  const code = error?.code;
  if (code === 'ECONNREFUSED') {
    const where = `${pool.host.includes(':') ? `[${pool.host}]` : pool.host}:${pool.port}`;
    return new ConnectionClosedError(
      `connection refused (${where}); is the push daemon running? Start one with: npx runpushserver`,
      code,
      error,
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ConnectionClosedError(
      `cannot resolve ${pool.host} (${code}); check publisherHost.location`,
      code,
      error,
    );
  }
  if (error && code !== 'ECONNRESET' && code !== 'EPIPE') return error;
  if (code && received === 0) {
    return new ConnectionClosedError(
      `the daemon reset the connection (${code}) before answering`,
      code,
    );
  }
  const how = code ? `reset the connection (${code})` : 'closed the connection';
  const when = received === 0 ? 'without answering' : 'in the middle of its answer';
  return new ConnectionClosedError(
    `the daemon ${how} ${when}; the message may have been stored, so it was not sent again`,
    code,
  );
}
