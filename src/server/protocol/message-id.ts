/**
 * Nchan's message ids as subscribers see them, for one channel or several (a
 * multiplexed subscription): `time:tags`, one tag per channel of the request in its
 * order, the channel the message came from in brackets, `-` where a channel had no
 * message in that second (`1796323864:-,[0],-`). A long-poll's `Etag` is the tags
 * without `time:` and its `Last-Modified` the time. One channel: `1796323864:0`.
 *
 * Reading follows Nchan's `nchan_subscriber_get_msg_id` (src/util/nchan_msgid.c):
 * `If-Modified-Since` + `If-None-Match`, else a compound id in `If-None-Match`, else
 * `Last-Event-ID`, else `?last_event_id=`. Pure functions, no I/O.
 *
 * @module
 */
import { MAX_CHANNELS } from '../../channel/id.js';
import type { MessageId } from '../store/types.js';
import { parseHttpDate } from './dates.js';

export { MAX_CHANNELS };

/**
 * A subscriber's position: the second of its last message and, per channel of its
 * request, the tag of that channel's last message in that second (-1: none, `-`).
 */
export interface MultiId {
  /** Unix seconds; 0 before any message. */
  time: number;
  /** One per channel of the request, in order; -1 is `-`. */
  tags: number[];
  /** Index of the channel the last message came from (`[n]`); -1 when none is named. */
  active: number;
}

/** What a request's headers and query say about where its subscriber is. */
export type IdResult = MultiId | null | 'invalid';

/**
 * A fresh position before any message, for `count` channels.
 *
 * @example startId(2) // { time: 0, tags: [-1, -1], active: -1 }
 */
export function startId(count: number): MultiId {
  return { time: 0, tags: new Array<number>(count).fill(-1), active: -1 };
}

/**
 * Read Nchan's tag list (`[0],-,3`) as `nchan_parse_msg_tag` does: digits accumulate,
 * `-` negates (a bare `-` is -1), `,` separates, `[` marks the active channel, every
 * other byte is ignored; missing tags up to `count` are -1.
 *
 * @param text the tags, e.g. an `If-None-Match` value
 * @param count the channels of the request
 * @returns the tags and the active index, or `'invalid'` (two `[`, a stray `]`)
 * @example parseTags('[1],0', 2) // { tags: [1, 0], active: 0 }
 */
export function parseTags(
  text: string | undefined,
  count: number,
): { tags: number[]; active: number } | 'invalid' {
  const tags: number[] = [];
  let active = 0;
  if (text !== undefined) {
    let value = 0;
    let sign = 1;
    let open = 0;
    let close = 0;
    for (let i = 0; i <= text.length && tags.length < MAX_CHANNELS; i++) {
      const c = i === text.length ? 44 /* , */ : text.charCodeAt(i);
      if (c === 45 /* - */) sign = -1;
      else if (c >= 48 && c <= 57) value = (value * 10 + c - 48) % 65536;
      else if (c === 91 /* [ */) {
        if (++open > 1) return 'invalid';
        active = tags.length;
      } else if (c === 93 /* ] */) {
        if (++close > 1 || open !== close) return 'invalid';
      } else if (c === 44) {
        tags.push(value === 0 && sign === -1 ? -1 : value * sign);
        value = 0;
        sign = 1;
      }
    }
  }
  if (tags.length === 0) active = -1;
  while (tags.length < count) tags.push(-1);
  return { tags, active };
}

/**
 * Read a compound id `time:tags` (an EventSource `id:`, `Last-Event-ID`, a
 * `last_event_id` query value).
 *
 * @param text the id, already percent-decoded
 * @param count the channels of the request
 * @returns the id; `null` for time 0 (from the oldest); `'invalid'` when the time is not
 *   digits or the tags do not fit `count`; undefined when there is no `:` (not an id: the
 *   next source is tried)
 * @example parseMessageId('1796323864:-,[0]', 2) // { time: 1796323864, tags: [-1, 0], active: 1 }
 */
export function parseMessageId(text: string, count: number): IdResult | undefined {
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  if (colon === 0 || !/^\d+$/.test(text.slice(0, colon))) return 'invalid';
  const time = Number(text.slice(0, colon));
  const parsed = parseTags(text.slice(colon + 1), count);
  if (parsed === 'invalid') return parsed;
  return checked({ time, tags: parsed.tags, active: parsed.active }, count);
}

