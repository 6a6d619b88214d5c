/**
 * The client's options (`updates.configure()`): the transport, whether channels share a
 * multiplexed connection, and the timing; and the delays computed from them: the capped
 * exponential backoff after failures, and the least time between two requests.
 */
import type { Transport, UpdatesOptions } from './types.js';

/** The options in use; changed only through {@link configure}. */
export const options: UpdatesOptions = {
  retryDelay: 1000,
  maxRetryDelay: 30000,
  jitter: 0.2,
  // The seed's client waits 1 s after an error answer (408 among them); Nchan's own client
  // waits its reconnectTimeout, 1 s, after a 304.
  minPollInterval: 1000,
  transport: 'auto',
  multiplex: true,
  eventNames: [],
};

/** What `transport` takes. */
const TRANSPORTS: readonly (Transport | 'auto')[] = [
  'auto',
  'eventsource',
  'websocket',
  'longpoll',
];

/**
 * Apply `changes` to the options: each key must be an option; `transport` one of
 * {@link TRANSPORTS}, `multiplex` a boolean, `eventNames` a list of names, the others
 * numbers >= 0. Nothing is applied when one is wrong.
 *
 * @returns whether `transport`, `multiplex` or `eventNames` changed (the connections must be re-made)
 */
export function applyOptions(changes: Partial<UpdatesOptions> | null | undefined): boolean {
  const given = (changes || {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.keys(options).includes(key)) {
      throw new TypeError(`pushserver: "${key}" is not an updates option`);
    }
    const value = given[key];
    if (key === 'transport') {
      if (!TRANSPORTS.includes(value as Transport)) {
        throw new TypeError(
          `pushserver: updates option "transport" must be one of ${TRANSPORTS.join(', ')}`,
        );
      }
    } else if (key === 'multiplex') {
      if (typeof value !== 'boolean') {
        throw new TypeError('pushserver: updates option "multiplex" must be true or false');
      }
    } else if (key === 'eventNames') {
      if (
        !Array.isArray(value) ||
        !value.every((name) => typeof name === 'string' && /^[^\r\n]+$/.test(name))
      ) {
        throw new TypeError(
          'pushserver: updates option "eventNames" must be a list of event names, e.g. ["alert"]',
        );
      }
    } else if (typeof value !== 'number' || !(value >= 0)) {
      throw new TypeError(`pushserver: updates option "${key}" must be a number >= 0`);
    }
  }
  const connectionOptions = () =>
    `${options.transport} ${options.multiplex} ${JSON.stringify(options.eventNames)}`;
  const before = connectionOptions();
  Object.assign(options, given);
  // A copy: the page's own array may change later.
  options.eventNames = options.eventNames.slice();
  return connectionOptions() !== before;
}

/**
 * Capped exponential backoff with jitter after `failures` failures in a row: about 1 s,
 * 2 s, 4 s ... up to `maxRetryDelay` (each within ±`jitter`), never below 0.
 */
export function retryDelay(failures: number): number {
  const base = Math.min(options.maxRetryDelay, options.retryDelay * 2 ** Math.min(failures, 30));
  const spread = 1 + options.jitter * (2 * Math.random() - 1);
  return Math.max(0, Math.round(base * spread));
}

/**
 * Milliseconds still to wait before a poll may start, when the last one started at
 * `startedAt` (a `performance.now()` time): 0 once `minPollInterval` has passed.
 */
export function pollWait(startedAt: number): number {
  const elapsed = now() - startedAt;
  return Math.max(
    0,
    Math.min(options.minPollInterval, Math.ceil(options.minPollInterval - elapsed)),
  );
}

/** A monotonic clock in milliseconds: the wall clock may jump. */
export function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
