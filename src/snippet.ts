/**
 * The subscription bootstrap every engine renders, and the channel URL checks every
 * template helper shares. Engine adapters only translate their calling convention to
 * these functions.
 */
import { fileURLToPath } from 'node:url';
import { channelIdProblem } from './channel/id.js';
import { renderStart } from './channel/start.js';
import {
  type ChannelUrlOptions,
  channelUrl,
  type MultiplexTarget,
  multiplexTargets,
  publisherUrl,
} from './channel/urls.js';
import { ChannelIdError, describeValue } from './errors.js';
import { escapeAttribute, escapejs, jsonForScript } from './escape.js';
import type { ResolvedSettings } from './settings/index.js';

/** Where the Express integration serves the browser client. */
export const DEFAULT_CLIENT_SRC = '/static/pushserver/updates.js';

/**
 * The package's `templates/` folder, holding the partials `pushserver/subscribe.njk`,
 * `pushserver/subscribe.hbs` and `pushserver/subscribe.eta`. Add it to your engine's
 * search path to include them.
 *
 * @example new nunjucks.FileSystemLoader(['views', templatesDirectory])
 */
export const templatesDirectory = fileURLToPath(new URL('../templates/', import.meta.url));

/** `inline`: an executable `subscribe(...)` call. `data`: a JSON block the client reads itself. */
export type SubscriptionMode = 'inline' | 'data';

/**
 * A channel given by its full subscriber URL instead of its id, used as is: an absolute
 * `http(s)` URL, e.g. on another push host. Only this object form is a URL; a string is
 * always a channel id, so a channel named by a user cannot point the page elsewhere.
 *
 * @example { url: 'https://push.example.com/sub/room-1' }
 */
export interface SubscriptionUrl {
  url: string;
}

/**
 * Channels to subscribe to: name → channel id (a string, always put on the configured
 * subscriber location, even when it looks like a URL), or name → `{url}`.
 */
export type SubscriptionChannels = Record<string, string | SubscriptionUrl>;

/**
 * What the snippet renders for a channel id that can share the page's one multiplexed
 * connection: the channel's own URL (a connection of its own, the fallback) and its
 * place in the multiplexed URL ({@link multiplexTarget}). Other channels render as a
 * URL string.
 *
 * @example
 * {
 *   url: 'http://127.0.0.1:8001/subscriber/room-1',
 *   multiplex: { prefix: 'http://127.0.0.1:8001/multi/', suffix: '', delimiter: ',', id: 'room-1' },
 * }
 */
export interface MultiplexedChannel {
  url: string;
  multiplex: MultiplexTarget;
  /** With `start: 'render'`: the id the page starts after ({@link StartingChannel}). */
  after?: string;
}

/**
 * A channel of a snippet rendered with `start: 'render'` that has no multiplexed place:
 * its URL, and the message id `time:tag` (or `time:-`, from that second on) the page
 * starts after; every message up to it counts as already shown.
 *
 * @example { url: 'http://127.0.0.1:8001/subscriber/room-1', after: '1796323864:-' }
 */
export interface StartingChannel {
  url: string;
  after: string;
}

/**
 * A channel as the snippet renders it for the client: a URL, a {@link MultiplexedChannel},
 * or a {@link StartingChannel}.
 */
export type RenderedChannel = string | MultiplexedChannel | StartingChannel;

/**
 * Where a page's channels start: `'oldest'` with every message the daemon still buffers
 * (the page catches up), `'render'` with the first one published after the render.
 */
export type SnippetStart = 'oldest' | 'render';

