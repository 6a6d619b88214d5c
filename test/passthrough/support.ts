import { EventEmitter, once } from 'node:events';
import type { Server } from 'node:http';
import express from 'express';
import session from 'express-session';
import { passthrough } from '../../src/express/passthrough.ts';
import { signals } from '../../src/signals.ts';

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
  const arrivals = new EventEmitter();
  const record =
    (event: SeenSignal['event']) => (payload: { req: express.Request; channelId: string }) => {
      seen.push({ event, channelId: payload.channelId, user: payload.req.session?.user });
      times.push(Date.now());
      arrivals.emit('signal');
    };
  const onSubscribe = record('subscribe');
  const onUnsubscribe = record('unsubscribe');
  signals.on('channelSubscribe', onSubscribe);
  signals.on('channelUnsubscribe', onUnsubscribe);
  return {
    seen,
    times,
    /** Signals matching `filter`, once there are at least `count` of them. */
    async until(count: number, filter: (s: SeenSignal) => boolean = () => true) {
      for (;;) {
        const matching = seen.filter(filter);
        if (matching.length >= count) return matching;
        await once(arrivals, 'signal');
      }
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
