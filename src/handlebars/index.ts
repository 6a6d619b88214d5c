/**
 * pushserver/handlebars: the template helpers for handlebars, registered on the app's own
 * instance (handlebars is a peer dependency; nothing here imports it).
 *
 * @example
 * import Handlebars from 'handlebars';
 * import { registerHelpers } from 'pushserver/handlebars';
 * registerHelpers(Handlebars);
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapejs } from '../escape.js';
import {
  helperSettings,
  helperSnippetOptions,
  mergeChannels,
  type SubscriptionSnippetOptions,
  streamFromSnippet,
  subscriptionSnippet,
  type TemplateHelperOptions,
  templateChannelUrl,
  templatesDirectory,
} from '../snippet.js';
import { setStreamRenderer } from '../stream/broadcast.js';

/** The parts of a handlebars instance the helpers use. */
export interface HandlebarsInstance {
  registerHelper(name: string, helper: (...args: unknown[]) => unknown): void;
  registerPartial(name: string, partial: string): void;
  SafeString: new (html: string) => unknown;
  /** Registered partials: their source, or compiled. */
  partials: Record<string, string | ((data: object) => string) | undefined>;
  compile(source: string): (data: object) => string;
}

/** What handlebars passes a helper as its last argument. */
interface HelperOptions {
  hash: Record<string, unknown>;
  data?: { root?: unknown };
}

/**
 * Defaults for the snippet: `src`, `jquery`, `mode`, `multiplex`, `settings`; they win over the Express
 * middleware's.
 */
export type HandlebarsHelperOptions = TemplateHelperOptions;

/**
 * Register `{{channelUrl "id"}}` (`signed=true expiresIn=3600` sign it), `{{escapejs value}}` and
 * `{{{pushserverSubscribe main_channel="id"}}}` (hash arguments are the channels; an
 * optional first argument is an object of more channels, a second one snippet options;
 * the nonce comes from `@root.cspNonce`; a string is always a channel id, a full URL is
 * an object `{url: "https://…"}` from the data), and the partial `pushserver/subscribe`
 * (`{{> pushserver/subscribe channels=channels}}`), and `{{{pushserverStreamFrom "room-1"}}}`
 * (more ids as more arguments, snippet options as hash arguments): the client and a
 * subscription whose live HTML (`broadcast`) the client applies by itself. Helpers
 * return `SafeString`s. It also makes `broadcast` render its templates as partials of
 * this instance.
 *
 * The snippet options are, each over the one before: those given to the Express
 * middleware `pushserver(options)` (found in the render data), `options` here, and the
 * helper's second argument.
 *
 * @param handlebars the global `Handlebars` or one from `Handlebars.create()`
 * @param options snippet defaults: `src`, `jquery`, `mode`, `multiplex`, `settings`; unset keys come
 * from the Express middleware's options
 * @returns `handlebars`, for chaining
 * @example registerHelpers(Handlebars.create(), { mode: 'data' })
 */
export function registerHelpers<H extends HandlebarsInstance>(
  handlebars: H,
  options: HandlebarsHelperOptions = {},
): H {
  const { SafeString } = handlebars;
  const unwrap = (value: unknown) => (value instanceof SafeString ? String(value) : value);
  // The last argument is always handlebars' options object, so count the rest.
  const split = (args: unknown[]) => ({
    values: args.slice(0, -1),
    helperOptions: args.at(-1) as HelperOptions,
  });

  handlebars.registerHelper('channelUrl', (...args: unknown[]) => {
    const { values, helperOptions } = split(args);
    if (values.length > 1) {
      throw new TypeError(
        `{{channelUrl}} takes one channel id, e.g. {{channelUrl "room-1"}}; got ${values.length}`,
      );
    }
    return new SafeString(
      templateChannelUrl(
        unwrap(values[0]),
        '{{channelUrl}}',
        helperSettings(helperOptions.data?.root, options),
        helperOptions.hash,
      ),
    );
  });
  handlebars.registerHelper('escapejs', (...args: unknown[]) => {
    return new SafeString(escapejs(split(args).values[0]));
  });
  handlebars.registerHelper('pushserverSubscribe', (...args: unknown[]) => {
    const { values, helperOptions } = split(args);
    const [positional, callOptions] = values as [unknown, SubscriptionSnippetOptions?];
    const named = Object.fromEntries(
      Object.entries(helperOptions.hash).map(([name, value]) => [name, unwrap(value)]),
    );
    const channels = mergeChannels(positional, named, '{{pushserverSubscribe}}');
    const html = subscriptionSnippet(
      channels,
      helperSnippetOptions(
        helperOptions.data?.root,
        options,
        callOptions,
        '{{pushserverSubscribe}}',
      ),
    );
    return new SafeString(html);
  });
  handlebars.registerHelper('pushserverStreamFrom', (...args: unknown[]) => {
    const { values, helperOptions } = split(args);
    const helper = '{{pushserverStreamFrom}}';
    const html = streamFromSnippet(
      values.map(unwrap),
      helperSnippetOptions(helperOptions.data?.root, options, helperOptions.hash, helper),
    );
    return new SafeString(html);
  });
  handlebars.registerPartial(
    'pushserver/subscribe',
    readFileSync(join(templatesDirectory, 'pushserver', 'subscribe.hbs'), 'utf8'),
  );
  setStreamRenderer(partialRenderer(handlebars));
  return handlebars;
}

/**
 * Renders a partial registered on `handlebars` (`registerPartial(name, source)`), as
 * `{{> name}}` would: handlebars has no file loader of its own, so `broadcast`'s
 * templates are its partials (with Express, `setStreamRenderer(expressRenderer(app))`
 * renders view files instead).
 */
function partialRenderer(handlebars: HandlebarsInstance) {
  const compiled = new Map<string, (data: object) => string>();
  return (name: string, data: object): string => {
    const partial = handlebars.partials[name];
    if (partial === undefined) {
      throw new Error(
        `handlebars has no partial named ${JSON.stringify(name)} to broadcast; register it first: handlebars.registerPartial(${JSON.stringify(name)}, source)`,
      );
    }
    if (typeof partial === 'function') return partial(data);
    let render = compiled.get(partial);
    if (!render) {
      render = handlebars.compile(partial);
      compiled.set(partial, render);
    }
    return render(data);
  };
}
