import type { NextFunction, Request, Response } from 'express';
import {
  createTemplateHelpers,
  OPTIONS_LOCAL,
  type TemplateHelperOptions,
  type TemplateHelpers,
} from '../snippet.js';

/** What {@link localsHandler} puts into `res.locals` and `app.locals`. */
export interface PushserverLocals extends TemplateHelpers {
  /**
   * The snippet options the locals were made with, for the helpers `pushserver/nunjucks`
   * and `pushserver/handlebars` register (their own options win over these).
   */
  [OPTIONS_LOCAL]: Readonly<TemplateHelperOptions>;
}

/**
 * The helpers as template locals: `channelUrl(id)`, `escapejs(value)`,
 * `pushserverSubscribe(channels, options?)` and `pushserverStreamFrom(ids, options?)`,
 * which read the nonce from `cspNonce` in the render data, plus the options themselves as `pushserverOptions`, so the nunjucks tags
 * and the handlebars helpers render with them too. Any engine that calls functions from
 * its data can use the functions (eta's `it.`, ejs, pug); nunjucks gets their output
 * marked safe.
 *
 * @param options snippet defaults: `src`, `jquery`, `mode`, `multiplex`, `settings`
 * @returns the four functions and `pushserverOptions`
 * @example Object.assign(app.locals, pushserverLocals({ mode: 'data' }));
 */
export function pushserverLocals(options: TemplateHelperOptions = {}): PushserverLocals {
  const defined = Object.entries(options).filter(([, value]) => value !== undefined);
  const snippetOptions: TemplateHelperOptions = Object.freeze(Object.fromEntries(defined));
  const helpers = createTemplateHelpers(snippetOptions);
  return {
    channelUrl: forEveryEngine('channelUrl', helpers.channelUrl),
    escapejs: forEveryEngine('escapejs', helpers.escapejs),
    pushserverSubscribe: forEveryEngine('pushserverSubscribe', helpers.pushserverSubscribe),
    pushserverStreamFrom: forEveryEngine('pushserverStreamFrom', helpers.pushserverStreamFrom),
    [OPTIONS_LOCAL]: snippetOptions,
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
  env: {
    getFilter(name: string): (value: string) => unknown;
    globals?: Record<string, unknown>;
  };
}

function isNunjucksContext(value: unknown): value is NunjucksContext {
  const context = value as Partial<NunjucksContext> | undefined;
  return typeof context?.ctx === 'object' && typeof context.env?.getFilter === 'function';
}

/**
 * nunjucks looks up render data before its globals, so these locals shadow the ones
 * `pushserver/nunjucks` installs; it calls them with its Context as `this`. Then call the
 * installed global of the same name, if any, so `install(env, options)` wins as it does
 * for the tags; else read the data from `this.ctx` and mark the result safe with that
 * environment's own `safe` filter, or autoescape would print the snippet as text.
 */
function forEveryEngine<Args extends unknown[]>(
  name: keyof TemplateHelpers,
  helper: (this: unknown, ...args: Args) => string,
): (this: unknown, ...args: Args) => string {
  const local = function (this: unknown, ...args: Args) {
    if (!isNunjucksContext(this)) return helper.apply(this, args);
    const installed = this.env.globals?.[name];
    if (typeof installed === 'function' && installed !== local) {
      return installed.apply(this, args) as string;
    }
    return this.env.getFilter('safe')(helper.apply(this.ctx, args)) as string;
  };
  return local;
}
