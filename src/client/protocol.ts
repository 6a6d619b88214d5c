/**
 * Where a subscriber is, as Nchan writes it. A long-poll's cursor is the id of the last
 * message received, sent back as `If-Modified-Since` + `If-None-Match` and read from
 * `Last-Modified` + `Etag`. Streams (EventSource, WebSocket) write the same id as
 * `time:tags`: `1796323864:0` for one channel, `1796323864:-,[0]` on a multiplexed
 * connection (one tag per channel of the URL, the message's own channel in brackets, `-`
 * for a channel with no message in that second yet).
 */

/** A message id as a long-poll answer writes it: its date and its tags. */
export interface Cursor {
  lastModified: string;
  etag: string;
}

/** The seed's first cursor: a fresh page gets the oldest message still buffered. */
export const FIRST_CURSOR: Cursor = Object.freeze({
  lastModified: 'Thu, 01 Jan 1970 00:00:00 GMT',
  etag: '0',
});

/** The request headers that ask for the first message after `cursor`. */
export function cursorHeaders(cursor: Cursor): Record<string, string> {
  return { 'If-Modified-Since': cursor.lastModified, 'If-None-Match': cursor.etag };
}

/**
 * The message id's tags: `Etag`, or py-hbpush's `Cache-Control: etag=<n>` when a
 * cross-origin daemon does not expose `Etag`.
 */
export function readEtag(headers: Headers): string | null {
  const etag = headers.get('Etag');
  if (etag !== null) return etag;
  const match = /(?:^|[,\s])etag=([^,\s]+)/i.exec(headers.get('Cache-Control') || '');
  return match ? match[1] : null;
}

/** How far one channel has been read: every message up to its id `(time, tag)` is seen. */
export interface Position {
  time: number;
  tag: number;
}

/** A message id read: its second, one tag per channel (-1 for `-`), the bracketed one. */
export interface MessageId {
  time: number;
  tags: number[];
  /** Index of the channel the message came from; 0 for a one-channel id. */
  source: number;
}

/**
 * Read `time:tags` (an EventSource `id:`, a WebSocket meta `id:`), or null when it is not
 * one (another server's ids are delivered without deduplication).
 *
 * @example parseMessageId('1796323864:-,[0]') // { time: 1796323864, tags: [-1, 0], source: 1 }
 */
export function parseMessageId(text: string | null | undefined): MessageId | null {
  if (!text) return null;
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return parseTags(text.slice(0, colon), text.slice(colon + 1));
}

/**
 * Read a long-poll answer's id: `Last-Modified` (the second) and the tags (`Etag`).
 *
 * @example idFromCursor({ lastModified: 'Sat, 04 Dec 2026 04:00:00 GMT', etag: '[1],0' })
 */
export function idFromCursor(cursor: Cursor): MessageId | null {
  const millis = Date.parse(cursor.lastModified);
  if (Number.isNaN(millis)) return null;
  return parseTags(String(Math.floor(millis / 1000)), cursor.etag);
}

function parseTags(timeText: string, tagsText: string): MessageId | null {
  if (!/^\d+$/.test(timeText)) return null;
  const tags: number[] = [];
  let source = -1;
  for (const part of tagsText.split(',')) {
    const match = /^(\[)?(-|\d+)(\])?$/.exec(part.trim());
    if (!match || Boolean(match[1]) !== Boolean(match[3])) return null;
    if (match[1]) {
      if (source !== -1) return null;
      source = tags.length;
    }
    tags.push(match[2] === '-' ? -1 : Number(match[2]));
  }
  if (source === -1) {
    if (tags.length !== 1) return null;
    source = 0;
  }
  return { time: Number(timeText), tags, source };
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePositions(a: Position, b: Position): number {
  return a.time !== b.time ? a.time - b.time : a.tag - b.tag;
}

/**
 * The id to resume a connection of these channels from, each at its own position: the
 * earliest second among them, each channel's tag where its position is in that second
 * and `-` (from that second on) elsewhere; Nchan takes a multi-channel id only with one
 * tag in brackets. What arrives twice is dropped by the channel.
 *
 * @returns `time:tags`, or null to start from the oldest buffered message (a channel
 *   never read, or no position at all)
 * @example resumeId([{ time: 5, tag: 2 }, { time: 7, tag: 0 }]) // '5:[2],-'
 */
export function resumeId(positions: readonly (Position | null)[]): string | null {
  if (positions.length === 0) return null;
  let time = Number.POSITIVE_INFINITY;
  for (const position of positions) {
    if (position === null || position.time <= 0) return null;
    time = Math.min(time, position.time);
  }
  const read = positions as readonly Position[];
  if (read.length === 1) return `${time}:${read[0].tag}`;
  const bracketed = read.findIndex((position) => position.time === time);
  const tags = read.map((position, index) => {
    if (position.time !== time) return '-';
    return index === bracketed ? `[${position.tag}]` : String(position.tag);
  });
  return `${time}:${tags.join(',')}`;
}

/** A long-poll cursor for the id `time:tags`: the second as an HTTP date, and the tags. */
export function cursorFromId(id: string): Cursor {
  const colon = id.indexOf(':');
  return {
    lastModified: new Date(Number(id.slice(0, colon)) * 1000).toUTCString(),
    etag: id.slice(colon + 1),
  };
}
