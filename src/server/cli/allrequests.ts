/**
 * `runpushserver --allrequests`: one port for everything, as django-pushserver's
 * runserver replacement. Requests for a push location (publisher or subscriber)
 * go to the daemon; every other request goes to the app, either in this process
 * (`--app ./app.js`) or over HTTP (`--upstream http://127.0.0.1:3000`).
 *
 * @module
 */
import http, {
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROXIED_FOR_HEADER } from '../../ip.js';
import type { PushServerSettings, ResolvedSettings } from '../../settings/index.js';
import {
  createPushServer,
  logRequest,
  type PushServer,
  type PushServerOptions,
} from '../daemon.js';
import { createFailureLog, withoutHopByHop } from '../hooks/passthrough-sender.js';

/** The port `--allrequests` listens on when none is given (the app's usual port). */
export const ALLREQUESTS_PORT = 8000;

/** `--allrequests` cannot start: no app, an app module that exports no handler, a bad URL. */
export class AllRequestsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AllRequestsError';
  }
}

/** Options of {@link createAllRequestsServer}. Give exactly one of `app` and `upstream`. */
export interface AllRequestsOptions {
  /** Daemon settings; the push locations decide which requests the daemon gets. @default {} */
  settings?: PushServerSettings | ResolvedSettings;
  /** Options of the daemon (its request log, `rawSockets`); its `log` sees the app's requests too. */
  pushOptions?: Omit<PushServerOptions, 'fallback'>;
  /** The app in this process: an Express app or any Node `(req, res)` handler. */
  app?: RequestListener;
  /** Where the app runs, e.g. `http://127.0.0.1:3000`; requests are proxied there. */
  upstream?: string;
  /** Redirect (301) requests for any other `Host` to this one, same path and query. */
  forcehost?: string;
  /** Where the proxy reports the upstream going down and coming back. @default console.error */
  log?: (line: string) => void;
}

/** One server for the daemon and the app. */
export interface AllRequestsServer {
  /** Route one request: push location → daemon, else forcehost check → app. */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /**
   * Open the daemon's stores and listen.
   *
   * @param port @default the settings' port
   * @param address @default the settings' address
   */
  listen(port?: number, address?: string): Promise<AddressInfo>;
  /** Answer waiting subscribers, stop listening, close the stores. */
  close(): Promise<void>;
  /** The daemon push requests go to. */
  readonly push: PushServer;
  readonly server: Server | undefined;
}

/**
 * Build the one-port server of `runpushserver --allrequests`. `servername` of the
 * settings is the `Server` header of every response, the app's included.
 *
 * @param options `settings`, and `app` (in process) or `upstream` (proxied), `forcehost`
 * @returns the handler, `listen()` and `close()`
 * @throws AllRequestsError when neither or both of `app` and `upstream` are given, or `upstream` is not an http(s) URL
 * @example
 * const one = createAllRequestsServer({ settings: { port: 8000 }, app: expressApp });
 * await one.listen(); // push requests → the daemon, everything else → expressApp
 */
export function createAllRequestsServer(options: AllRequestsOptions): AllRequestsServer {
  if ((options.app === undefined) === (options.upstream === undefined)) {
    throw new AllRequestsError(
      '--allrequests needs exactly one app: --app ./app.js (in this process) or --upstream http://127.0.0.1:3000 (proxied)',
    );
  }
  const requestLog = options.pushOptions?.log;
  // The daemon routes: push locations it answers itself (exempt from --forcehost: the
  // app publishes to 127.0.0.1), the rest comes to the app.
  const push = createPushServer(options.settings ?? {}, {
    ...options.pushOptions,
    fallback: (req, res) => toApp(req, res),
  });
  const settings = push.settings;
  const { servername } = settings;
  const forward = options.app
    ? inProcess(options.app, servername)
    : proxyTo(options.upstream!, servername, options.log ?? ((line) => console.error(line)));
  const redirect = options.forcehost ? forceHost(options.forcehost, servername) : undefined;
  const toApp = (req: IncomingMessage, res: ServerResponse) => {
    if (requestLog) logRequest(req, res, requestLog);
    if (redirect?.(req, res)) return;
    forward(req, res);
  };
  const handler = push.handler;

  return {
    handler,
    push,
    get server() {
      return push.server;
    },
    listen(port = settings.port, address = settings.address) {
      return push.listen(port, address);
    },
    close() {
      return push.close();
    },
  };
}

/**
 * Load the app module of `--app FILE`: its default export, `module.exports`, or an
 * export named `app` or `handler`, which must be an Express app or a `(req, res)` function.
 *
 * @param file path of the module, relative to `cwd`
 * @returns the request handler
 * @throws AllRequestsError naming the file and what it exports instead
 * @example const app = await loadApp('./app.js');
 */
