import { EventEmitter } from 'node:events';

/**
 * Events an app can listen to, as django-pushserver's signals:
 * `preSendUpdate` / `postSendUpdate` around every publish, and (with
 * `pushserver/express`'s passthrough receiver) `channelSubscribe` /
 * `channelUnsubscribe` when a browser starts or stops waiting on a channel.
 *
 * Listeners run in registration order; one that throws is reported on stderr and
 * does not stop the others (Django's `send_robust`).
 *
 * @example signals.on('postSendUpdate', ({ channelId, response }) => log(channelId, response?.status));
 */
export const signals = new EventEmitter();

/**
 * Call every listener of `event` with `payload`, each in its own try/catch.
 * A listener's returned promise is awaited for its rejection only, never waited on.
 */
export function emitRobust(event: string, payload: unknown): void {
  for (const listener of signals.listeners(event)) {
    try {
      const result = (listener as (value: unknown) => unknown)(payload);
      if (result instanceof Promise) result.catch((error) => reportListenerError(event, error));
    } catch (error) {
      reportListenerError(event, error);
    }
  }
}

function reportListenerError(event: string, error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  console.error(`pushserver: a "${event}" listener failed: ${message}`);
}