/** How {@link subscriptionSnippet} renders. */
export interface SubscriptionSnippetOptions {
  /** CSP nonce put on the script tags; none when absent or empty. */
  nonce?: string;
  /**
   * URL of the browser client.
   * @default '/static/pushserver/updates.js'
   */
  src?: string;
  /**
   * `false` calls `pushserver.updates.subscribe`, which the client defines on every page,
   * with or without jQuery (with jQuery, `$.updates` is the same object). `true` calls the
   * seed's `$.updates.subscribe`, which needs jQuery loaded before the snippet: for a page
   * whose `src` is django-pushserver's own jQuery client.
   * @default false
   */
  jquery?: boolean;
  /**
   * `'data'` renders no executable inline script, for a strict Content-Security-Policy.
   * @default 'inline'
   */
  mode?: SubscriptionMode;
  /**
   * `true` renders each channel id that a multiplexed subscriber location (one with a
   * `splitDelimiter`, by default `/multi/`) can carry as `{url, multiplex}`, so the client
   * follows all of them on one connection; other channels stay URL strings. `false`
   * renders URL strings only: one connection per channel, for a daemon without a
   * multiplexed location.
   * @default true
   */
  multiplex?: boolean;
  /**
   * Sign every channel id of the call with the settings' `secret`, for subscriber
   * locations with `signed: true` (README "Private channels"): `true`, or
   * `{expiresIn: seconds}` for URLs that expire. The channels of one call share one
   * signed multiplexed connection.
   * @default false
   */
  signed?: boolean | { expiresIn?: number };
  /**
   * Where the page starts on its channels. `'oldest'` (the seed's behaviour): every
   * message the daemon still buffers, then the new ones, for a page that catches up.
   * `'render'`: only what is published after this render (as Rails' `turbo_stream_from`),
   * for a page whose render already shows the rest, such as live HTML that appends: it
   * starts after the render's second, or after this process's own last publish to the
   * channel when that is later (a form's note, posted just before the page was rendered).
   * The app's and the daemon's clocks should agree (NTP); see README "Live HTML".
   * @default 'oldest' ('render' for stream_from)
   */
  start?: SnippetStart;
  /**
   * Settings channel URLs are built from.
   * @default getSettings() at render time
   */
  settings?: ResolvedSettings;
  /**
   * The helper's name as templates write it, used in error messages.
   * @default 'subscriptionSnippet()'
   */
  helper?: string;
}

const ABSOLUTE_URL = /^https?:\/\//i;

/**
 * Render the tags that load the browser client and subscribe the page to `channels`.
 *
 * Inline mode: `<script src="…"></script>` then
 * `<script>pushserver.updates.subscribe({"name":<channel>,…});</script>`, which works with
 * and without jQuery (`$.updates.subscribe` with `jquery: true`). Data mode: first
 * `<script type="application/json" data-pushserver-channels>{"name":<channel>,…}</script>`,
 * then the `<script src>` tag; the client subscribes to every such block by itself.
 * A channel id (a string) becomes `channelUrl(id)`, even `'https://…'`, rendered as
 * `{"url":…,"multiplex":…}` ({@link MultiplexedChannel}) when a multiplexed location can
 * carry it and `multiplex` is not `false`; only `{url: 'https://…'}` is used as is.
 * Names and URLs are escaped for where they land (JSON in a script, attribute), once.
 *
 * @param channels name → channel id, or name → `{url}` (an absolute `http(s)` URL); at least one
 * @param options nonce, client `src`, `jquery`, `mode`, `multiplex`, `settings`
 * @returns HTML, safe to output unescaped
 * @throws ChannelIdError naming the helper and the channel when an id is unusable
 * @throws TypeError naming the helper and the channel when a `{url}` is not an absolute http(s) URL
 * @example
 * subscriptionSnippet({ chat: 'room-1' }, { nonce: 'r4nd0m' })
 * // <script src="/static/pushserver/updates.js" nonce="r4nd0m"></script>
 * // <script nonce="r4nd0m">pushserver.updates.subscribe({"chat":{"url":"http://127.0.0.1:8001/subscriber/room-1","multiplex":{"prefix":"http://127.0.0.1:8001/multi/","suffix":"","delimiter":",","id":"room-1"}}});</script>
 */
