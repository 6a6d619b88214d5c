import { ChannelIdError } from '../errors.js';
import type { ResolvedSettings } from '../settings/index.js';
import { getSettings } from '../settings/index.js';

/**
 * The absolute URL browsers subscribe to for `channelId`: the first subscriber
 * location reversed, on `subscriberHost`, `https` when that host is secure.
 *
 * @param channelId any non-empty string up to 1024 bytes; encoded as one path segment
 * @param settings defaults to the process-wide settings
 * @throws ChannelIdError for an empty, over-long or non-string id, or one the location's pattern refuses
 * @example channelUrl('room 1') // 'http://127.0.0.1:8001/subscriber/room%201'
 */
export function channelUrl(channelId: string, settings: ResolvedSettings = getSettings()): string {
  return locationUrl('subscriber', channelId, settings);
}

/**
 * The absolute URL the app publishes to for `channelId`: the first publisher location
 * reversed, on `publisherHost`.
 *
 * @throws ChannelIdError as {@link channelUrl}
 * @example publisherUrl('room 1') // 'http://127.0.0.1:8001/publisher/room%201'
 */
export function publisherUrl(
  channelId: string,
  settings: ResolvedSettings = getSettings(),
): string {
  return locationUrl('publisher', channelId, settings);
}

function locationUrl(
  type: 'publisher' | 'subscriber',
  channelId: string,
  settings: ResolvedSettings,
): string {
  const location = settings.locations.find((candidate) => candidate.type === type);
  // resolveSettings guarantees one of each; this guards hand-built settings objects.
  if (!location) throw new ChannelIdError(`no ${type} location is configured`);
  const host = type === 'publisher' ? settings.publisherHost : settings.subscriberHost;
  return `${host.secure ? 'https' : 'http'}://${host.location}${location.pattern.reverse(channelId)}`;
}
