/**
 * The `update`, `error` and `state` listeners, and the queue that holds updates and events
 * back until the document has loaded, so processors and listeners registered by later
 * scripts see a channel's whole history in order.
 */
import { global } from './global.js';
import type { UpdatesEventMap } from './types.js';

/** `update`, `error` or `state`. */
export type EventType = keyof UpdatesEventMap;
/** A listener of events of type `K`. */
export type Listener<K extends EventType> = (event: UpdatesEventMap[K]) => void;

/** The event types `updates.on()` accepts, in the order its error message lists them. */
export const EVENT_TYPES: readonly EventType[] = ['update', 'error', 'state'];

/** type -> listeners, in the order they were added. */
export const listeners: { [K in EventType]: Listener<K>[] } = { update: [], error: [], state: [] };

const readyQueue: (() => void)[] = [];

/** Run `callback` now, or at DOMContentLoaded while the document is still loading. */
export function whenDocumentReady(callback: () => void): void {
  if (global.document && global.document.readyState === 'loading') {
    readyQueue.push(callback);
  } else {
    callback();
  }
}

/** Run what waited for the document, in order. */
export function flushReadyQueue(): void {
  while (readyQueue.length > 0) readyQueue.shift()!();
}

/** Emit `event` to the `type` listeners once the document is ready. */
export function emit<K extends EventType>(type: K, event: UpdatesEventMap[K]): void {
  whenDocumentReady(() => emitNow(type, event));
}

/** Emit `event` to the `type` listeners now; one that throws is reported, the others run. */
export function emitNow<K extends EventType>(type: K, event: UpdatesEventMap[K]): void {
  const list = listeners[type] as Listener<K>[];
  for (const listener of list.slice()) {
    try {
      listener(event);
    } catch (error) {
      reportException(error);
    }
  }
}

/** Hand a listener's or a processor's exception to the page (`reportError`, or the console). */
export function reportException(error: unknown): void {
  if (typeof global.reportError === 'function') {
    global.reportError(error);
  } else if (global.console) {
    global.console.error(error);
  }
}

/** `console.warn`, where there is one. */
export function warn(message: string): void {
  if (global.console && typeof global.console.warn === 'function') global.console.warn(message);
}

/** `console.error`, where there is one: for what the page's author must fix. */
export function logError(message: string): void {
  if (global.console && typeof global.console.error === 'function') global.console.error(message);
}