export function subscriptionSnippet(
  channels: SubscriptionChannels,
  options: SubscriptionSnippetOptions = {},
): string {
  const helper = options.helper ?? 'subscriptionSnippet()';
  const mode = options.mode ?? 'inline';
  if (mode !== 'inline' && mode !== 'data') {
    throw new TypeError(`${helper}: mode must be "inline" or "data", got ${JSON.stringify(mode)}`);
  }
  const start = options.start ?? 'oldest';
  if (start !== 'oldest' && start !== 'render') {
    throw new TypeError(
      `${helper}: start must be "oldest" or "render", got ${JSON.stringify(start)}`,
    );
  }
  const rendered = renderedChannels(
    channels,
    helper,
    urlOptions(options),
    options.multiplex !== false,
  );
  if (start === 'render') startAtRender(rendered, channels, options.settings, Date.now());
  const json = jsonForScript(rendered);
  const nonce = options.nonce ? ` nonce="${escapeAttribute(String(options.nonce))}"` : '';
  const client = `<script src="${escapeAttribute(options.src ?? DEFAULT_CLIENT_SRC)}"${nonce}></script>`;
  if (mode === 'data') {
    return `<script type="application/json" data-pushserver-channels>${json}</script>\n${client}`;
  }
  const call = options.jquery === true ? '$.updates.subscribe' : 'pushserver.updates.subscribe';
  return `${client}\n<script${nonce}>${call}(${json});</script>`;
}

/**
 * The snippet of a `stream_from` helper: the client and a subscription to each channel
 * id, named by the id. The client applies the Turbo Stream messages (live HTML) that
 * arrive on them with no script of the page's; JSON updates reach processors of that
 * name as usual. The page starts with what is published after its render
 * (`start: 'render'` unless the options say otherwise): its render shows the rest.
 *
 * @param channelIds channel ids (strings), or arrays of them
 * @param options as for {@link subscriptionSnippet}
 * @returns HTML, safe to output unescaped
 * @throws TypeError naming the helper when no id is given; ChannelIdError when one is unusable
 * @example streamFromSnippet(['room-1'], { helper: '{% stream_from %}' })
 */
export function streamFromSnippet(
  channelIds: readonly unknown[],
  options: SubscriptionSnippetOptions = {},
): string {
  const helper = options.helper ?? 'streamFromSnippet()';
  const ids = channelIds.flat();
  if (ids.length === 0) {
    throw new TypeError(`${helper}: no channel given; pass at least one id, e.g. "room-1"`);
  }
  const channels: SubscriptionChannels = {};
  for (const id of ids) {
    const value = id instanceof String ? String(id) : id;
    if (typeof value !== 'string') {
      const problem = templateChannelIdProblem(value) ?? 'the channel id must be a string';
      throw new ChannelIdError(`${helper}: ${problem}`);
    }
    channels[value] = value;
  }
  return subscriptionSnippet(channels, { ...options, start: options.start ?? 'render', helper });
}

/**
 * The channels of a helper call that takes an object of channels as its first argument
 * and more as keyword/hash arguments (which win).
 *
 * @param positional the first argument, if any
 * @param named the keyword or hash arguments
 * @param helper the helper's name as templates write it, for the error message
 * @returns name → channel id or `{url}`
 * @throws TypeError when `positional` is given but is not an object of channels
 * @example mergeChannels({ a: 'x' }, { b: 'y' }, '{{pushserverSubscribe}}') // { a: 'x', b: 'y' }
 */
export function mergeChannels(
  positional: unknown,
  named: Record<string, unknown>,
  helper: string,
): SubscriptionChannels {
  if (positional === undefined) return named as SubscriptionChannels;
  if (typeof positional !== 'object' || positional === null || Array.isArray(positional)) {
    throw new TypeError(
      `${helper}: the first argument must be an object of name → channel id, got ${describeValue(positional)}`,
    );
  }
  return { ...positional, ...named } as SubscriptionChannels;
}

