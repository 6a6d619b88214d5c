import { ChannelIdError, SettingsError } from '../errors.js';
import type { ResolvedLocation, ResolvedSettings } from '../settings/index.js';
import { getSettings } from '../settings/index.js';
import { channelIdProblem, MAX_CHANNELS } from './id.js';
import type { ReversedPath } from './location-pattern.js';
import { signedChannelQuery } from './signature.js';

/** How {@link channelUrl} and {@link multiplexTarget} build a URL. */
export interface ChannelUrlOptions {
  /**
   * Sign the channel id with the settings' `secret` (`?exp=…&sig=…`), for a subscriber
   * location with `signed: true`. @default false
   */
  signed?: boolean;
  /** Seconds a signed URL stays valid. @default no expiry */
  expiresIn?: number;
  /** @default the process-wide settings */
  settings?: ResolvedSettings;
}

/**
 * The absolute URL browsers subscribe to for `channelId`: the first subscriber
 * location reversed, on `subscriberHost`, `https` when that host is secure. Several
 * ids give one multiplexed URL ({@link multiChannelUrl}).
 *
 * @param channelId any non-empty string up to 1024 bytes; encoded as one path segment
 * @param options `signed`, `expiresIn`, `settings`; or the settings themselves
 * @throws ChannelIdError for an empty, over-long or non-string id, or one the location's pattern refuses
 * @throws SettingsError when `signed` is asked for and the settings have no `secret`
 * @example
 * channelUrl('room 1') // 'http://127.0.0.1:8001/subscriber/room%201'
 * channelUrl('user-7', { signed: true, expiresIn: 3600 })
 * // 'http://127.0.0.1:8001/subscriber/user-7?exp=1800003600&sig=Yx3…'
 */
export function channelUrl(
  channelId: string | readonly string[],
  options: ChannelUrlOptions | ResolvedSettings = {},
): string {
  const { settings, sign } = readOptions(options);
  if (Array.isArray(channelId)) return multiChannelUrl(channelId, settings) + sign(channelId);
  return locationUrl('subscriber', channelId as string, settings) + sign([channelId as string]);
}

/** The settings of `options`, and what to append to a URL of some channels (`?exp&sig` or ''). */
function readOptions(options: ChannelUrlOptions | ResolvedSettings): {
  settings: ResolvedSettings;
  sign: (channelIds: readonly string[]) => string;
} {
  if ('locations' in options && 'stores' in options) return { settings: options, sign: unsigned };
  const { signed, expiresIn, settings = getSettings() } = options as ChannelUrlOptions;
  if (signed !== true) return { settings, sign: unsigned };
  const secret = settings.secrets[0];
  if (secret === undefined) {
    throw new SettingsError(
      'secret',
      'is not set, and a signed channel URL needs it; set secret (at least 32 characters, e.g. from process.env.PUSHSERVER_SECRET) in the settings the app and the daemon share',
    );
  }
  return {
    settings,
    sign: (channelIds) => `?${signedChannelQuery(channelIds, secret, { expiresIn })}`,
  };
}

function unsigned(): string {
  return '';
}

/**
 * One URL for several channels, served on one connection (Nchan's multiplexed
 * channels): the first subscriber location with a `splitDelimiter` (by default
 * `/multi/`), the ids encoded one by one and joined with the delimiter. Each message's
 * id names the channel it came from (`1796323864:-,[0]` for the second of two).
 *
 * @param channelIds 1 to 255 ids; none may contain the delimiter
 * @param settings defaults to the process-wide settings
 * @throws ChannelIdError for a bad id, one holding the delimiter, no ids or more than
 *   255, or settings without a multiplexed location
 * @example multiChannelUrl(['news', 'room 1']) // 'http://127.0.0.1:8001/multi/news,room%201'
 */
export function multiChannelUrl(
  channelIds: readonly string[],
  settings: ResolvedSettings = getSettings(),
): string {
  const location = multiplexedLocation(settings);
  if (!location) {
    throw new ChannelIdError(
      'no subscriber location has a splitDelimiter; add one, e.g. {type: "subscriber", prefix: "/multi/", splitDelimiter: ","}',
    );
  }
  const delimiter = location.splitDelimiter as string;
  if (channelIds.length === 0 || channelIds.length > MAX_CHANNELS) {
    throw new ChannelIdError(
      `a multiplexed URL takes 1 to ${MAX_CHANNELS} channel ids, got ${channelIds.length}`,
    );
  }
  for (const id of channelIds) {
    const problem = channelIdProblem(id);
    if (problem) throw new ChannelIdError(problem);
    if (id.includes(delimiter)) {
      throw new ChannelIdError(
        `channel id ${JSON.stringify(id)} contains the delimiter ${JSON.stringify(delimiter)} of the location "${location.pattern.source}"`,
      );
    }
  }
  const path = location.pattern.reverse(channelIds.join(delimiter), delimiter);
  return origin(settings.subscriberHost) + path;
}

