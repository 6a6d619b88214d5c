/**
 * Channel ids: every rule about what a channel id may be, for the helpers that build
 * URLs (encode) and for the daemon that reads them from request paths (decode, check).
 * Nchan is the reference: ids are any UTF-8 text up to 1024 bytes.
 *
 * @module
 */
import { ChannelIdError, describeValue } from '../errors.js';

/** Nchan refuses channel ids longer than this many bytes (UTF-8, decoded). */
export const MAX_CHANNEL_ID_BYTES = 1024;

/** Most channels one multiplexed request may name (Nchan answers 403 beyond). */
export const MAX_CHANNELS = 255;

/**
 * What is wrong with a channel id given by app code or a template, in words a template
 * author can act on, or undefined when it is usable.
 *
 * @param channelId the value given
 * @returns the problem, e.g. `the channel id is an empty string`
 * @example channelIdProblem(42) // 'the channel id must be a string, got number 42'
 */
export function channelIdProblem(channelId: unknown): string | undefined {
  if (typeof channelId !== 'string') {
    return `the channel id must be a string, got ${describeValue(channelId)}`;
  }
  if (channelId === '') return 'the channel id is an empty string';
  const bytes = Buffer.byteLength(channelId, 'utf8');
  if (bytes > MAX_CHANNEL_ID_BYTES) {
    return `the channel id is ${bytes} bytes long; the limit is ${MAX_CHANNEL_ID_BYTES} bytes`;
  }
  return undefined;
}

/**
 * Check a channel id and encode it as one path segment.
 *
 * @param channelId what app code or a template gave
 * @returns the percent-encoded id
 * @throws ChannelIdError for a non-string, empty or over-long (> 1024 bytes) id
 * @example encodeChannelId("it's a b") // 'it%27s%20a%20b'
 */
export function encodeChannelId(channelId: unknown): string {
  const problem = channelIdProblem(channelId);
  if (problem !== undefined) throw new ChannelIdError(problem);
  // encodeURIComponent keeps the apostrophe; %27 makes the URL the same text whether
  // or not a template escapes it (HTML attribute, escapejs), and decodes to the same id.
  return encodeURIComponent(channelId as string).replace(/'/g, '%27');
}

/** Why the daemon refuses a channel id read from a request path, with Nchan's status. */
export interface PathChannelProblem {
  status: 400 | 403;
  /** One line for a plain-text body; empty for Nchan's empty 403. */
  text: string;
}

const MALFORMED: PathChannelProblem = {
  status: 400,
  text: 'Bad Request: malformed percent-encoding in the channel id',
};
const NUL: PathChannelProblem = { status: 400, text: 'Bad Request: NUL in the channel id' };

/**
 * Decode the channel id part of a request path.
 *
 * @param encoded the id as it stands in the path (percent-encoded)
 * @returns the id, or why it cannot be one (a malformed escape such as `%zz`, a NUL)
 * @example decodePathChannelId('a%20b') // 'a b'
 */
export function decodePathChannelId(encoded: string): string | PathChannelProblem {
  let channel: string;
  try {
    channel = decodeURIComponent(encoded);
  } catch {
    return MALFORMED;
  }
  return channel.includes('\0') ? NUL : channel;
}

/**
 * Whether a decoded channel id is over 1024 UTF-8 bytes, which Nchan refuses with an
 * empty 403 (on a subscriber and a publisher location alike).
 *
 * @example isTooLong('x'.repeat(1025)) // true
 */
export function isTooLong(channel: string): boolean {
  // Every UTF-16 unit is at most 3 bytes: short ids need no counting.
  return (
    channel.length > MAX_CHANNEL_ID_BYTES / 3 && Buffer.byteLength(channel) > MAX_CHANNEL_ID_BYTES
  );
}