/** How the channel URLs of a snippet are built: its `settings` and `signed` options. */
function urlOptions(options: SubscriptionSnippetOptions): ChannelUrlOptions {
  const { signed, settings } = options;
  const expiresIn = typeof signed === 'object' && signed !== null ? signed.expiresIn : undefined;
  return { settings, signed: signed === true || expiresIn !== undefined, expiresIn };
}

function renderedChannels(
  channels: unknown,
  helper: string,
  urls: ChannelUrlOptions,
  multiplex: boolean,
): Record<string, RenderedChannel> {
  if (typeof channels !== 'object' || channels === null || Array.isArray(channels)) {
    throw new TypeError(
      `${helper}: channels must be an object of name → channel id, got ${describeValue(channels)}`,
    );
  }
  const entries = Object.entries(channels);
  if (entries.length === 0) {
    throw new TypeError(
      `${helper}: no channels given; pass at least one, e.g. main_channel="room-1"`,
    );
  }
  const rendered: Record<string, RenderedChannel> = {};
  const ids: Array<[string, string]> = [];
  for (const [name, value] of entries) {
    const where = `${helper} channel "${name}"`;
    if (isUrlObject(value)) {
      rendered[name] = explicitUrl(value, where);
      continue;
    }
    rendered[name] = checkedChannelUrl(value, where, urls.settings, urls);
    ids.push([name, value as string]);
  }
  if (!multiplex || ids.length === 0) return rendered;
  // All at once: signed, the channels share one suffix that carries every signature.
  const targets = multiplexTargets(
    ids.map(([, id]) => id),
    urls,
  );
  ids.forEach(([name], i) => {
    const target = targets[i];
    if (target) rendered[name] = { url: rendered[name] as string, multiplex: target };
  });
  return rendered;
}

/**
 * Give each rendered channel the id it starts after ({@link renderStart}): for a channel
 * id, on the daemon its publisher URL names; for a `{url}`, and for an id no publisher
 * location here takes (this process cannot have published to it), the render's second.
 */
function startAtRender(
  rendered: Record<string, RenderedChannel>,
  channels: SubscriptionChannels,
  settings: ResolvedSettings | undefined,
  now: number,
): void {
  for (const [name, value] of Object.entries(channels)) {
    const after = renderStart(
      isUrlObject(value) ? undefined : ownPublisherUrl(value, settings),
      now,
    );
    const channel = rendered[name];
    rendered[name] = typeof channel === 'string' ? { url: channel, after } : { ...channel, after };
  }
}

/** The channel's publisher URL, or undefined when no publisher location takes the id. */
function ownPublisherUrl(channelId: string, settings: ResolvedSettings | undefined) {
  try {
    return publisherUrl(channelId, settings);
  } catch (error) {
    if (error instanceof ChannelIdError) return undefined;
    throw error;
  }
}

/** An object with a `url` key is a {@link SubscriptionUrl}; anything else is a channel id. */
function isUrlObject(value: unknown): value is { url: unknown } {
  return typeof value === 'object' && value !== null && 'url' in value;
}

function explicitUrl({ url }: { url: unknown }, where: string): string {
  if (typeof url === 'string' && ABSOLUTE_URL.test(url)) return url;
  throw new TypeError(
    `${where}: url must be an absolute http(s) URL, e.g. {url: "https://push.example.com/sub/x"}; got ${
      typeof url === 'string' ? JSON.stringify(url) : describeValue(url)
    }`,
  );
}

/** Signing options of a template's `channelUrl` helper (as `channelUrl`'s). */
export interface TemplateChannelUrlOptions {
  /** Sign the id for a location with `signed: true`. @default false */
  signed?: boolean;
  /** Seconds the signed URL stays valid. @default no expiry */
  expiresIn?: number;
}

