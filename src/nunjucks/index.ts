/**
 * pushserver/nunjucks: the template helpers for nunjucks, installed on the app's own
 * environment (nunjucks is a peer dependency; nothing here imports it).
 *
 * @example
 * import nunjucks from 'nunjucks';
 * import { install } from 'pushserver/nunjucks';
 * install(nunjucks.configure('views', { autoescape: true }));
 */
import { escapejs } from '../escape.js';
import {
  helperSettings,
  helperSnippetOptions,
  mergeChannels,
  type SubscriptionChannels,
  type SubscriptionSnippetOptions,
  streamFromSnippet,
  subscriptionSnippet,
  type TemplateChannelUrlOptions,
  type TemplateHelperOptions,
  templateChannelUrl,
} from '../snippet.js';
import { setStreamRenderer } from '../stream/broadcast.js';

/** The parts of a nunjucks `Environment` the helpers use. */
export interface NunjucksEnvironment {
  addExtension(name: string, extension: unknown): unknown;
  addFilter(name: string, filter: (...args: never[]) => unknown): unknown;
  addGlobal(name: string, value: unknown): unknown;
  getFilter(name: string): (...args: never[]) => unknown;
  render(
    name: string,
    context: object,
    callback: (error: Error | null, html: string | null) => void,
  ): unknown;
}

/** A nunjucks render context as extensions and called globals see it. */
interface NunjucksContext {
  ctx: Record<string, unknown>;
}

/**
 * Defaults for the snippet: `src`, `jquery`, `mode`, `multiplex`, `settings`; they win over the Express
 * middleware's.
 */
export type NunjucksHelperOptions = TemplateHelperOptions;

type Keywords = Record<string, unknown> & { __keywords?: true };

/**
 * Add the pushserver helpers to a nunjucks environment:
 * - tag `{% channel_url expr %}`: the channel's subscriber URL (`signed=true`,
 *   `expiresIn=3600` sign it for a location with `signed: true`);
 * - filter `escapejs` (Django's), so `{% filter escapejs %}{% channel_url "id" %}{% endfilter %}` works;
 * - global `channelUrl(id)`;
 * - tag `{% pushserver_subscribe main_channel="id" %}` and global
 *   `pushserverSubscribe({main_channel: "id"})`: the client script and its subscription,
 *   with the nonce taken from `cspNonce` in the render context. A string is always a
 *   channel id, even one that looks like a URL; a full URL is `feed={url: "https://…"}`;
 * - tag `{% stream_from "room-1" %}` (more ids after a comma, snippet options as keywords)
 *   and global `pushserverStreamFrom("room-1")`: the client and a subscription to those
 *   channels whose live HTML (`broadcast`) the client applies by itself.
 *
 * It also makes `env` the renderer of `broadcast` (`env.render(template, data)`).
 *
 * The snippet options are, each over the one before: those given to the Express
 * middleware `pushserver(options)` (found in the render data), `options` here, and a
 * second argument of the call (`pushserverSubscribe({a: "x"}, {mode: "data"})`).
 *
 * Output is marked safe through the environment's own `safe` filter, so it is the same
 * with autoescape on or off, and the tags follow the environment's delimiters.
 *
 * @param env the app's `nunjucks.Environment`
 * @param options snippet defaults: `src`, `jquery`, `mode`, `multiplex`, `settings`; unset keys come
 * from the Express middleware's options
 * @returns `env`, for chaining
 * @example
 * install(env, { mode: 'data' });
 * // {% pushserver_subscribe main_channel="room-" ~ room.id %}
 */
