/**
 * The processors registered per channel name and update type, and the delivery of one
 * update to them and then to the `update` listeners.
 */
import { emit, emitNow, reportException } from './events.js';
import { applyStream, isStreamUpdate } from './streams.js';
import type { Processor, UpdateEvent } from './types.js';

/** name -> Map(type -> processors), in registration order. */
const processors = new Map<string, Map<string, Processor<unknown>[]>>();

/** Add `processor` for updates of channel `name` whose `data.type` is `type`. */
export function registerProcessor(name: string, type: string, processor: Processor<unknown>): void {
  if (typeof processor !== 'function') {
    throw new TypeError(
      `pushserver: registerProcessor("${name}", "${type}", ...) needs a function as the processor`,
    );
  }
  let byType = processors.get(name);
  if (!byType) {
    byType = new Map();
    processors.set(name, byType);
  }
  const key = String(type);
  let list = byType.get(key);
  if (!list) {
    list = [];
    byType.set(key, list);
  }
  list.push(processor);
}

/**
 * Apply live HTML to the page, then run every processor of the update's type in
 * registration order, then the `update` listeners.
 */
export function deliver(update: UpdateEvent): void {
  const byType = processors.get(update.channel);
  const data = update.data;
  if (isStreamUpdate(data)) applyStream(data.html, update.channel, update.url);
  const type =
    data !== null && typeof data === 'object' ? (data as { type?: unknown }).type : undefined;
  const list = byType ? byType.get(String(type)) : undefined;
  for (const processor of list ? list.slice() : []) {
    try {
      processor(data);
    } catch (error) {
      // One broken processor must not starve the others or stop the loop.
      emit('error', {
        channel: update.channel,
        url: update.url,
        status: null,
        error,
        retryIn: null,
        fatal: false,
      });
      reportException(error);
    }
  }
  emitNow('update', update);
}