/**
 * The channel URL for a template's text output: `channelUrl(id)`, which holds none of
 * `& < > " '` (the id is percent-encoded, `'` as `%27`), so it is the same text escaped
 * or not, in HTML text, any quoted attribute, and through `escapejs` (never double-escaped).
 * A signed URL adds `?exp=…&sig=…` (base64url: its `&` starts no character reference).
 *
 * @param channelId what the template passed
 * @param helper the helper's name as templates write it, for the error message
 * @param settings @default getSettings() now
 * @param options `signed`, `expiresIn`
 * @returns the absolute subscriber URL
 * @throws ChannelIdError `"<helper>: <problem>"` for a missing, non-string, empty or over-long id
 * @throws TypeError naming the helper for an option it does not know
 * @example templateChannelUrl("it's", '{% channel_url %}') // 'http://127.0.0.1:8001/subscriber/it%27s'
 */
export function templateChannelUrl(
  channelId: unknown,
  helper: string,
  settings?: ResolvedSettings,
  options: TemplateChannelUrlOptions = {},
): string {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(`${helper}: options must be an object {signed, expiresIn}`);
  }
  for (const key of Object.keys(options)) {
    if (key !== 'signed' && key !== 'expiresIn') {
      throw new TypeError(
        `${helper}: unknown option "${key}"; the options are signed and expiresIn`,
      );
    }
  }
  const { signed, expiresIn } = options;
  return checkedChannelUrl(channelId, helper, settings, {
    signed: signed === true || expiresIn !== undefined,
    expiresIn,
  });
}

function checkedChannelUrl(
  channelId: unknown,
  helper: string,
  settings?: ResolvedSettings,
  sign: ChannelUrlOptions = {},
): string {
  const problem = templateChannelIdProblem(channelId);
  if (problem) throw new ChannelIdError(`${helper}: ${problem}`);
  try {
    return channelUrl(channelId as string, { ...sign, settings });
  } catch (error) {
    if (error instanceof ChannelIdError) throw new ChannelIdError(`${helper}: ${error.message}`);
    throw error;
  }
}

function templateChannelIdProblem(channelId: unknown): string | undefined {
  if (channelId === undefined) {
    return 'the channel id is undefined; is the variable set in the render context?';
  }
  return channelIdProblem(channelId);
}

/**
 * Snippet defaults a helper renders with: those given to the Express middleware, to an
 * engine's `install`, `registerHelpers` or `etaHelpers`, or to {@link createTemplateHelpers}.
 */
export type TemplateHelperOptions = Omit<SubscriptionSnippetOptions, 'nonce' | 'helper'>;

/**
 * The render-data key (`res.locals`, `app.locals`) under which the Express middleware puts
 * its snippet options, so the helpers of every engine render with them.
 */
export const OPTIONS_LOCAL = 'pushserverOptions';

/**
 * The snippet options a render context carries as `pushserverOptions`, if any.
 *
 * @param context the template data (eta's `it`, handlebars' `@root`, nunjucks' context vars)
 * @returns the options, or `{}`
 * @example contextOptions({ pushserverOptions: { mode: 'data' } }) // { mode: 'data' }
 */
export function contextOptions(context: unknown): TemplateHelperOptions {
  if (typeof context !== 'object' || context === null) return {};
  const options = (context as Record<string, unknown>)[OPTIONS_LOCAL];
  return typeof options === 'object' && options !== null ? (options as TemplateHelperOptions) : {};
}

/**
 * The options one `pushserverSubscribe` call renders with. Each layer wins over the one
 * before, key by key, and a key set to `undefined` leaves the one before: the Express
 * middleware's options (`pushserverOptions` in the render data), the engine's (`install`,
 * `registerHelpers`, `etaHelpers`), the render data's `cspNonce`, the call's own options.
 *
 * @param context the render data
 * @param engineOptions the helper's own defaults
 * @param callOptions what the template passed, if anything
 * @param helper the helper's name as templates write it, for error messages
 * @returns the options for {@link subscriptionSnippet}
 * @example
 * helperSnippetOptions({ cspNonce: 'n', pushserverOptions: { mode: 'data' } }, {}, undefined, 'h')
 * // { mode: 'data', nonce: 'n', helper: 'h' }
 */
