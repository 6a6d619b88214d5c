/**
 * Every wait in the tests has a deadline, and its failure names what was awaited:
 * a test that would hang fails instead, saying what never happened.
 */
import type { EventEmitter } from 'node:events';

/** How long a wait lasts unless told otherwise: long enough for a loaded 2-core machine. */
export const WAIT_MS = 10_000;

/** A wait that ran out of time; the message names what was awaited. */
export class WaitTimeout extends Error {
  constructor(what: string, ms: number) {
    super(`timed out after ${ms} ms waiting for ${what}`);
    this.name = 'WaitTimeout';
  }
}

/**
 * Settle as `promise` does, or reject with a {@link WaitTimeout} after `ms`.
 *
 * @param promise what to wait for (an exit, an answer, an event)
 * @param ms the deadline
 * @param what what is awaited, for the message: "the daemon to exit"
 * @returns the promise's value
 * @example await withDeadline(once(child, 'exit'), 5000, 'the daemon to exit');
 */
export function withDeadline<T>(promise: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WaitTimeout(what, ms)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Options of {@link waitUntil}. */
export interface WaitOptions {
  /** Give up after this long. @default WAIT_MS */
  timeoutMs?: number;
  /** Ask again this often, without `wake`; 0: after each turn of the event loop (no timers). @default 20 */
  intervalMs?: number;
  /** Ask again each time this emitter emits this event, instead of on an interval. */
  wake?: [EventEmitter, string];
}

/**
 * Resolve with `check`'s value once it is truthy; reject with a {@link WaitTimeout}
 * naming `what` after `timeoutMs`. `check` runs again every `intervalMs`, or on each
 * `wake` event: for state only observable by asking (a server's subscriber count, a
 * child's output so far), never as a stand-in for an event that can be awaited.
 *
 * @param what what is awaited, for the message: "the poll to be parked"
 * @param check returns a truthy value when the wait is over
 * @returns `check`'s truthy value
 * @example await waitUntil('the banner', () => stdout.includes('CONTROL-C'), { wake: [child.stdout, 'data'] });
 */
export async function waitUntil<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = WAIT_MS, intervalMs = 20, wake }: WaitOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeout(what, timeoutMs);
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake?.[0].off(wake[1], done);
        resolve();
      };
      if (!wake && intervalMs === 0) {
        setImmediate(resolve);
        return;
      }
      const timer = setTimeout(done, wake ? left : Math.min(intervalMs, left));
      wake?.[0].on(wake[1], done);
    });
  }
}
