/**
 * pushserver/eta: the template helpers for eta 3 and 4. With the Express integration they
 * are already in `it` (`<%= it.channelUrl("id") %>`); on its own, merge
 * {@link etaHelpers} into the data or subclass Eta with {@link withPushserverHelpers}.
 * eta is a peer dependency; nothing here imports it.
 *
 * @example
 * import { Eta } from 'eta';
 * import { withPushserverHelpers } from 'pushserver/eta';
 * const eta = new (withPushserverHelpers(Eta))({ views: 'views' });
 */
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  createTemplateHelpers,
  type TemplateHelperOptions,
  type TemplateHelpers,
  templatesDirectory,
} from '../snippet.js';
import { setStreamRenderer } from '../stream/broadcast.js';

/** Defaults for the snippet: `src`, `jquery`, `mode`, `multiplex`, `settings`. */
export type EtaHelperOptions = TemplateHelperOptions;

/**
 * The helpers for eta's `it`: `it.channelUrl(id)`, `it.escapejs(value)`,
 * `it.pushserverSubscribe(channels, options?)` (nonce from `it.cspNonce`; a string is
 * always a channel id, a full URL is `{ url: 'https://…' }`) and
 * `it.pushserverStreamFrom(ids, options?)` (live HTML the client applies by itself).
 * Print the snippets raw (`<%~ %>`); the other two are HTML-safe either way.
 *
 * @param options snippet defaults: `src`, `jquery`, `mode`, `multiplex`, `settings`
 * @returns the four functions, to spread into the render data
 * @example eta.render('page', { ...etaHelpers(), cspNonce, room })
 */
export function etaHelpers(options: EtaHelperOptions = {}): TemplateHelpers {
  return createTemplateHelpers(options);
}

/** The render methods of an Eta instance (eta 3 and 4). */
export interface EtaRenderer {
  config: { views?: string };
  render(template: string, data: object): string;
  renderAsync(template: string, data: object): Promise<string>;
  renderString(template: string, data: object): string;
  renderStringAsync(template: string, data: object): Promise<string>;
  loadTemplate(name: string, template: string, options?: { async: boolean }): void;
}

// biome-ignore lint/suspicious/noExplicitAny: a mixin's constructor must accept any arguments
type EtaClass = new (...args: any[]) => EtaRenderer;

const RENDER_METHODS = ['render', 'renderAsync', 'renderString', 'renderStringAsync'] as const;

/**
 * Load the partial `@pushserver/subscribe` into an Eta instance (for sync and async
 * renders), so templates can `<%~ include('@pushserver/subscribe', { channels }) %>`.
 *
 * @param eta an Eta 3 or 4 instance
 * @returns `eta`
 * @example loadPartials(new Eta({ views }))
 */
export function loadPartials<E extends EtaRenderer>(eta: E): E {
  const partial = readFileSync(join(templatesDirectory, 'pushserver', 'subscribe.eta'), 'utf8');
  eta.loadTemplate('@pushserver/subscribe', partial);
  eta.loadTemplate('@pushserver/subscribe', partial, { async: true });
  return eta;
}

/**
 * A subclass of the app's `Eta` whose every render gets the helpers in `it` (data given
 * to the render wins over them), with the partial `@pushserver/subscribe` loaded. An
 * instance made from it renders `broadcast`'s templates.
 *
 * @param Eta the `Eta` class from `eta` (4) or eta 3
 * @param options snippet defaults: `src`, `jquery`, `mode`, `multiplex`, `settings`
 * @returns the subclass
 * @example
 * const PushEta = withPushserverHelpers(Eta);
 * new PushEta({ views }).render('page', { room: 'room-1', cspNonce });
 */
export function withPushserverHelpers<C extends EtaClass>(
  Eta: C,
  options: EtaHelperOptions = {},
): C {
  const helpers = etaHelpers(options);
  return class PushserverEta extends Eta {
    // biome-ignore lint/suspicious/noExplicitAny: see EtaClass
    constructor(...args: any[]) {
      super(...args);
      loadPartials(this);
      setStreamRenderer((template, data) => this.renderAsync(template, data));
      // Eta assigns its render methods as instance fields, so wrap them here, not on the prototype.
      for (const method of RENDER_METHODS) {
        const original = this[method] as (
          template: unknown,
          data: object,
          meta?: unknown,
        ) => unknown;
        (this as Record<string, unknown>)[method] = (
          template: unknown,
          data: object,
          meta?: unknown,
        ) => original.call(this, template, { ...helpers, ...data }, meta);
      }
    }
  };
}

/**
 * An Express view engine for eta (`app.engine('eta', etaEngine(eta))`): renders the view
 * Express found, relative to `eta.config.views`, with the render data (locals included)
 * as `it`. Templates may use `await`. It also makes `broadcast` render its templates
 * with `eta` (`eta.renderAsync(template, data)`).
 *
 * @param eta an Eta instance whose `views` is the app's views folder
 * @returns the `(path, data, callback)` function Express calls
 * @example
 * const eta = new Eta({ views: join(import.meta.dirname, 'views') });
 * app.engine('eta', etaEngine(eta));
 * app.set('view engine', 'eta');
 * app.set('views', eta.config.views);
 */
export function etaEngine(eta: EtaRenderer) {
  setStreamRenderer((template, data) => eta.renderAsync(template, data));
  return function renderEtaView(
    path: string,
    data: object,
    callback: (error: unknown, html?: string) => void,
  ): void {
    const views = eta.config.views;
    const name = views ? relative(views, path) : '';
    if (!views || name.startsWith('..')) {
      callback(
        new Error(
          `etaEngine: view ${path} is not inside eta's views folder (${views ?? 'not set'}); create Eta with { views: app.get('views') }`,
        ),
      );
      return;
    }
    eta.renderAsync(name, data).then((html) => callback(null, html), callback);
  };
}
