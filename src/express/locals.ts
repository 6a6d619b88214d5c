import type { NextFunction, Request, Response } from 'express';
import {
  createTemplateHelpers,
  type TemplateHelperOptions,
  type TemplateHelpers,
} from '../snippet.js';

/** What {@link localsHandler} puts into `res.locals` and `app.locals`. */
export type PushserverLocals = TemplateHelpers;

/**
 * The helpers as template locals: `channelUrl(id)`, `escapejs(value)` and
 * `pushserverSubscribe(channels, options?)`, which reads the nonce from `cspNonce` in the
 * render data. Any engine that calls functions from its data can use them (eta's `it.`,
 * ejs, pug); nunjucks gets its output marked safe.
 *
 * @param options snippet defaults: `src`, `jquery`, `mode`, `settings`
 * @returns the three functions
 * @example Object.assign(app.locals, pushserverLocals());
 */
export function pushserverLocals(options: TemplateHelperOptions = {}): PushserverLocals {
  const helpers = createTemplateHelpers(options);
  return {
    channelUrl: forEveryEngine(helpers.channelUrl),
    escapejs: forEveryEngine(helpers.escapejs),
    pushserverSubscribe: forEveryEngine(helpers.pushserverSubscribe),
  };
}

/**
 * Middleware that sets the locals on every response and, once per app, on `app.locals`
 * (so `app.render` outside a request sees them too).
 *
 * @param locals from {@link pushserverLocals}
 * @returns an Express middleware
 * @example app.use(localsHandler(pushserverLocals()))
 */
export function localsHandler(locals: PushserverLocals) {
  const apps = new WeakSet<object>();
  return function setPushserverLocals(req: Request, res: Response, next: NextFunction) {
    if (!apps.has(req.app)) {
      apps.add(req.app);
      Object.assign(req.app.locals, locals);
    }
    Object.assign(res.locals, locals);
    next();
  };
}

/** The part of a nunjucks render context a called function sees as `this`. */
interface NunjucksContext {
  ctx: Record<string, unknown>;
  env: { getFilter(name: string): (value: string) => unknown };
}

function isNunjucksContext(value: unknown): value is NunjucksContext {
  const context = value as Partial<NunjucksContext> | undefined;
  return typeof context?.ctx === 'object' && typeof context.env?.getFilter === 'function';
}

/**
 * nunjucks looks up render data before its globals, so these locals shadow the ones
 * `pushserver/nunjucks` installs; it calls them with its Context as `this`. Read the data
 * from `this.ctx` then, and mark the result safe with that environment's own `safe`
 * filter, or autoescape would print the snippet as text.
 */
function forEveryEngine<Args extends unknown[]>(
  helper: (this: unknown, ...args: Args) => string,
): (this: unknown, ...args: Args) => string {
  return function (this: unknown, ...args: Args) {
    if (!isNunjucksContext(this)) return helper.apply(this, args);
    return this.env.getFilter('safe')(helper.apply(this.ctx, args)) as string;
  };
}
