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
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { addressMatcher } from '../ip.js';
import {
  type PushServerSettings,
  type ResolvedSettings,
  resolveSettings,
} from '../settings/index.js';
import { createPassthroughNotifier, type PassthroughNotifier } from './hooks/passthrough-sender.js';
import { PublisherLocation } from './locations/publisher.js';
import { SubscriberLocation, WaitingRoom } from './locations/subscriber.js';
import { internalError, NodeReply, PARKED_AT, requestPath, sendText } from './protocol/http.js';
import { createMemoryStore } from './store/memory.js';
import type { Store, StoreFactory } from './store/types.js';
import { type RawRoute, RawServer } from './transport/raw/server.js';

export { createMemoryStore, type MemoryStoreOptions } from './store/memory.js';
export * from './store/types.js';

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
}

/** Options of {@link createPushServer} beyond the settings. */
export interface PushServerOptions {
  /** Stores by name, instead of creating them from the settings (e.g. one shared by two servers in a test). */
  stores?: Record<string, Store>;
  /** Called once per answered request. @default no logging */
  log?: (entry: RequestLogEntry) => void;
  /**
   * Serve subscriber polls and plain publishes of `listen()`'s server on its sockets
   * directly (a strict HTTP/1.1 subset; everything else goes to node:http on the same
   * socket). About half the CPU and memory per subscriber of node:http alone.
   * @default true
   */
  rawSockets?: boolean;
}

/** A push daemon: the request handler, its HTTP server, its stores. */
export interface PushServer {
  /** Handle one request: mount it in any Node HTTP server (or Express app). */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Open the stores and listen. Long-polls are kept open indefinitely; keep-alive
   * connections stay up 75 s between polls (as nginx).
   *
   * @param port @default settings.port
   * @param address @default settings.address
   * @returns the address actually bound (port 0 picks a free one)
   */
  listen(port?: number, address?: string): Promise<AddressInfo>;
  /** Stop accepting, answer waiting subscribers (503, `Connection: close`), close the stores. */
  close(): Promise<void>;
  /** The HTTP server `listen()` created, if any. */
  readonly server: Server | undefined;
  /** The stores by name (`default`, ...): channels, messages and counters. */
  readonly stores: Record<string, Store>;
  /** The settings in effect. */
  readonly settings: ResolvedSettings;
  /** Number of subscriber polls currently parked. */
  waiting(): number;
  /** Number of connections the raw socket path serves right now (the others are node:http's). */
  rawConnections(): number;
}

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
  const notifiers = new Map<string, PassthroughNotifier>();
  const notifierFor = (url: string | null) => {
    if (url === null) return undefined;
    let notifier = notifiers.get(url);
    if (!notifier) {
      notifier = createPassthroughNotifier({ url });
      notifiers.set(url, notifier);
    }
    return notifier;
  };
  let routes: Route[] | undefined;
  const buildRoutes = () => {
    routes = resolved.locations.map((location): Route => {
      const store = stores[location.store];
      if (location.type === 'publisher') {
        return new PublisherLocation(location, { servername, store, mayPublish });
      }
      let room = rooms.get(location.store);
      if (!room) {
        room = new WaitingRoom(store);
        rooms.set(location.store, room);
      }
      const passthrough = notifierFor(location.passthrough);
      return new SubscriberLocation(location, { servername, room, passthrough });
    });
  };
  // Stores open in the background; requests that come earlier wait for them, and
  // listen() rejects with the reason when one cannot open (e.g. Redis unreachable).
  const ready = openStores(resolved, options.stores ?? {}, stores).then(buildRoutes);
  ready.catch(() => {});

  const route = (req: IncomingMessage, res: ServerResponse, table: Route[]) => {
    const path = requestPath(req);
    for (const location of table) {
      let channel: string | undefined;
      try {
        channel = location.location.pattern.match(path);
      } catch {
        return sendText(
          new NodeReply(res, servername),
          400,
          'Bad Request: malformed percent-encoding in the channel id',
        );
      }
      if (channel === undefined) continue;
      if (channel.includes('\0'))
        return sendText(new NodeReply(res, servername), 400, 'Bad Request: NUL in the channel id');
      return location.handle(req, res, channel);
    }
    sendText(new NodeReply(res, servername), 404, 'Not Found');
  };

  // A bug of ours must cost one request, never the daemon.
  const safely = (req: IncomingMessage, res: ServerResponse, table: Route[]) => {
    try {
      route(req, res, table);
    } catch (error) {
      internalError(new NodeReply(res, servername), error);
    }
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    if (options.log) logRequest(req, res, options.log);
    if (routes) return safely(req, res, routes);
    ready.then(
      () => safely(req, res, routes as Route[]),
      (error: Error) =>
        sendText(new NodeReply(res, servername), 503, `store unavailable: ${error.message}`),
    );
  };

  /** The raw path's routing: the location of a path, when it has one and it decodes cleanly. */
  const rawRoute = (path: string): RawRoute | undefined => {
    if (!routes) return undefined;
    for (const location of routes) {
      let channel: string | undefined;
      try {
        channel = location.location.pattern.match(path);
      } catch {
        return undefined;
      }
      if (channel === undefined) continue;
      if (channel.includes('\0')) return undefined;
      return { location, publisher: location instanceof PublisherLocation, channel };
    }
    return undefined;
  };

  let raw: RawServer | undefined;
  let server: Server | undefined;
  const push: PushServer = {
    handler,
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
    async listen(port = resolved.port, address = resolved.address) {
      await ready;
      server = createServer(handler);
      // Browsers re-poll on the same connection; keep it as long as nginx does.
      server.keepAliveTimeout = 75_000;
      // A parked poll's request is complete; these only bound slow request headers and bodies.
      server.headersTimeout = 60_000;
      server.requestTimeout = 300_000;
      const listening = server;
      if (options.rawSockets !== false) {
        raw = new RawServer(listening, {
          servername,
          keepAliveTimeout: listening.keepAliveTimeout,
          route: rawRoute,
          // `--allrequests` and other routers put their own request listener on the server.
          mayBypass: () =>
            listening.listenerCount('request') === 1 &&
            listening.listeners('request')[0] === handler,
          log: options.log,
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
      const closing = server
        ? new Promise<void>((resolve) => server?.close(() => resolve()))
        : Promise.resolve();
      for (const room of rooms.values()) room.closeAll();
      raw?.close();
      server?.closeIdleConnections();
      await closing;
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
): Promise<void> {
  for (const [name, storeSettings] of Object.entries(settings.stores)) {
    if (given[name]) stores[name] = given[name];
    else if (storeSettings.type === 'memory') stores[name] = createMemoryStore(storeSettings);
    else stores[name] = (await loadRedisFactory())(storeSettings);
  }
  await Promise.all(Object.values(stores).map((store) => store.open()));
}

async function loadRedisFactory(): Promise<StoreFactory> {
  // Resolved at run time: the Redis store is optional and written separately.
  const path = './store/redis/store.js';
  const module = (await import(path)) as { createRedisStore?: StoreFactory };
  if (typeof module.createRedisStore !== 'function') {
    throw new Error(
      'the Redis store is not available in this build (src/server/store/redis/store.ts)',
    );
  }
  return module.createRedisStore;
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
    const parked = (res as ServerResponse & { [PARKED_AT]?: number })[PARKED_AT];
    log({
      method: req.method ?? '',
      url: req.url ?? '',
      status: res.headersSent ? res.statusCode : 0,
      duration: end - start,
      waited: parked === undefined ? undefined : end - parked,
    });
  });
}
