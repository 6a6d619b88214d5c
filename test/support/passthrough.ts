import { EventEmitter, once } from 'node:events';
import { readFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import express from 'express';
import session from 'express-session';
import { passthrough } from '../../src/express/passthrough-receiver.ts';
import { signals } from '../../src/signals.ts';
import { waitUntil } from './wait.ts';

declare module 'express-session' {
  interface SessionData {
    user: string;
  }
}

/** One signal as the app saw it. */
export interface SeenSignal {
  event: 'subscribe' | 'unsubscribe';
  channelId: string;
  user: string | undefined;
}

/**
 * Record every `channelSubscribe` / `channelUnsubscribe` with the session user,
 * and let a test await the n-th one matching a filter.
 */
export function recordSignals() {
  const seen: SeenSignal[] = [];
  /** `Date.now()` at each signal, same order as `seen`. */
  const times: number[] = [];
  /** Resolves when the app has sent its answer to each notification, same order as `seen`. */
  const answered: Array<Promise<void>> = [];
  const arrivals = new EventEmitter();
  const record =
    (event: SeenSignal['event']) => (payload: { req: express.Request; channelId: string }) => {
      seen.push({ event, channelId: payload.channelId, user: payload.req.session?.user });
      times.push(Date.now());
      const res = payload.req.res;
      answered.push(
        res && !res.writableFinished ? once(res, 'finish').then(() => {}) : Promise.resolve(),
      );
      arrivals.emit('signal');
    };
  const onSubscribe = record('subscribe');
  const onUnsubscribe = record('unsubscribe');
  signals.on('channelSubscribe', onSubscribe);
  signals.on('channelUnsubscribe', onUnsubscribe);
  return {
    seen,
    times,
    answered,
    /** Signals matching `filter`, once there are at least `count` of them. */
    until(count: number, filter: (s: SeenSignal) => boolean = () => true) {
      return waitUntil(
        `${count} passthrough signals`,
        () => {
          const matching = seen.filter(filter);
          return matching.length >= count ? matching : undefined;
        },
        { wake: [arrivals, 'signal'] },
      );
    },
    stop() {
      signals.off('channelSubscribe', onSubscribe);
      signals.off('channelUnsubscribe', onUnsubscribe);
    },
  };
}

/**
 * An Express app with `express-session`, `GET /login?user=NAME`, the passthrough
 * receiver at `/passthrough` and whatever `extra` adds; not listening yet.
 */
export function sessionApp(extra: (app: express.Express) => void = () => {}): express.Express {
  const app = express();
  app.use(session({ secret: 'e2e', resave: false, saveUninitialized: false }));
  app.get('/login', (req, res) => {
    req.session.user = String(req.query.user);
    res.type('text/plain').send(`logged in as ${req.session.user}`);
  });
  app.use('/passthrough', passthrough());
  extra(app);
  return app;
}

/** Listen on 127.0.0.1 (a free port unless given); returns the port and a stop function. */
export async function listen(app: express.Express, port = 0) {
  const server: Server = app.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    async stop() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * The project's Nchan config with the unsubscribe hook fixed. Its form body uses a
 * `map` over `$request_uri`, which points into the client connection's buffer; by
 * the time Nchan sends the unsubscribe hook (client gone) that memory is reused and
 * the app gets `channel_id=<garbage>`. Copying the id with `set` in the subscriber
 * location keeps it in the request's own memory. The map's regex then runs before
 * Nchan reads `$1` and replaces it (and `set $x $1` would re-escape `&`, `+`, `%`),
 * so the location names its capture instead.
 */
export function nchanConfigWithStableId(): string {
  const config = readFileSync(new URL('./nchan/nginx.conf', import.meta.url), 'utf8');
  const subscriber =
    /location ~ \^\/subscriber\/\(\.\+\)\$ \{\n(\s+nchan_subscriber [^\n]+\n)(\s+)nchan_channel_id \$1;\n/;
  const fixed = config
    .replace(
      subscriber,
      (_all, line: string, indent: string) =>
        `location ~ ^/subscriber/(?<pushserver_id>.+)$ {\n${line}${indent}set $pushserver_channel $pushserver_raw_channel_id;\n${indent}nchan_channel_id $pushserver_id;\n`,
    )
    .replaceAll('channel_id=$pushserver_raw_channel_id', 'channel_id=$pushserver_channel');
  if (
    !fixed.includes('set $pushserver_channel ') ||
    fixed.includes('=$pushserver_raw_channel_id&')
  ) {
    throw new Error('test/support/nchan/nginx.conf changed; update nchanConfigWithStableId()');
  }
  return fixed;
}

/**
 * An EventSource request made by hand: its status, what it received, a way to close it.
 *
 * @example const stream = await eventSource(`${origin}/subscriber/a`, { cookie });
 */
export function eventSource(url: string, headers: Record<string, string> = {}) {
  let text = '';
  const arrivals = new EventEmitter();
  return new Promise<{
    status: number;
    received: (part: string) => Promise<void>;
    close: () => void;
  }>((resolve, reject) => {
    const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        arrivals.emit('data');
      });
      resolve({
        status: res.statusCode as number,
        async received(part) {
          await waitUntil(`${JSON.stringify(part)} on the stream`, () => text.includes(part), {
            wake: [arrivals, 'data'],
          });
        },
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}
