/**
 * Broadcasting live HTML: render a partial with the app's own engine, wrap it as a Turbo
 * Stream action and publish it with `sendUpdate`, so the page that rendered the partial
 * the first time gets the same markup live.
 *
 * @module
 */
import { sendUpdate } from '../publish/publisher.js';
import type { Publisher, SendUpdateOptions, SendUpdateResult } from '../publish/types.js';
import {
  checkAction,
  type RenderedStreamAction,
  type StreamActionName,
  type StreamTarget,
  streamMarkup,
  TURBO_STREAM_CONTENT_TYPE,
} from './markup.js';

/**
 * Renders a template by name with data, as the app's engine does for its pages.
 *
 * @example const render: StreamRenderer = (name, data) => env.render(name, data);
 */
export type StreamRenderer = (
  template: string,
  data: Record<string, unknown>,
) => string | Promise<string>;

/**
 * One action of a broadcast: its content is `html` (rendered already) or `template`
 * rendered with `data`; `remove` has none.
 *
 * @example { action: 'append', target: 'messages', template: 'message.njk', data: { message } }
 */
export type StreamAction = StreamTarget & {
  action: StreamActionName;
  /** Markup used as is (trusted: the output of an engine with autoescape on). */
  html?: string;
  /** The partial to render with the renderer. */
  template?: string;
  /** The partial's data. @default {} */
  data?: Record<string, unknown>;
};

/** Options of {@link broadcast}: `sendUpdate`'s, a renderer and a publisher. */
export interface BroadcastOptions
  extends Omit<SendUpdateOptions, 'alreadySerialized' | 'contentType'> {
  /**
   * Renders `template` actions.
   * @default the renderer of the engine installed last (`install`, `registerHelpers`, `etaEngine`) or given to `setStreamRenderer`
   */
  render?: StreamRenderer;
  /**
   * Publishes the message (a recording double in tests).
   * @default the one `sendUpdate` uses
   */
  publisher?: Publisher;
}

let defaultRenderer: StreamRenderer | undefined;

/**
 * Set the renderer `broadcast` uses when a call gives none. Installing an engine's
 * helpers (`install(env)`, `registerHelpers(handlebars)`, `etaEngine(eta)`) sets it to
 * that engine; with Express, `setStreamRenderer(expressRenderer(app))` renders with
 * `app.render`.
 *
 * @param render the renderer, or undefined for none
 * @returns a function that restores the previous renderer
 * @example setStreamRenderer((name, data) => env.render(name, data));
 */
export function setStreamRenderer(render: StreamRenderer | undefined): () => void {
  const previous = defaultRenderer;
  defaultRenderer = render;
  return () => {
    defaultRenderer = previous;
  };
}

/**
 * Render `actions` into the body of one Turbo Stream message.
 *
 * @param actions one action or several, applied in order
 * @param render renders `template` actions @default the renderer set by {@link setStreamRenderer}
 * @returns the markup
 * @throws TypeError naming the action when it is unusable, or when a template needs a renderer and there is none
 * @example await renderStream({ action: 'remove', target: 'message-7' })
 */
export async function renderStream(
  actions: StreamAction | readonly StreamAction[],
  render: StreamRenderer | undefined = defaultRenderer,
): Promise<string> {
  const list = Array.isArray(actions) ? actions : [actions as StreamAction];
  const rendered: RenderedStreamAction[] = [];
  for (const [index, action] of list.entries()) {
    const where = `stream action ${index} (${JSON.stringify(action?.action)})`;
    checkAction(action, where);
    rendered.push({
      ...place(action),
      action: action.action,
      html: await contentOf(action, where, render),
    });
  }
  return streamMarkup(rendered);
}

/**
 * Publish live HTML to `channelId`: render each action's partial with the app's engine
 * and send them as one Turbo Stream message (`text/vnd.turbo-stream.html`). Pages
 * subscribed with the `stream_from` helper apply it with no script of their own, and so
 * does Turbo's `<turbo-stream-source>`. Signals, errors, `ignoreErrors` and the recording
 * double work as for `sendUpdate` (the double records the markup).
 *
 * @param channelId the channel, as given to `channelUrl`
 * @param actions one action or several, applied in order
 * @param options `sendUpdate`'s options, `render` and `publisher`
 * @returns what `sendUpdate` returns
 * @throws TypeError when an action is unusable (nothing is sent); PublishError as `sendUpdate`
 * @example
 * await broadcast('room-1', { action: 'append', target: 'messages', template: 'message.njk', data: { message } });
 */
export async function broadcast(
  channelId: string,
  actions: StreamAction | readonly StreamAction[],
  options: BroadcastOptions = {},
): Promise<SendUpdateResult> {
  const { render, publisher, ...sendOptions } = options;
  const body = await renderStream(actions, render ?? defaultRenderer);
  const send = publisher ? publisher.sendUpdate.bind(publisher) : sendUpdate;
  return send(channelId, body, {
    ...sendOptions,
    alreadySerialized: true,
    contentType: TURBO_STREAM_CONTENT_TYPE,
  });
}

function place(action: StreamTarget): StreamTarget {
  return action.target !== undefined
    ? { target: action.target }
    : { targets: action.targets as string };
}

async function contentOf(
  action: StreamAction,
  where: string,
  render: StreamRenderer | undefined,
): Promise<string | undefined> {
  const { html, template } = action;
  if (action.action === 'remove') {
    if (html !== undefined || template !== undefined) {
      throw new TypeError(`${where}: "remove" takes no content (neither html nor template)`);
    }
    return undefined;
  }
  if ((html === undefined) === (template === undefined)) {
    throw new TypeError(
      `${where}: give either html or template (with data), not ${html === undefined ? 'neither' : 'both'}`,
    );
  }
  if (html !== undefined) return html;
  if (typeof template !== 'string' || template === '') {
    throw new TypeError(`${where}: template must be a template name`);
  }
  if (!render) {
    throw new TypeError(
      `${where}: no renderer for template ${JSON.stringify(template)}; install an engine's helpers (install(env), registerHelpers(handlebars), etaEngine(eta)), call setStreamRenderer(expressRenderer(app)), or pass {render}`,
    );
  }
  const output = await render(template, action.data ?? {});
  if (typeof output !== 'string') {
    throw new TypeError(
      `${where}: the renderer returned ${typeof output} for ${JSON.stringify(template)}, not a string`,
    );
  }
  return output;
}
