/**
 * pushserver/server: the push daemon as a library. `createPushServer(settings)` gives
 * a Node `(req, res)` handler that speaks Nchan's publisher / subscriber protocol,
 * plus `listen()` / `close()`; `npx runpushserver` is a command line around it.
 *
 * @example
 * import { createPushServer } from 'pushserver/server';
 * const push = createPushServer({ port: 8001 });
 * await push.listen();
 *
 * @module
 */
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { addressMatcher } from '../ip.js';
import {
  type PushServerSettings,
  type ResolvedSettings,
  resolveSettings,
} from '../settings/index.js';
import { createPassthroughNotifier, type PassthroughNotifier } from './hooks/passthrough-sender.js';
import { type PublishCounters, PublisherLocation } from './locations/publisher.js';
import { collectStats, STATUS_PATH, StatusLocation } from './locations/status.js';
import { SubscriberLocation } from './locations/subscriber.js';
import { WaitingRoom } from './locations/waiting-room.js';
import type { LabelledStats, StatsSnapshot } from './protocol/stats.js';
import { Router, requestPath } from './router.js';
import { createMemoryStore } from './store/memory.js';
import { createRedisStore } from './store/redis/store.js';
import type { Store } from './store/types.js';
import { wantsEventSource } from './transport/eventsource.js';
import { type RawRoute, RawServer } from './transport/raw/server.js';
import {
  consoleErrorLog,
  type ErrorLog,
  internalError,
  NodeReply,
  PARKED_AT,
  type RequestLogEntry,
  sendText,
  TRANSPORT,
} from './transport/reply.js';
import { KEEP_ALIVE_TIMEOUT_MS } from './transport/response-head.js';
import { createWebSocketAcceptor, UpgradeReply, wantsWebSocket } from './transport/websocket.js';

export type { RequestLogEntry };

/** Options of {@link createPushServer} beyond the settings. */
export interface PushServerOptions {
  /** Stores by name, instead of creating them from the settings (e.g. one shared by two servers in a test). */
  stores?: Record<string, Store>;
  /** Called once per answered request. @default no logging */
  log?: (entry: RequestLogEntry) => void;
  /**
   * Serve subscriber polls and plain publishes of `listen()`'s server on its sockets
   * directly (a strict HTTP/1.1 subset; everything else goes to node:http on the same
   * socket). About half the CPU and memory per subscriber of node:http alone. Off, or
   * on a Node without the internals it needs (`transport/node-internals.ts`), node:http
   * serves everything.
   * @default the `rawSockets` setting (true)
   */
  rawSockets?: boolean;
  /**
   * Requests for paths no location answers go here instead of a 404 (`--allrequests`
   * sends the app's pages so). The daemon's `log` does not see them.
   * @default a 404 with a one-line body
   */
  fallback?: RequestListener;
  /** Labels on every sample of the status location's Prometheus text, e.g. `{worker: '2'}`. @default none */
  statsLabels?: Record<string, string>;
  /**
   * The counts of every process serving the port, given this one's (`--workers` asks
   * the others): the status location answers for all of them. @default this process only
   */
  gatherStats?: (own: LabelledStats) => Promise<LabelledStats[]>;
  /**
   * Receives the daemon's own lines: a Redis store's outages, passthrough failures, a
   * store failing a subscriber, the stack of a bug of ours (`runpushserver --workers`
   * tags them with the worker). @default console.error
   */
  errorLog?: ErrorLog;
}