export function helperSnippetOptions(
  context: unknown,
  engineOptions: TemplateHelperOptions,
  callOptions: Omit<SubscriptionSnippetOptions, 'helper'> | undefined,
  helper: string,
): SubscriptionSnippetOptions {
  return {
    ...definedOnly(contextOptions(context)),
    ...definedOnly(engineOptions),
    ...definedOnly({ nonce: contextNonce(context) }),
    ...definedOnly(callOptions),
    helper,
  };
}

/**
 * The settings a helper builds channel URLs from: the engine's, else the Express
 * middleware's (from the render data), else none (the process-wide settings then).
 *
 * @param context the render data
 * @param engineOptions the helper's own defaults
 * @returns the settings, or undefined
 * @example helperSettings(it, {}) // it.pushserverOptions?.settings
 */
export function helperSettings(
  context: unknown,
  engineOptions: TemplateHelperOptions,
): ResolvedSettings | undefined {
  return engineOptions.settings ?? contextOptions(context).settings;
}

function definedOnly(options: object | undefined): object {
  if (typeof options !== 'object' || options === null) return {};
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

/**
 * The three helpers as plain functions, for engines that call functions from their data
 * (eta's `it.`, Express locals). Called as `it.pushserverSubscribe(...)`, `this` is the
 * render data: the nonce comes from `options.nonce`, else `this.cspNonce`, and the options
 * are layered as {@link helperSnippetOptions} says.
 */
export interface TemplateHelpers {
  /** {@link templateChannelUrl} for `channelId`; `options` sign it. */
  channelUrl(this: unknown, channelId: string, options?: TemplateChannelUrlOptions): string;
  /** {@link escapejs}. */
  escapejs(value: unknown): string;
  /** {@link subscriptionSnippet} for `channels`; `options` override the defaults. */
  pushserverSubscribe(
    this: unknown,
    channels: SubscriptionChannels,
    options?: Omit<SubscriptionSnippetOptions, 'helper'>,
  ): string;
  /** {@link streamFromSnippet} for one channel id or a list; `options` override the defaults. */
  pushserverStreamFrom(
    this: unknown,
    channelIds: string | readonly string[],
    options?: Omit<SubscriptionSnippetOptions, 'helper'>,
  ): string;
}

/**
 * Make the helpers with fixed defaults, which win over the Express middleware's options
 * found in the render data (`pushserverOptions`).
 *
 * @param defaults `src`, `jquery`, `mode`, `multiplex` and `settings` for every call
 * @returns `{channelUrl, escapejs, pushserverSubscribe, pushserverStreamFrom}`
 * @example
 * const helpers = createTemplateHelpers({ mode: 'data' });
 * eta.render('page', { ...helpers, cspNonce, room });
 */
export function createTemplateHelpers(defaults: TemplateHelperOptions = {}): TemplateHelpers {
  return {
    channelUrl(channelId, options) {
      return templateChannelUrl(channelId, 'channelUrl()', helperSettings(this, defaults), options);
    },
    escapejs,
    pushserverSubscribe(channels, options) {
      return subscriptionSnippet(
        channels,
        helperSnippetOptions(this, defaults, options, 'pushserverSubscribe()'),
      );
    },
    pushserverStreamFrom(channelIds, options) {
      return streamFromSnippet(
        [channelIds],
        helperSnippetOptions(this, defaults, options, 'pushserverStreamFrom()'),
      );
    },
  };
}

/**
 * The CSP nonce a render context carries as `cspNonce`, if any.
 *
 * @param context the template data (eta's `it`, handlebars' `@root`, nunjucks' context vars)
 * @returns the nonce, or undefined
 * @example contextNonce({ cspNonce: 'abc' }) // 'abc'
 */
export function contextNonce(context: unknown): string | undefined {
  if (typeof context !== 'object' || context === null) return undefined;
  const nonce = (context as { cspNonce?: unknown }).cspNonce;
  return typeof nonce === 'string' && nonce !== '' ? nonce : undefined;
}
