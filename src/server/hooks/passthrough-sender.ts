/**
 * The daemon side of passthrough (django-pushserver's subscribe / unsubscribe
 * notifications): when a long-poll starts waiting on a channel the daemon POSTs
 * `channel_id=<id>&subscribe=1` to the app with the subscriber's own headers, and
 * `unsubscribe=1` when the poll ends, so the app's session middleware sees the user.
 *
 * Fire and forget: a subscriber never waits for a notification and is never harmed
 * by a slow, failing or absent app.
 *
 * @module
 */
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';

/** Options of {@link createPassthroughNotifier}. */
export interface PassthroughNotifierOptions {
  /** Where notifications go, e.g. `http://127.0.0.1:8000/passthrough`. */
  url: string;
  /** Milliseconds a notification may take before it is abandoned. @default 5000 */
  timeoutMs?: number;
  /** Notifications in flight at once; more wait in a queue. @default 16 */
  maxConcurrent?: number;
  /** Notifications waiting beyond `maxConcurrent`; more are dropped (and counted). @default 1000 */
  maxQueued?: number;
  /** Receives one line per burst of failures and one when the app answers again. @default console.error */
  log?: (line: string) => void;
}

/** Counters of a {@link PassthroughNotifier}, for logs and tests. */
export interface PassthroughStats {
  /** Notifications the app answered with 2xx. */
  delivered: number;
  /** Notifications that failed: refused, timed out, or answered with a non-2xx status. */
  failed: number;
  /** Notifications dropped because the queue was full. */
  dropped: number;
  inFlight: number;
  queued: number;
}

/** Sends subscribe / unsubscribe notifications for one passthrough URL. */
export interface PassthroughNotifier {
  /** A subscriber started waiting on `channelId`; `headers` are its request's headers. */
  subscribe(channelId: string, headers: IncomingHttpHeaders): void;
  /**
   * That subscriber stopped waiting. Pass the same `headers` object as to
   * `subscribe`: the unsubscribe is then sent only after the subscribe was answered,
   * so the app never sees them the wrong way round.
   */
  unsubscribe(channelId: string, headers: IncomingHttpHeaders): void;
  stats(): PassthroughStats;
  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void>;
  /**
   * Stop: later `subscribe` / `unsubscribe` calls are ignored; what was already asked
   * for (the unsubscribes of a stopping daemon's polls) is still sent, for at most
   * `timeoutMs`; then the rest is dropped and the sockets freed.
   * @returns resolves once everything was sent or dropped
   */
  close(): Promise<void>;
}

type Action = 'subscribe' | 'unsubscribe';

interface Notification {
  action: Action;
  channelId: string;
  headers: IncomingHttpHeaders;
  done: () => void;
}

/** Headers that belong to one connection (RFC 9110 §7.6.1), never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'upgrade',
  'trailer',
]);

/** Headers of the subscriber's request that a notification's own body replaces. */
const BODY_HEADERS = ['content-length', 'content-type', 'content-encoding', 'expect'];

/**
 * Create the sender for one passthrough URL. Notifications beyond `maxConcurrent`
 * wait in a bounded queue; beyond `maxQueued` they are dropped. Failures are logged
 * once per burst: the first failure, then nothing until the app answers again, then
 * "recovered after N failed notifications".
 *
 * @param options see {@link PassthroughNotifierOptions}
 * @returns the notifier; call `close()` when the daemon stops
 * @example
 * const notifier = createPassthroughNotifier({ url: 'http://127.0.0.1:8000/passthrough' });
 * notifier.subscribe('room-1', req.headers);
 * res.on('close', () => notifier.unsubscribe('room-1', req.headers));
 */