export async function loadApp(file: string, cwd = process.cwd()): Promise<RequestListener> {
  const path = resolve(cwd, file);
  let module: Record<string, unknown>;
  try {
    module = await import(pathToFileURL(path).href);
  } catch (error) {
    throw new AllRequestsError(
      `--app ${file}: could not load ${path}: ${(error as Error).message}`,
    );
  }
  let candidate = module.default ?? module.app ?? module.handler;
  // A CommonJS module compiled from ESM: `exports.default = app`.
  if (typeof candidate === 'object' && candidate !== null && 'default' in candidate) {
    candidate = (candidate as { default: unknown }).default;
  }
  if (typeof candidate !== 'function') {
    throw new AllRequestsError(
      `--app ${file} must export an Express app or a (req, res) handler (as default export, module.exports, or "app"); it exports ${describeExports(module)}`,
    );
  }
  return candidate as RequestListener;
}

function inProcess(app: RequestListener, servername: string): RequestListener {
  return (req, res) => {
    res.setHeader('Server', servername);
    try {
      const result = (app as (req: IncomingMessage, res: ServerResponse) => unknown)(req, res);
      if (result instanceof Promise) result.catch((error) => failed(res, error));
    } catch (error) {
      failed(res, error);
    }
  };
}

function failed(res: ServerResponse, error: unknown): void {
  console.error(`pushserver: the app failed: ${(error as Error)?.stack ?? String(error)}`);
  if (res.headersSent) return void res.destroy();
  res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('Internal Server Error\n');
}

/** A reverse proxy to `upstream` that streams both ways and says 502 when it is down. */
function proxyTo(
  upstream: string,
  servername: string,
  log: (line: string) => void,
): RequestListener {
  let target: URL;
  try {
    target = new URL(upstream);
  } catch {
    target = new URL('invalid:');
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new AllRequestsError(
      `--upstream "${upstream}" must be an http:// or https:// URL, e.g. http://127.0.0.1:3000`,
    );
  }
  const transport = target.protocol === 'https:' ? https : http;
  const agent = new transport.Agent({ keepAlive: true });
  const base = target.pathname.replace(/\/$/, '');
  const failures = createFailureLog(
    log,
    (reason) =>
      `pushserver: the app at ${target.origin} is not answering (${reason}); answering 502 until it does`,
    (count) =>
      `pushserver: the app at ${target.origin} answers again after ${count} failed requests`,
  );
  return (req, res) => {
    const headers = forwardingHeaders(req);
    const outgoing = transport.request(target, {
      method: req.method,
      path: base + (req.url ?? '/'),
      headers,
      agent,
    });
    outgoing.on('response', (answer) => {
      failures.success();
      const answerHeaders = withoutHopByHop(answer.headers);
      answerHeaders.server = servername;
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answerHeaders);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      // The browser left first: nothing to answer, nothing wrong with the app.
      if (clientGone) return;
      if (res.headersSent) return void res.destroy();
      const reason = error.code === 'ECONNREFUSED' ? 'connection refused' : error.message;
      failures.failure(reason);
      badGateway(res, servername, target.origin, reason);
    });
    // The browser went away: stop the upstream request too (streams, long answers).
    let clientGone = false;
    res.on('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      outgoing.destroy();
    });
    req.pipe(outgoing);
  };
}

/**
 * The request's headers for the upstream: hop-by-hop removed, `X-Forwarded-*` set, and
 * `X-Pushserver-Proxied-For` replaced by the client's address: the app sees every request
 * from 127.0.0.1, so this is how its passthrough receiver tells outside clients apart.
 */
function forwardingHeaders(req: IncomingMessage): OutgoingHttpHeaders {
  const headers = withoutHopByHop(req.headers);
  // Node already answered `100 Continue` to the client; the body follows anyway.
  delete headers.expect;
  const client = req.socket.remoteAddress ?? '';
  headers[PROXIED_FOR_HEADER] = client;
  const prior = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = prior ? `${prior}, ${client}` : client;
  headers['x-forwarded-proto'] = (req.socket as { encrypted?: boolean }).encrypted
    ? 'https'
    : 'http';
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
  return headers;
}

function badGateway(res: ServerResponse, servername: string, origin: string, reason: string) {
  const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>502 Bad Gateway</title></head>
<body><h1>502 Bad Gateway</h1>
<p>runpushserver --allrequests could not reach the app at <code>${escapeHtml(origin)}</code>: ${escapeHtml(reason)}.</p>
<p>Start the app, or check the <code>--upstream</code> URL.</p>
</body></html>
`;
  res.writeHead(502, {
    Server: servername,
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(page),
  });
  res.end(page);
}

/** A check that answers 301 to `host` when the request names another host. */
function forceHost(host: string, servername: string) {
  const origin = /^https?:\/\//i.test(host) ? host.replace(/\/+$/, '') : `http://${host}`;
  const wanted = new URL(origin).host.toLowerCase();
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if ((req.headers.host ?? '').toLowerCase() === wanted) return false;
    const location = origin + (req.url ?? '/');
    res.writeHead(301, {
      Server: servername,
      Location: location,
      'Content-Type': 'text/plain; charset=utf-8',
    });
    res.end(`Moved Permanently: ${location}\n`);
    return true;
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function describeExports(module: Record<string, unknown>): string {
  const names = Object.keys(module);
  if (names.length === 0) return 'nothing';
  return names.map((name) => `${name} (${typeof module[name]})`).join(', ');
}
