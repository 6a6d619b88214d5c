/**
 * The poll timing (`updates.configure()`), and the capped exponential backoff after
 * failures computed from it.
 */
import type { UpdatesOptions } from './types.js';

/** The options in use; changed only through {@link configure}. */
export const options: UpdatesOptions = {
  retryDelay: 1000,
  maxRetryDelay: 30000,
  jitter: 0.2,
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
