/**
 * pushserver/express: one middleware that serves the browser client and gives every
 * template engine the helpers. It changes nothing else in the app: no body parser, no
 * replaced View class. The passthrough receiver (`passthrough()`, its own file) is
 * mounted separately, on the path the daemon POSTs to.
 *
 * @example
 * import express from 'express';
 * import pushserver from 'pushserver/express';
 * const app = express();
 * app.use(pushserver());
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { TemplateHelperOptions } from '../snippet.js';
import { localsHandler, pushserverLocals } from './locals.js';
import { CLIENT_DIRECTORY, clientHandler } from './static-client.js';

export { type AuthorizeCheck, type AuthorizeOptions, authorize } from './authorize.js';
export { type PushserverLocals, pushserverLocals } from './locals.js';
export {
  type ChannelSignal,
  type PassthroughOptions,
  passthrough,
} from './passthrough-receiver.js';
export { CLIENT_DIRECTORY } from './static-client.js';
export { expressRenderer } from './stream-renderer.js';

/**
 * Options of {@link pushserver}. The snippet defaults (`src`, `jquery`, `mode`, `multiplex`, `settings`)
 * reach every engine's helpers: the Express locals (eta, ejs, pug), the nunjucks tags and
 * globals, the handlebars helpers; options given to `install(env, options)` or
 * `registerHelpers(handlebars, options)` win over them.
 */
export interface PushserverOptions extends TemplateHelperOptions {
  /**
   * URL path the client is served under.
   * @default '/static/pushserver/'
   */
  prefix?: string;
  /**
   * `false` leaves serving the client to someone else (nginx, a CDN); set `src` then.
   * @default true
   */
  serveClient?: boolean;
  /**
   * Folder the client files are served from.
   * @default the package's `static/pushserver/`
   */
  clientDirectory?: string;
  /**
   * Seconds browsers may use the client without revalidating.
   * @default 0
   */
  maxAge?: number;
  /**
   * URL of the client in the rendered snippet.
   * @default `${prefix}updates.js`
   */
  src?: string;
}

/**
 * The Express integration: serves `updates.js` under `prefix` and puts `channelUrl`,
 * `escapejs`, `pushserverSubscribe`, `pushserverStreamFrom` and the snippet options (`pushserverOptions`, which
 * the nunjucks and handlebars helpers read) into `res.locals` and `app.locals`.
 *
 * @param options `prefix`, `serveClient`, `clientDirectory`, `maxAge`, and the snippet's `src`, `jquery`, `mode`, `multiplex`, `settings`
 * @returns an Express middleware
 * @example
 * app.use(pushserver({ mode: 'data' }));
 * // in a template: <%~ it.pushserverSubscribe({ main_channel: 'room-1' }) %>
 */
export function pushserver(options: PushserverOptions = {}): RequestHandler {
  const prefix = normalizePrefix(options.prefix ?? '/static/pushserver/');
  const { serveClient = true, clientDirectory = CLIENT_DIRECTORY, maxAge = 0 } = options;
  const { src = `${prefix}updates.js`, jquery, mode, multiplex, settings } = options;
  const handlers: RequestHandler[] = [];
  if (serveClient) handlers.push(clientHandler({ prefix, directory: clientDirectory, maxAge }));
  handlers.push(localsHandler(pushserverLocals({ src, jquery, mode, multiplex, settings })));
  return chain(handlers);
}

export default pushserver;

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '/' : `/${trimmed}/`;
}

/** Run `handlers` in order as one middleware, as Express would. */
function chain(handlers: RequestHandler[]): RequestHandler {
  return function pushserverMiddleware(req: Request, res: Response, next: NextFunction) {
    let index = 0;
    const step = (error?: unknown): void => {
      const handler = handlers[index++];
      if (error !== undefined || !handler) {
        next(error);
        return;
      }
      Promise.resolve(handler(req, res, step)).catch(next);
    };
    step();
  };
}