export function createPassthroughNotifier(
  options: PassthroughNotifierOptions,
): PassthroughNotifier {
  const url = new URL(options.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(
      `passthrough URL "${options.url}" must start with http:// or https://, e.g. "http://127.0.0.1:8000/passthrough"`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxConcurrent = Math.max(1, options.maxConcurrent ?? 16);
  const maxQueued = Math.max(0, options.maxQueued ?? 1000);
  const log = options.log ?? ((line: string) => console.error(line));
  const transport = url.protocol === 'https:' ? https : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets: maxConcurrent });
  const counts = { delivered: 0, failed: 0, dropped: 0 };
  const queue: Notification[] = [];
  const inFlight = new Set<http.ClientRequest>();
  // The subscribe of each request still pending, keyed by its headers object.
  const pendingSubscribes = new WeakMap<IncomingHttpHeaders, Promise<void>>();
  // Unsubscribes waiting for the answer to their subscribe before they are queued.
  let chained = 0;
  const failures = createFailureLog(
    log,
    (reason) =>
      `pushserver: passthrough to ${url.href} failed: ${reason}; subscribers are not affected, and further failures are not logged until the app answers again`,
    (count) =>
      `pushserver: passthrough to ${url.href} recovered after ${count} failed notifications`,
  );
  let dropsInBurst = 0;
  let idleWaiters: Array<() => void> = [];
  // Closing: no new notifications; closed: nothing more is sent.
  let closing: Promise<void> | undefined;
  let closed = false;

  function enqueue(action: Action, channelId: string, headers: IncomingHttpHeaders): Promise<void> {
    return new Promise((done) => {
      if (closed) return done();
      const notification = { action, channelId, headers, done };
      if (inFlight.size < maxConcurrent) return send(notification);
      if (queue.length >= maxQueued) {
        counts.dropped++;
        if (dropsInBurst++ === 0) {
          log(
            `pushserver: passthrough to ${url.href} is behind (${maxConcurrent} in flight, ${maxQueued} queued); dropping notifications until it catches up`,
          );
        }
        done();
        return settle();
      }
      queue.push(notification);
    });
  }

  function send(notification: Notification): void {
    const body = formBody(notification.action, notification.channelId);
    const request = transport.request(url, {
      method: 'POST',
      agent,
      headers: {
        ...forwardedHeaders(notification.headers),
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': Buffer.byteLength(body),
      },
    });
    inFlight.add(request);
    let finished = false;
    const timer = setTimeout(() => {
      request.destroy(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = (failure: string | undefined) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      inFlight.delete(request);
      report(failure);
      notification.done();
      next();
    };
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        finish(status >= 200 && status < 300 ? undefined : `the app answered ${status}`);
      });
      response.on('error', (error) => finish(error.message));
    });
    request.on('error', (error) => finish(describeError(error)));
    request.end(body);
  }

  function next(): void {
    while (!closed && inFlight.size < maxConcurrent && queue.length > 0) {
      send(queue.shift()!);
    }
    settle();
  }

  function idle(): Promise<void> {
    if (isIdle()) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  function isIdle(): boolean {
    return inFlight.size === 0 && queue.length === 0 && chained === 0;
  }

  function settle(): void {
    if (isIdle()) {
      if (dropsInBurst > 0) {
        log(
          `pushserver: passthrough to ${url.href} caught up; ${dropsInBurst} notifications were dropped`,
        );
        dropsInBurst = 0;
      }
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  function report(failure: string | undefined): void {
    if (failure === undefined) {
      counts.delivered++;
      failures.success();
    } else {
      counts.failed++;
      if (!closed) failures.failure(failure);
    }
  }

  return {
    subscribe(channelId, headers) {
      if (closing) return;
      pendingSubscribes.set(headers, enqueue('subscribe', channelId, headers));
    },
    unsubscribe(channelId, headers) {
      if (closing) return;
      const pending = pendingSubscribes.get(headers);
      pendingSubscribes.delete(headers);
      if (!pending) return void enqueue('unsubscribe', channelId, headers);
      chained++;
      void pending.then(() => {
        chained--;
        void enqueue('unsubscribe', channelId, headers);
        settle();
      });
    },
    stats() {
      return { ...counts, inFlight: inFlight.size, queued: queue.length };
    },
    idle,
    close() {
      closing ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        });
        await Promise.race([idle(), late]);
        clearTimeout(timer);
        closed = true;
        for (const notification of queue.splice(0)) notification.done();
        for (const request of inFlight) request.destroy();
        agent.destroy();
      })();
      return closing;
    },
  };
}

/**
 * The form body of a notification. `encodeURIComponent` keeps `+`, `&`, `%`, `=` and
 * unicode intact through any form parser (`URLSearchParams`, `querystring`, Django).
 *
 * @example formBody('subscribe', 'a&b') // 'channel_id=a%26b&subscribe=1'
 */
export function formBody(action: Action, channelId: string): string {
  return `channel_id=${encodeURIComponent(channelId)}&${action}=1`;
}

/**
 * The subscriber's headers minus hop-by-hop ones and those the notification's own
 * body replaces. `Host` is kept, as py-hbpush and the project's Nchan config do.
 *
 * @example forwardedHeaders({ cookie: 'sid=1', connection: 'keep-alive' }) // { cookie: 'sid=1' }
 */
export function forwardedHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const kept = withoutHopByHop(headers);
  for (const name of BODY_HEADERS) delete kept[name];
  return kept;
}

/**
 * Headers to pass on to the next hop: without the hop-by-hop ones (`Connection`,
 * `Keep-Alive`, `Transfer-Encoding`, `TE`, `Upgrade`, `Trailer`, `Proxy-*`) and
 * without any header the `Connection` header names. Names come out lowercase.
 *
 * @example withoutHopByHop({ connection: 'x-a', 'x-a': '1', cookie: 'c' }) // { cookie: 'c' }
 */
export function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  const kept: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) continue;
    if (named.includes(lower)) continue;
    kept[lower] = value;
  }
  return kept;
}

/** Logs a burst of failures once: its first failure, then one line when things work again. */
export interface FailureLog {
  failure(reason: string): void;
  success(): void;
}

/**
 * A log that says the first failure of a burst and, once something succeeds
 * again, how many failures the burst had, instead of one line per failure.
 *
 * @param log where lines go
 * @param failed the line for the first failure of a burst
 * @param recovered the line when a success ends a burst of `count` failures
 * @returns `failure(reason)` and `success()`
 * @example
 * const upstreamLog = createFailureLog(console.error, (r) => `app down: ${r}`, (n) => `app back after ${n} failures`);
 */
export function createFailureLog(
  log: (line: string) => void,
  failed: (reason: string) => string,
  recovered: (count: number) => string,
): FailureLog {
  let count = 0;
  return {
    failure(reason) {
      if (count++ === 0) log(failed(reason));
    },
    success() {
      if (count > 0) log(recovered(count));
      count = 0;
    },
  };
}

function describeError(error: NodeJS.ErrnoException): string {
  if (error.code === 'ECONNREFUSED') return 'connection refused (is the app running?)';
  if (error.code === 'ECONNRESET') return 'connection reset by the app';
  return error.message;
}