/**
 * Where one channel goes in the multiplexed URL of a page's channels, so a browser can
 * put any of them on one connection: {@link multiChannelUrl} of `ids` is
 * `prefix + segments.join(delimiter) + suffix`, each segment the `id` of its channel
 * (1 to 255 of them, as Nchan allows).
 *
 * @example
 * { prefix: 'http://127.0.0.1:8001/multi/', suffix: '', delimiter: ',', id: 'room%201' }
 */
export interface MultiplexTarget {
  /** The multiplexed location's URL up to the first id, e.g. `http://127.0.0.1:8001/multi/`. */
  prefix: string;
  /** The URL after the last id; `''` for a prefix location. */
  suffix: string;
  /** The location's `splitDelimiter`, between the ids. */
  delimiter: string;
  /** The channel id as the multiplexed URL writes it (percent-encoded). */
  id: string;
}

/**
 * The parts of the multiplexed URL for `channelId` ({@link MultiplexTarget}), built by the
 * location's own reverse as {@link multiChannelUrl} does, or null when the channel cannot
 * share a connection: no subscriber location has a `splitDelimiter`, the id holds the
 * delimiter, or the location's pattern refuses the id or would not split two of it
 * joined back into the two.
 *
 * @param channelId any non-empty string up to 1024 bytes
 * @param settings defaults to the process-wide settings
 * @returns `{prefix, suffix, delimiter, id}`, or null
 * @throws ChannelIdError for an empty, over-long or non-string id
 * @example
 * multiplexTarget('room 1')
 * // { prefix: 'http://127.0.0.1:8001/multi/', suffix: '', delimiter: ',', id: 'room%201' }
 */
export function multiplexTarget(
  channelId: string,
  options: ChannelUrlOptions | ResolvedSettings = {},
): MultiplexTarget | null {
  return multiplexTargets([channelId], options)[0];
}

/**
 * {@link multiplexTarget} of each of a page's channels. Signed, they share one `suffix`
 * that carries the signatures of them all (`?exp=…&sig=a,b,c`), so that the browser
 * client, which groups channels by prefix and suffix, follows them on one connection;
 * every channel of a multiplexed URL needs its own signature in that list.
 *
 * @param channelIds the page's channel ids
 * @param options `signed`, `expiresIn`, `settings`; or the settings themselves
 * @returns the target of each id, in order (null where it cannot share a connection)
 * @throws ChannelIdError for an empty, over-long or non-string id
 * @throws SettingsError when `signed` is asked for and the settings have no `secret`
 * @example multiplexTargets(['a', 'b'], { signed: true })[1]?.suffix // '?sig=…,…'
 */
export function multiplexTargets(
  channelIds: readonly string[],
  options: ChannelUrlOptions | ResolvedSettings = {},
): Array<MultiplexTarget | null> {
  const { settings, sign } = readOptions(options);
  const targets = channelIds.map((id) => unsignedTarget(id, settings));
  const shared = channelIds.filter((_, i) => targets[i] !== null);
  const query = shared.length === 0 ? '' : sign(shared);
  return targets.map((target) => target && { ...target, suffix: target.suffix + query });
}

function unsignedTarget(channelId: string, settings: ResolvedSettings): MultiplexTarget | null {
  const problem = channelIdProblem(channelId);
  if (problem) throw new ChannelIdError(problem);
  const location = multiplexedLocation(settings);
  if (!location) return null;
  const delimiter = location.splitDelimiter as string;
  if (channelId.includes(delimiter)) return null;
  const { pattern } = location;
  let parts: ReversedPath;
  let joined: string;
  try {
    parts = pattern.reverseParts(channelId, delimiter);
    joined = pattern.reverse(channelId + delimiter + channelId, delimiter);
  } catch (error) {
    // The location's capture group refuses the id, or a list of ids (`([^,]+)`).
    if (error instanceof ChannelIdError) return null;
    throw error;
  }
  const { before, channel, after } = parts;
  // An id ending in part of a longer delimiter (`x,` with `,,`) would be split elsewhere.
  if (joined !== before + channel + delimiter + channel + after) return null;
  return {
    prefix: origin(settings.subscriberHost) + before,
    suffix: after,
    delimiter,
    id: channel,
  };
}

/** The first subscriber location with a `splitDelimiter`, the one multiplexed URLs use. */
function multiplexedLocation(settings: ResolvedSettings): ResolvedLocation | undefined {
  return settings.locations.find(
    (candidate) => candidate.type === 'subscriber' && candidate.splitDelimiter !== null,
  );
}

/** `http(s)://host:port` of a host setting. */
function origin(host: ResolvedSettings['subscriberHost']): string {
  return `${host.secure ? 'https' : 'http'}://${host.location}`;
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
  return origin(host) + location.pattern.reverse(channelId);
}