/** A push daemon: the request handler, its HTTP server, its stores. */
export interface PushServer {
  /** Handle one request: mount it in any Node HTTP server (or Express app). */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Handle one WebSocket upgrade: mount it as the `upgrade` listener of the server that
   * uses {@link handler} (`listen()`'s server has it already).
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Open the stores and listen. Long-polls are kept open indefinitely; keep-alive
   * connections stay up 75 s between polls (as nginx).
   *
   * @param port @default settings.port
   * @param address @default settings.address
   * @returns the address actually bound (port 0 picks a free one)
   */
  listen(port?: number, address?: string): Promise<AddressInfo>;
  /**
   * Stop cleanly: stop accepting connections; answer waiting long-polls 503 with
   * `Connection: close` and end streams as Nchan does (`:410: 410 Gone`, WebSocket 1001),
   * both of which clients resume from with their cursor; answer every subscriber
   * request that still comes on an open connection the same way; finish the publishes
   * in flight (their connections then close); close the stores. Connections still open
   * after {@link CLOSE_GRACE_MS} are dropped.
   */
  close(): Promise<void>;
  /** The HTTP server `listen()` created, if any. */
  readonly server: Server | undefined;
  /** The stores by name (`default`, ...): channels, messages and counters. */
  readonly stores: Record<string, Store>;
  /** The settings in effect. */
  readonly settings: ResolvedSettings;
  /**
   * Subscribers waiting right now: parked polls, plus one per channel of each stream
   * (EventSource, WebSocket) and multiplexed poll.
   */
  waiting(): number;
  /** Number of connections the raw socket path serves right now (the others are node:http's). */
  rawConnections(): number;
  /** The counts the status location (`/nchan_status`) reports. */
  stats(): StatsSnapshot;
}

/**
 * How long {@link PushServer.close} lets connections finish their publishes before it
 * drops them.
 */
export const CLOSE_GRACE_MS = 2000;

/** A location of the settings, bound to its store: it answers the requests its pattern matches. */
type Route = PublisherLocation | SubscriberLocation;

/**
 * Build a push daemon from settings.
 *
 * @param settings user settings or already resolved ones; defaults as `resolveSettings`
 * @param options stores to use instead of new ones, a request logger
 * @returns the handler, `listen`, `close` and the stores
 * @throws SettingsError when the settings are invalid
 * @example
 * const push = createPushServer({ port: 0 });
 * const { port } = await push.listen();
 */
export function createPushServer(
  settings: PushServerSettings | ResolvedSettings = {},
  options: PushServerOptions = {},
): PushServer {
  const resolved = isResolved(settings)
    ? settings
    : resolveSettings(settings, 'createPushServer()');
  const { servername } = resolved;
  const stores: Record<string, Store> = {};
  const rooms = new Map<string, WaitingRoom>();
  const mayPublish = addressMatcher(resolved.publisherAllow);
  const errorLog = options.errorLog ?? consoleErrorLog;
  const notifiers = new Map<string, PassthroughNotifier>();
  const notifierFor = (url: string | null) => {
    if (url === null) return undefined;
    let notifier = notifiers.get(url);
    if (!notifier) {
      notifier = createPassthroughNotifier({ url, log: errorLog });
      notifiers.set(url, notifier);
    }
    return notifier;
  };
  const router = new Router(resolved.locations);
  const counters: PublishCounters = { published: 0, inFlight: 0 };
  const websockets = createWebSocketAcceptor(servername);
  /** The location objects, by the router's index; built once the stores are open. */
  let routes: Route[] | undefined;
  const buildRoutes = () => {
    routes = resolved.locations.map((location): Route => {
      const store = stores[location.store];
      if (location.type === 'publisher') {
        return new PublisherLocation(location, {
          servername,
          store,
          mayPublish,
          counters,
          errorLog,
        });
      }
      let room = rooms.get(location.store);
      if (!room) {
        room = new WaitingRoom(store);
        rooms.set(location.store, room);
      }
      const passthrough = notifierFor(location.passthrough);
      return new SubscriberLocation(location, {
        servername,
        room,
        passthrough,
        websockets,
        secrets: resolved.secrets,
        errorLog,
      });
    });
  };
  // Stores open in the background; requests that come earlier wait for them, and
  // listen() rejects with the reason when one cannot open (e.g. Redis unreachable).
  const ready = openStores(resolved, options.stores ?? {}, stores, errorLog).then(buildRoutes);
  ready.catch(() => {});

  let server: Server | undefined;
  const { fallback, log } = options;
  /** Set by close(): requests still arriving on open connections are the last ones. */
  let closing = false;

  /** Answer one request; `own`: it came through the daemon's own server (see `listen`). */
  const dispatch = (req: IncomingMessage, res: ServerResponse, own: boolean) => {
    const path = requestPath(req.url);
    // Before the locations, as nginx tries an exact `location =` first.
    if (path === STATUS_PATH) {
      if (log) logRequest(req, res, log);
      const reply = new NodeReply(res, servername, own);
      try {
        status.handle(req, reply);
      } catch (error) {
        internalError(reply, error, errorLog);
      }
      return;
    }
    const match = router.route(path);
    if (match === undefined && fallback) return fallback(req, res);
    if (log) logRequest(req, res, log);
    // Closing: each answer ends its connection (no prebuilt keep-alive answer then).
    if (closing) res.shouldKeepAlive = false;
    // Prebuilt answers announce the keep-alive timeout of the daemon's own server.
    const reply = new NodeReply(res, servername, own && !closing);
    if (match === undefined) return sendText(reply, 404, 'Not Found');
    if ('status' in match) return sendText(reply, match.status, match.text);
    // A subscriber that comes now would wait for a daemon that is going: it resumes
    // elsewhere, as the parked ones do. A publish is still taken.
    if (closing && resolved.locations[match.index].type === 'subscriber') {
      // An EventSource gives up for good on an error status but reconnects after a
      // dropped connection.
      if (wantsEventSource(req.headers)) return req.socket.destroy();
      return sendText(reply, 503, 'push server shutting down', ['Connection', 'close']);
    }
    const answer = () => {
      // A bug of ours must cost one request, never the daemon.
      try {
        (routes as Route[])[match.index].handle(req, reply, match.channel);
      } catch (error) {
        internalError(reply, error, errorLog);
      }
    };
    if (routes) return answer();
    ready.then(answer, (error: Error) =>
      sendText(reply, 503, `store unavailable: ${error.message}`),
    );
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => dispatch(req, res, false);

  /** Answer one upgrade request: a WebSocket subscriber, or a refusal on its socket. */
  const upgrade = (req: IncomingMessage, stream: Duplex, head: Buffer) => {
    const socket = stream as Socket;
    const reply = new UpgradeReply(socket, servername);
    socket.on('error', () => {});
    if (log) {
      const start = performance.now();
      socket.once('close', () =>
        log({
          method: req.method ?? '',
          url: req.url ?? '',
          status: reply.status,
          duration: performance.now() - start,
          waited: undefined,
          transport: reply.transportName,
        }),
      );
    }
    if (!wantsWebSocket(req.method ?? '', req.headers)) {
      return sendText(reply, 400, 'only WebSocket upgrades are served here');
    }
    if (closing) return sendText(reply, 503, 'push server shutting down');
    const match = router.route(requestPath(req.url));
    if (match === undefined) return sendText(reply, 404, 'Not Found');
    if ('status' in match) return sendText(reply, match.status, match.text);
    const answer = () => {
      const route = (routes as Route[])[match.index];
      try {
        if (route instanceof SubscriberLocation) {
          route.upgrade(req, socket, head, reply, match.channel);
        } else {
          // Nchan's publisher locations take WebSocket publishers; ours take HTTP only.
          sendText(reply, 403, 'publish with POST; WebSocket publishing is not supported');
        }
      } catch (error) {
        internalError(reply, error, errorLog);
      }
    };
    if (routes) return answer();
    ready.then(answer, (error: Error) =>
      sendText(reply, 503, `store unavailable: ${error.message}`),
    );
  };

  /** The raw path's routing: the location of a path, when it has one and it decodes cleanly. */
  const rawRoute = (path: string): RawRoute | undefined => {
    if (!routes || closing || path === STATUS_PATH) return undefined;
    const match = router.route(path);
    if (match === undefined || 'status' in match) return undefined;
    const location = routes[match.index];
    return { location, publisher: location instanceof PublisherLocation, channel: match.channel };
  };

  let raw: RawServer | undefined;
  const statusContext = {
    stores,
    counters,
    subscribers: () => push.waiting(),
    mayRead: mayPublish,
    labels: options.statsLabels ?? {},
    gather: options.gatherStats,
    errorLog,
  };
  const status = new StatusLocation(statusContext);
  const push: PushServer = {
    handler,
    upgrade,
    get server() {
      return server;
    },
    stores,
    settings: resolved,
    waiting() {
      let count = 0;
      for (const room of rooms.values()) count += room.size;
      return count;
    },
    rawConnections() {
      return raw ? raw.connections.size : 0;
    },
    stats: () => collectStats(statusContext),
    async listen(port = resolved.port, address = resolved.address) {
      await ready;
      server = createServer((req, res) => dispatch(req, res, true));
      server.on('upgrade', upgrade);
      // Browsers re-poll on the same connection; keep it as long as nginx does.
      server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
      // A parked poll's request is complete; these only bound slow request headers and bodies.
      server.headersTimeout = 60_000;
      server.requestTimeout = 300_000;
      const listening = server;
      if ((options.rawSockets ?? resolved.rawSockets) !== false) {
        raw = RawServer.attach(listening, {
          servername,
          keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
          route: rawRoute,
          log,
          errorLog,
        });
      }
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(port, address, () => {
          listening.off('error', reject);
          resolve();
        });
      });
      return listening.address() as AddressInfo;
    },
    async close() {
      closing = true;
      const closed = server
        ? new Promise<void>((resolve) => server?.close(() => resolve()))
        : Promise.resolve();
      for (const room of rooms.values()) room.closeAll();
      for (const route of routes ?? []) if (route instanceof SubscriberLocation) route.close();
      raw?.close();
      // node:http keeps a connection open after its last answer even when closing: close
      // each one once its publish is answered, and drop those left after the grace.
      const started = Date.now();
      const sweep = setInterval(() => {
        if (Date.now() - started > CLOSE_GRACE_MS) server?.closeAllConnections();
        else server?.closeIdleConnections();
      }, 20);
      server?.closeIdleConnections();
      await closed;
      // A publish whose client went away still runs: the store must not close under it.
      while (counters.inFlight > 0 && Date.now() - started < CLOSE_GRACE_MS) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      clearInterval(sweep);
      websockets.close();
      await Promise.all([...notifiers.values()].map((notifier) => notifier.close()));
      await Promise.all(Object.values(stores).map((store) => store.close()));
    },
  };
  return push;
}

