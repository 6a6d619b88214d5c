/**
 * The public `updates` object: `window.pushserver.updates`, and `$.updates` on a page
 * with jQuery. The seed's `subscribe` and `registerProcessor`, plus `unsubscribe`, events,
 * channel states and the poll timing.
 */
import { Channel, channels, cursors, TERMINAL_STATES } from './channel.js';
import { EVENT_TYPES, type EventType, type Listener, listeners } from './events.js';
import { configure } from './options.js';
import { registerProcessor } from './processors.js';
import { FIRST_CURSOR } from './protocol.js';
import type { Processor, Updates } from './types.js';

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
      const url = channelsByName[name];
      if (!url) continue;
      if (typeof url !== 'string') {
        throw new TypeError(`pushserver: the URL of channel "${name}" must be a string`);
      }
      const existing = channels.get(name);
      if (existing && !TERMINAL_STATES.includes(existing.state)) continue;
      const known = cursors.get(name);
      const cursor = known && known.url === url ? known.cursor : FIRST_CURSOR;
      const channel = new Channel(name, url, cursor);
      channels.set(name, channel);
      channel.start();
    }
  },

  unsubscribe(name) {
    const channel = channels.get(name);
    if (!channel) return false;
    channels.delete(name);
    channel.stop('closed');
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

  configure,
};
