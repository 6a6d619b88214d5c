/**
 * The public `updates` object: `window.pushserver.updates`, and `$.updates` on a page
 * with jQuery. The seed's `subscribe` and `registerProcessor`, plus `unsubscribe`, events,
 * channel states and transports, and the options.
 */
import { Channel, channels, resumes, TERMINAL_STATES } from './channel.js';
import { restartAll, schedulePlan } from './connection.js';
import { EVENT_TYPES, type EventType, type Listener, listeners } from './events.js';
import { applyOptions, options } from './options.js';
import { registerProcessor } from './processors.js';
import { type Position, parseMessageId } from './protocol.js';
import type { Multiplex, Processor, Updates } from './types.js';

/**
 * The client's API (see {@link Updates} for each call).
 *
 * @example updates.subscribe({ room: 'http://127.0.0.1:8001/subscriber/lobby' });
 */
export const updates: Updates = {
  subscribe(channelsByName) {
    if (channelsByName === null || typeof channelsByName !== 'object') {
      throw new TypeError('pushserver: updates.subscribe() takes an object {name: channelUrl}');
    }
    for (const name of Object.keys(channelsByName)) {
      const spec = channelsByName[name];
      if (!spec) continue;
      const { url, multiplex, after } = readSpec(name, spec);
      const existing = channels.get(name);
      if (existing && !TERMINAL_STATES.includes(existing.state)) continue;
      const known = resumes.get(name);
      channels.set(
        name,
        new Channel(name, url, multiplex, known && known.url === url ? known : null, after),
      );
    }
    schedulePlan();
  },

  unsubscribe(name) {
    const channel = channels.get(name);
    if (!channel) return false;
    channels.delete(name);
    channel.setState('closed', null);
    schedulePlan();
    return true;
  },

  registerProcessor(name, type, processor) {
    registerProcessor(name, type, processor as Processor<unknown>);
  },

  on(type, listener) {
    if (!EVENT_TYPES.includes(type)) {
      throw new TypeError(
        `pushserver: unknown event "${type}"; use one of ${EVENT_TYPES.join(', ')}`,
      );
    }
    if (typeof listener !== 'function') {
      throw new TypeError(`pushserver: updates.on("${type}", ...) needs a function`);
    }
    (listeners[type] as Listener<typeof type>[]).push(listener);
    return () => updates.off(type, listener);
  },

  off(type, listener) {
    if (!EVENT_TYPES.includes(type as EventType)) return;
    const list = listeners[type] as Listener<typeof type>[];
    const index = list.indexOf(listener);
    if (index !== -1) list.splice(index, 1);
  },

  state(name) {
    const channel = channels.get(name);
    return channel ? (channel.state as ReturnType<Updates['state']>) : undefined;
  },

  transport(name) {
    const channel = channels.get(name);
    return channel ? channel.transport : null;
  },

  configure(changes) {
    if (applyOptions(changes)) restartAll();
    return Object.assign({}, options, { eventNames: options.eventNames.slice() });
  },
};

interface Spec {
  url: string;
  multiplex: Multiplex | null;
  /** Where the channel starts (the render's `after`), or null: from the oldest. */
  after: Position | null;
}

/** A channel's URL, multiplexed place and start from what `subscribe` was given. */
function readSpec(name: string, spec: unknown): Spec {
  if (typeof spec === 'string') return { url: spec, multiplex: null, after: null };
  const given = spec as { url?: unknown; multiplex?: unknown; after?: unknown };
  if (typeof spec !== 'object' || typeof given.url !== 'string') {
    throw new TypeError(
      `pushserver: channel "${name}" must be a URL string or {url, multiplex} as the helpers render it`,
    );
  }
  const after = readAfter(name, given.after);
  const multiplex = given.multiplex as Record<string, unknown> | null | undefined;
  if (multiplex === undefined || multiplex === null) {
    return { url: given.url, multiplex: null, after };
  }
  for (const key of ['prefix', 'suffix', 'delimiter', 'id']) {
    if (typeof multiplex[key] !== 'string') {
      throw new TypeError(`pushserver: channel "${name}": multiplex.${key} must be a string`);
    }
  }
  return { url: given.url, multiplex: multiplex as unknown as Multiplex, after };
}

/** A spec's `after` (`time:tag` or `time:-`) as a position. */
function readAfter(name: string, after: unknown): Position | null {
  if (after === undefined || after === null) return null;
  const id = typeof after === 'string' ? parseMessageId(after) : null;
  if (id === null || id.tags.length !== 1) {
    throw new TypeError(
      `pushserver: channel "${name}": after must be a message id "time:tag" or "time:-", e.g. "1796323864:0"; got ${JSON.stringify(after)}`,
    );
  }
  return { time: id.time, tag: id.tags[0] };
}
