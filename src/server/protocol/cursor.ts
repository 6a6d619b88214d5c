/**
 * A subscriber's cursor, the id of the last message it has, read from
 * `If-Modified-Since` + `If-None-Match` as leniently as Nchan reads them.
 *
 * @module
 */
import type { MessageId } from '../store/types.js';
import { parseHttpDate } from './dates.js';

/** Nchan's `Vary` on subscriber answers (in Nchan's order). */
export const VARY = 'If-None-Match, If-Modified-Since';

/** What a subscriber's cache headers say: a cursor (or null: from the oldest), or a 400. */
export type CursorResult = MessageId | null | 'invalid';

let lastImsText: string | undefined;
let lastImsSeconds = Number.NaN;

/**
 * Read `If-Modified-Since` + `If-None-Match` the way Nchan does: a garbage or 1970
 * date means "from the oldest"; the Etag is read like C's `atoi` after dropping a
 * `W/` prefix and quotes (garbage → 0, empty → 0); a valid date without
 * `If-None-Match` is invalid (Nchan answers 400 `Message ID invalid`).
 *
 * @param ims the `If-Modified-Since` header, if any
 * @param inm the `If-None-Match` header, if any
 * @param into an id object to fill in and return instead of a new one (a kept-alive
 *   connection's polls reuse one, so a parked poll allocates nothing that outlives it)
 * @returns the cursor, `null` for "from the oldest", or `'invalid'`
 * @example parseCursor('Sat, 28 Nov 2026 01:21:19 GMT', 'W/"1"') // { time: 1795828879, tag: 1 }
 */
export function parseCursor(
  ims: string | undefined,
  inm: string | undefined,
  into?: { time: number; tag: number },
): CursorResult {
  if (ims === undefined) return null;
  // Subscribers of one channel send the same date over and over: remember the last one.
  if (ims !== lastImsText) {
    lastImsSeconds = parseHttpDate(ims);
    lastImsText = ims;
  }
  const time = lastImsSeconds;
  if (!(time > 0)) return null;
  if (inm === undefined) return 'invalid';
  if (into === undefined) return { time, tag: parseEtag(inm) };
  into.time = time;
  into.tag = parseEtag(inm);
  return into;
}

/** C `atoi` over an Etag with `W/` and quotes removed. */
export function parseEtag(text: string): number {
  let i = 0;
  while (text.charCodeAt(i) === 32) i++;
  if (text.startsWith('W/', i)) i += 2;
  if (text.charCodeAt(i) === 34) i++;
  let sign = 1;
  if (text[i] === '-' || text[i] === '+') {
    if (text[i] === '-') sign = -1;
    i++;
  }
  let value = 0;
  for (; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
    if (value > Number.MAX_SAFE_INTEGER / 10) break;
  }
  return sign * value;
}