/**
 * Where a subscriber request says its subscriber is, read as Nchan reads it: a valid
 * `If-Modified-Since` with the tags of `If-None-Match`; else a compound id in
 * `If-None-Match`; else `Last-Event-ID`, then `?last_event_id=` (the first that is an
 * id wins; the header over the query).
 *
 * @param headers the request headers (lower-case names)
 * @param query the request's query string without `?` ('' when none)
 * @param count the channels of the request
 * @returns the position; `null` for "from the oldest"; `'invalid'` for Nchan's 400
 *   `Message ID invalid` (a date without `If-None-Match`, tags that do not fit)
 * @example readMessageId({ 'last-event-id': '1796323864:[0],-' }, '', 2) // { time: 1796323864, tags: [0, -1], active: 0 }
 */
export function readMessageId(
  headers: Record<string, string | string[] | undefined>,
  query: string,
  count: number,
): IdResult {
  const ims = headers['if-modified-since'];
  const inm = headers['if-none-match'];
  if (typeof ims === 'string') {
    const time = parseHttpDate(ims);
    // Nchan: anything at or before 1970 is "no id".
    if (!(time > 0)) return null;
    const parsed = parseTags(typeof inm === 'string' ? inm : undefined, count);
    if (parsed === 'invalid') return parsed;
    return checked({ time, tags: parsed.tags, active: parsed.active }, count);
  }
  if (typeof inm === 'string') return parseMessageId(inm, count) ?? null;
  const header = headers['last-event-id'];
  for (const value of [typeof header === 'string' ? header : '', queryValue(query)]) {
    if (value === '') continue;
    const id = parseMessageId(percentDecode(value), count);
    if (id !== undefined) return id;
  }
  return null;
}

/** Nchan's `nchan_msgid_tagcount_match`: one tag per channel, the active one among them. */
function checked(id: MultiId, count: number): IdResult {
  if (id.time <= 0) return null;
  if (id.tags.length !== count || id.active < 0 || id.active >= count) return 'invalid';
  return id;
}

/** The `last_event_id` value of a query string ('' when absent). */
function queryValue(query: string): string {
  if (query === '') return '';
  for (const pair of query.split('&')) {
    if (pair.startsWith('last_event_id=')) return pair.slice('last_event_id='.length);
  }
  return '';
}

/** Percent-decode as nginx's unescape does: a bad escape stays as it is. */
function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
  }
}

/**
 * The last message the subscriber has on channel `index` of its request, as a store
 * cursor (`nchan_extract_from_multi_msgid`): a `-` stands for "everything before this
 * second".
 *
 * @returns the cursor, or null when the subscriber has nothing yet (from the oldest)
 * @example channelCursor({ time: 9, tags: [-1, 2], active: 1 }, 0) // { time: 8, tag: 32767 }
 */
export function channelCursor(id: MultiId, index: number): MessageId | null {
  if (id.time <= 0) return null;
  const tag = index < id.tags.length ? id.tags[index] : -1;
  return tag === -1 ? { time: id.time - 1, tag: 32767 } : { time: id.time, tag };
}

/**
 * Move a subscriber's position past a message of channel `index`
 * (`nchan_update_multi_msgid`): a new second forgets the other channels' tags, the same
 * second keeps them.
 *
 * @param id the position, changed in place
 * @param index the message's channel in the request
 * @param message the message's id
 * @example
 * const id = startId(2);
 * advance(id, 0, { time: 9, tag: 0 }); // 9:[0],-
 * advance(id, 1, { time: 9, tag: 0 }); // 9:0,[0]
 */
export function advance(id: MultiId, index: number, message: MessageId): void {
  if (id.time !== message.time) {
    id.time = message.time;
    id.tags.fill(-1);
  }
  id.tags[index] = message.tag;
  id.active = index;
}

/**
 * The tags as a long-poll's `Etag`: `0` for one channel, `[0],-` for several.
 *
 * @example formatTags({ time: 9, tags: [1, 0], active: 1 }) // '1,[0]'
 */
export function formatTags(id: MultiId): string {
  const { tags } = id;
  if (tags.length === 1) return String(tags[0]);
  let text = '';
  for (let i = 0; i < tags.length; i++) {
    const tag = tags[i] === -1 ? '-' : String(tags[i]);
    if (i > 0) text += ',';
    text += i === id.active ? `[${tag}]` : tag;
  }
  return text;
}

/**
 * The whole id, as an EventSource `id:` line and a WebSocket meta frame carry it.
 *
 * @example formatMessageId({ time: 1796323864, tags: [-1, 0, -1], active: 1 }) // '1796323864:-,[0],-'
 */
export function formatMessageId(id: MultiId): string {
  return `${id.time}:${formatTags(id)}`;
}
