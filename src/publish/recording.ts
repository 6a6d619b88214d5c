/**
 * The publisher's test double: records each publish instead of sending it.
 *
 * @module
 */
import { publisherUrl } from '../channel/urls.js';
import { getSettings, type ResolvedSettings } from '../settings/index.js';
import type { Publisher, SendUpdateOptions } from './types.js';

/** One call recorded by {@link createRecordingPublisher}. */
export interface RecordedUpdate {
  channelId: string;
  data: unknown;
  options: SendUpdateOptions;
  /** The URL it would have been posted to. */
  url: string;
}

/** A publisher that records instead of sending. */
export interface RecordingPublisher extends Publisher {
  /** Every call, oldest first. */
  readonly updates: RecordedUpdate[];
  /** The `data` of the calls for one channel, oldest first. */
  dataFor(channelId: string): unknown[];
  /** Forget what was recorded. */
  clear(): void;
}

/**
 * A test double: records each `sendUpdate` instead of talking to a daemon, and
 * answers like a daemon with no subscriber (`queued`). URLs are still built, so a
 * bad channel id fails as it would for real.
 *
 * @param options `delivered: true` answers as if a subscriber was waiting
 * @example
 * const recorder = createRecordingPublisher();
 * const restore = setDefaultPublisher(recorder);
 * await app.handleOrder();
 * assert.deepEqual(recorder.dataFor('orders'), [{ type: 'created', id: 1 }]);
 * restore();
 */
export function createRecordingPublisher(
  options: { delivered?: boolean; settings?: ResolvedSettings } = {},
): RecordingPublisher {
  const updates: RecordedUpdate[] = [];
  return {
    updates,
    async sendUpdate(channelId, data, callOptions = {}) {
      const url = publisherUrl(channelId, options.settings ?? getSettings());
      updates.push({ channelId, data, options: callOptions, url });
      const delivered = options.delivered ?? false;
      return { ok: true, delivered, queued: !delivered, status: delivered ? 201 : 202, url };
    },
    dataFor: (channelId) =>
      updates.filter((update) => update.channelId === channelId).map((update) => update.data),
    clear() {
      updates.length = 0;
    },
    close() {},
  };
}