export function install<Env extends NunjucksEnvironment>(
  env: Env,
  options: NunjucksHelperOptions = {},
): Env {
  const safe = env.getFilter('safe') as (html: string) => unknown;
  // nunjucks' SafeString (from `| safe`, macros) is a String object; ids are its text.
  const unwrap = (value: unknown) => (value instanceof String ? String(value) : value);
  const url = (
    context: NunjucksContext | undefined,
    id: unknown,
    helper: string,
    signing?: TemplateChannelUrlOptions,
  ) => safe(templateChannelUrl(unwrap(id), helper, helperSettings(context?.ctx, options), signing));
  const subscribe = (
    context: NunjucksContext,
    channels: unknown,
    callOptions: SubscriptionSnippetOptions | undefined,
    helper: string,
  ) =>
    safe(
      subscriptionSnippet(
        channels as SubscriptionChannels,
        helperSnippetOptions(context.ctx, options, callOptions, helper),
      ),
    );

  const streamFrom = (
    context: NunjucksContext,
    channelIds: unknown[],
    callOptions: SubscriptionSnippetOptions | undefined,
    helper: string,
  ) =>
    safe(
      streamFromSnippet(
        channelIds.map(unwrap),
        helperSnippetOptions(context.ctx, options, callOptions, helper),
      ),
    );

  env.addExtension(
    'pushserverChannelUrl',
    tagExtension('channel_url', (context, args) => {
      const keywords = isKeywords(args.at(-1)) ? (args.pop() as Keywords) : undefined;
      if (args.length !== 1) {
        throw new TypeError(
          `{% channel_url %} takes exactly one channel id, e.g. {% channel_url "room-1" %}; got ${args.length} arguments`,
        );
      }
      const { __keywords, ...signing } = keywords ?? {};
      return url(context, args[0], '{% channel_url %}', signing);
    }),
  );
  env.addExtension(
    'pushserverSubscribe',
    tagExtension('pushserver_subscribe', (context, args) => {
      const keywords = isKeywords(args.at(-1)) ? (args.pop() as Keywords) : undefined;
      const [positional, callOptions] = args as [unknown, SubscriptionSnippetOptions?];
      const { __keywords, ...named } = keywords ?? {};
      const helper = '{% pushserver_subscribe %}';
      const unwrapped = Object.fromEntries(
        Object.entries(named).map(([name, value]) => [name, unwrap(value)]),
      );
      return subscribe(context, mergeChannels(positional, unwrapped, helper), callOptions, helper);
    }),
  );
  env.addExtension(
    'pushserverStreamFrom',
    tagExtension('stream_from', (context, args) => {
      const keywords = isKeywords(args.at(-1)) ? (args.pop() as Keywords) : undefined;
      const { __keywords, ...callOptions } = keywords ?? {};
      return streamFrom(context, args, callOptions, '{% stream_from %}');
    }),
  );
  env.addFilter('escapejs', (value: unknown) => safe(escapejs(value)));
  env.addGlobal(
    'channelUrl',
    function (this: NunjucksContext, id: unknown, signing?: TemplateChannelUrlOptions) {
      return url(this, id, 'channelUrl()', signing);
    },
  );
  env.addGlobal(
    'pushserverSubscribe',
    function (this: NunjucksContext, channels: unknown, callOptions?: SubscriptionSnippetOptions) {
      return subscribe(this, channels, callOptions, 'pushserverSubscribe()');
    },
  );
  env.addGlobal(
    'pushserverStreamFrom',
    function (
      this: NunjucksContext,
      channelIds: unknown,
      callOptions?: SubscriptionSnippetOptions,
    ) {
      return streamFrom(this, [channelIds], callOptions, 'pushserverStreamFrom()');
    },
  );
  setStreamRenderer(
    (template, data) =>
      new Promise<string>((resolve, reject) =>
        env.render(template, data, (error, html) => (error ? reject(error) : resolve(html ?? ''))),
      ),
  );
  return env;
}

function isKeywords(value: unknown): value is Keywords {
  return typeof value === 'object' && value !== null && (value as Keywords).__keywords === true;
}

/**
 * A nunjucks extension for one tag without a body whose arguments (any expressions,
 * keyword arguments last) are passed to `run` with the render context.
 */
function tagExtension(
  tag: string,
  run: (context: NunjucksContext, args: unknown[]) => unknown,
): object {
  return {
    tags: [tag],
    parse(parser: NunjucksParser, nodes: NunjucksNodes) {
      const token = parser.nextToken();
      const args = parser.parseSignature(null, true);
      parser.advanceAfterBlockEnd(token.value);
      return new nodes.CallExtension(this, 'run', args);
    },
    run: (context: NunjucksContext, ...args: unknown[]) => run(context, args),
  };
}

/** The undocumented parser API extensions use (nunjucks/src/parser.js). */
interface NunjucksParser {
  nextToken(): { value: string };
  parseSignature(tolerant: null, noParens: boolean): unknown;
  advanceAfterBlockEnd(name: string): void;
}

interface NunjucksNodes {
  CallExtension: new (extension: unknown, method: string, args: unknown) => unknown;
}
