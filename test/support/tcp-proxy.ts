/**
 * A byte-transparent TCP proxy on loopback that counts connections: put it in front of
 * a daemon and a test sees how many connections a browser holds to it, can drop them all
 * at once (a network drop), and can point it at a daemon restarted on another port.
 *
 * A connection counts as open once its client has sent a byte: Chromium opens a spare
 * connection ahead of need now and then and closes it unused after 10 s; that socket is
 * the browser's, not a connection the page uses. A connection is awaiting while the last
 * bytes on it were its client's (a request with no answer yet, e.g. a long-poll that
 * waits): an idle kept-alive connection in the browser's pool, which it may keep for
 * minutes, is open but not awaiting.
 */
import { EventEmitter } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { waitUntil } from './wait.js';

/** A running proxy from `127.0.0.1:<port>` to `127.0.0.1:<target>`. */
export interface TcpProxy {
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Connections accepted since the start or the last {@link TcpProxy.resetCounts}. */
  readonly accepted: number;
  /** Connections open now that have carried bytes from the client (not closed yet). */
  open(): number;
  /** The most such connections open at once since the start or the last {@link TcpProxy.resetCounts}. */
  readonly maxOpen: number;
  /** Open connections whose last bytes were the client's: requests not answered yet. */
  awaiting(): number;
  /** The most awaiting connections at once since the start or the last {@link TcpProxy.resetCounts}. */
  readonly maxAwaiting: number;
  /** Set `accepted` to 0, and `maxOpen` and `maxAwaiting` to the counts now. */
  resetCounts(): void;
  /** Send new connections to `127.0.0.1:<port>`; open ones stay where they are. */
  retarget(port: number): void;
  /** Destroy every open connection on both sides; resolves once all their sockets closed. */
  dropAll(): Promise<void>;
  /** Resolve once exactly `n` connections are open; reject after `deadlineMs`. */
  waitForOpen(n: number, deadlineMs?: number): Promise<void>;
  /** Resolve once at most `n` connections are awaiting; reject after `deadlineMs`. */
  waitForAwaiting(n: number, deadlineMs?: number): Promise<void>;
  /** Stop listening and drop every open connection. */
  close(): Promise<void>;
}

/** One proxied connection: the accepted socket and the one to the target. */
interface Pair {
  client: Socket;
  upstream: Socket;
  /** Both sockets closed. */
  closed: Promise<void>;
  /** The client has sent a byte: the connection counts as open. */
  used: boolean;
  /** The last bytes were the client's. */
  awaiting: boolean;
}

/**
 * Start a proxy on a port the system picks, forwarding to `127.0.0.1:<targetPort>`.
 * Data flows both ways unchanged; a half-close (FIN) on one side ends the other side's
 * writing only; an error on either side (the target refusing, a reset) closes both.
 *
 * @param targetPort where connections go (loopback only)
 * @returns the running proxy; close it in `after`
 * @example const proxy = await startTcpProxy(daemon.port); await fetch(`${proxy.origin}/x`);
 */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  let accepted = 0;
  let maxOpen = 0;
  let maxAwaiting = 0;
  const pairs = new Set<Pair>();
  const openCount = () => {
    let count = 0;
    for (const pair of pairs) if (pair.used) count += 1;
    return count;
  };
  const awaitingCount = () => {
    let count = 0;
    for (const pair of pairs) if (pair.awaiting) count += 1;
    return count;
  };
  // 'change' on every accept and close, to wake waitForOpen.
  const changes = new EventEmitter();
  changes.setMaxListeners(0);

  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = createConnection({ port: target, host: '127.0.0.1', allowHalfOpen: true });
    const closed = Promise.all([
      new Promise((resolve) => client.once('close', resolve)),
      new Promise((resolve) => upstream.once('close', resolve)),
    ]).then(() => undefined);
    const pair: Pair = { client, upstream, closed, used: false, awaiting: false };
    pairs.add(pair);
    accepted += 1;
    client.on('data', () => {
      if (!pair.used) {
        pair.used = true;
        maxOpen = Math.max(maxOpen, openCount());
        changes.emit('change');
      }
      if (!pair.awaiting) {
        pair.awaiting = true;
        maxAwaiting = Math.max(maxAwaiting, awaitingCount());
      }
    });
    upstream.on('data', () => {
      if (!pair.awaiting) return;
      pair.awaiting = false;
      changes.emit('change');
    });
    client.once('close', () => {
      pairs.delete(pair);
      changes.emit('change');
    });
    splice(client, upstream);
    splice(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as { port: number };

  const dropAll = async () => {
    const open = [...pairs];
    for (const { client, upstream } of open) {
      // A reset on both sides: neither peer sees an orderly end of the stream.
      client.resetAndDestroy();
      if (upstream.connecting) upstream.destroy();
      else upstream.resetAndDestroy();
    }
    await Promise.all(open.map((pair) => pair.closed));
  };

  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    open: openCount,
    get maxOpen() {
      return maxOpen;
    },
    awaiting: awaitingCount,
    get maxAwaiting() {
      return maxAwaiting;
    },
    resetCounts() {
      accepted = 0;
      maxOpen = openCount();
      maxAwaiting = awaitingCount();
    },
    retarget(newPort) {
      target = newPort;
    },
    dropAll,
    async waitForOpen(n, deadlineMs = 10_000) {
      await waitUntil(
        `${n} open connection(s) through the proxy (${openCount()} now)`,
        () => openCount() === n,
        {
          timeoutMs: deadlineMs,
          wake: [changes, 'change'],
        },
      );
    },
    async waitForAwaiting(n, deadlineMs = 10_000) {
      await waitUntil(
        `at most ${n} awaiting connection(s) through the proxy (${awaitingCount()} now)`,
        () => awaitingCount() <= n,
        { timeoutMs: deadlineMs, wake: [changes, 'change'] },
      );
    },
    async close() {
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await dropAll();
      await stopped;
    },
  };
}

/**
 * Copy `from` into `to`: `pipe` keeps the pace of the slower side and, with
 * allowHalfOpen, turns `from`'s end into `to.end()` (a FIN) without closing `to`'s
 * reading side. An error on `from` (refused, reset) destroys `to`; so does a close of
 * `from` after an error, which leaves nothing to finish.
 */
function splice(from: Socket, to: Socket): void {
  from.pipe(to);
  from.on('error', () => to.destroy());
  from.once('close', (hadError) => {
    if (hadError) to.destroy();
  });
}
