/**
 * The poll timing (`updates.configure()`), and the delays computed from it: the capped
 * exponential backoff after failures, and the least time between two polls of a channel.
 */
import type { UpdatesOptions } from './types.js';

/** The options in use; changed only through {@link configure}. */
export const options: UpdatesOptions = {
  retryDelay: 1000,
  maxRetryDelay: 30000,
  jitter: 0.2,
  // The seed's client waits 1 s after an error answer (408 among them); Nchan's own client
  // waits its reconnectTimeout, 1 s, after a 304.
  minPollInterval: 1000,
};

/**
 * Apply `changes` to the options: each key must be an option and each value a number >= 0.
 *
 * @returns a copy of the options now in use
 */
export function configure(changes: Partial<UpdatesOptions> | null | undefined): UpdatesOptions {
  const given = (changes || {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!Object.keys(options).includes(key)) {
      throw new TypeError(`pushserver: "${key}" is not an updates option`);
    }
    const value = given[key];
    if (typeof value !== 'number' || !(value >= 0)) {
      throw new TypeError(`pushserver: updates option "${key}" must be a number >= 0`);
    }
    options[key as keyof UpdatesOptions] = value;
  }
  return Object.assign({}, options);
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