function isResolved(settings: PushServerSettings | ResolvedSettings): settings is ResolvedSettings {
  return 'stores' in settings && 'source' in settings;
}

/** Create (or take the given) store of each name into `stores`, then open them all. */
async function openStores(
  settings: ResolvedSettings,
  given: Record<string, Store>,
  stores: Record<string, Store>,
  log: ((line: string) => void) | undefined,
): Promise<void> {
  for (const [name, storeSettings] of Object.entries(settings.stores)) {
    if (given[name]) stores[name] = given[name];
    else if (storeSettings.type === 'memory') stores[name] = createMemoryStore(storeSettings);
    else stores[name] = createRedisStore(storeSettings, { log });
  }
  await Promise.all(Object.values(stores).map((store) => store.open()));
}

/**
 * Call `log` once `res` is answered (or its client went away), with the method, URL,
 * status, duration and, for a long-poll that was parked, how long it waited.
 *
 * @param req the request
 * @param res its response
 * @param log receives the entry
 * @example server.prependListener('request', (req, res) => logRequest(req, res, console.log));
 */
export function logRequest(
  req: IncomingMessage,
  res: ServerResponse,
  log: (entry: RequestLogEntry) => void,
): void {
  const start = performance.now();
  res.once('close', () => {
    const end = performance.now();
    const answered = res as ServerResponse & { [PARKED_AT]?: number; [TRANSPORT]?: string };
    const parked = answered[PARKED_AT];
    log({
      method: req.method ?? '',
      url: req.url ?? '',
      status: res.headersSent ? res.statusCode : 0,
      duration: end - start,
      waited: parked === undefined ? undefined : end - parked,
      transport: answered[TRANSPORT],
    });
  });
}
