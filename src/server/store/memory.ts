import type { ResolvedStore } from '../../settings/index.js';
import type {
  ChannelInfo,
  Message,
  MessageId,
  NewMessage,
  NextResult,
  PublishResult,
  Store,
  StoreEvent,
  StoreListener,
} from './types.js';

/** Options of {@link createMemoryStore} beyond the store settings; mostly for tests. */
export interface MemoryStoreOptions {
  /** The clock, in milliseconds. @default Date.now */
  now?: () => number;
  /** Milliseconds between sweeps that drop expired messages and forget idle channels. @default 5000 */
  sweepInterval?: number;
}

/**
 * A channel's buffered messages, oldest first from `first` on, as parallel arrays of
 * plain values, with the bodies copied into one slab per channel: thousands of buffered
 * messages are then a handful of arrays and one Buffer for the garbage collector, not
 * several objects per message (which it would promote, then mark again and again). A
 * {@link Message} is made when one is read.
 */
interface Channel {
  times: number[];
  tags: number[];
  /** When each message expires (ms), Infinity when it never does. */
  expires: number[];
  types: Array<string | null>;
  /** Each message's `X-EventSource-Event`, undefined for most. */
  events: Array<string | undefined>;
  /** Where each body is in `slab`; -1: in `large`. */
  offsets: number[];
  lengths: number[];
  /** Bodies over {@link SLAB_BODY_LIMIT}, kept as given; undefined for the others. */
  large: Array<Buffer | undefined>;
  /** Small bodies, back to back from 0 to `used`; replaced by a compacted copy when full. */
  slab: Buffer;
  used: number;
  /** Index of the oldest live message; the arrays are compacted once half of them is dropped. */
  first: number;
  subscribers: number;
  /** When a subscriber last asked (ms), or -1. */
  lastRequested: number;
  /** The newest id ever published here (the arrays may be empty); `lastTag` -1: none. */
  lastTime: number;
  lastTag: number;
}

function newChannel(lastRequested: number): Channel {
  return {
    times: [],
    tags: [],
    expires: [],
    types: [],
    events: [],
    offsets: [],
    lengths: [],
    large: [],
    slab: EMPTY,
    used: 0,
    first: 0,
    subscribers: 0,
    lastRequested,
    lastTime: 0,
    lastTag: -1,
  };
}

/** Messages buffered in `channel`. */
function count(channel: Channel): number {
  return channel.times.length - channel.first;
}

/**
 * An in-process store: each channel is a bounded buffer of messages, lost when the
 * process exits. Events are delivered synchronously, inside the call that caused them.
 *
 * @param settings `maxMessages`, `minMessages` and `messageTimeout` of the store
 * @param options clock and sweep interval
 * @returns a {@link Store}
 * @example
 * const store = createMemoryStore(resolveSettings({ store: { type: 'memory', maxMessages: 100 } }).stores.default);
 */
export function createMemoryStore(
  settings: Pick<ResolvedStore, 'maxMessages' | 'minMessages' | 'messageTimeout'>,
  options: MemoryStoreOptions = {},
): Store {
  const now = options.now ?? Date.now;
  const { maxMessages, minMessages } = settings;
  const timeoutMs = settings.messageTimeout > 0 ? settings.messageTimeout * 1000 : Infinity;
  const channels = new Map<string, Channel>();
  const listeners = new Set<StoreListener>();
  let sweeper: NodeJS.Timeout | undefined;
  // Publishers send the same Content-Type again and again: keep one copy of it.
  let lastContentType: string | null = null;

  function emit(event: StoreEvent): void {
    for (const listener of listeners) listener(event);
  }

  /** Drop what is beyond the buffer limits; forget the channel when nothing is left. */
  function prune(id: string, channel: Channel, time: number): void {
    const { expires, large, types, events } = channel;
    const length = expires.length;
    let first = Math.max(channel.first, length - maxMessages);
    while (first < length - minMessages && expires[first] <= time) first++;
    // Dropped messages must not keep their bodies alive until the next compaction.
    for (let i = channel.first; i < first; i++) {
      large[i] = undefined;
      types[i] = null;
      events[i] = undefined;
    }
    // Compacted once half is dropped, and when all is.
    if (first > 0 && (first === length || (first > 32 && first * 2 > length))) {
      keepFrom(channel, first);
      first = 0;
    }
    channel.first = first;
    if (count(channel) > 0) return;
    channel.slab = EMPTY;
    channel.used = 0;
    if (channel.subscribers === 0) channels.delete(id);
  }

  /** The channel, pruned, or undefined when it does not exist (any more). */
  function live(id: string, time: number): Channel | undefined {
    const channel = channels.get(id);
    if (channel) prune(id, channel, time);
    return channels.get(id);
  }

  function infoOf(channel: Channel, time: number): ChannelInfo {
    return {
      messages: count(channel),
      requested: channel.lastRequested < 0 ? -1 : Math.floor((time - channel.lastRequested) / 1000),
      subscribers: channel.subscribers,
      lastMessageId: channel.lastTag < 0 ? null : { time: channel.lastTime, tag: channel.lastTag },
    };
  }

  function sweep(): void {
    const time = now();
    for (const [id, channel] of channels) prune(id, channel, time);
  }

  function publishNow(id: string, input: NewMessage, create: boolean): PublishResult | undefined {
    const time = now();
    let channel = live(id, time);
    if (!channel) {
      if (!create) return undefined;
      channel = newChannel(-1);
      channels.set(id, channel);
    }
    let second = Math.floor(time / 1000);
    let tag = 0;
    // Ids strictly increase even if the clock steps back.
    if (channel.lastTag >= 0 && second <= channel.lastTime) {
      second = channel.lastTime;
      tag = channel.lastTag + 1;
    }
    let contentType = input.contentType;
    if (contentType === lastContentType) contentType = lastContentType;
    else lastContentType = contentType;
    const event = input.event;
    const message: Message = { id: { time: second, tag }, contentType, body: input.body, event };
    channel.lastTime = second;
    channel.lastTag = tag;
    channel.times.push(second);
    channel.tags.push(tag);
    channel.expires.push(time + timeoutMs);
    channel.types.push(contentType);
    channel.events.push(event);
    storeBody(channel, input.body);
    prune(id, channel, time);
    const info = infoOf(channel, time);
    emit({ type: 'message', channel: id, message });
    return { message, info };
  }

  function nextNow(id: string, cursor: MessageId | null): NextResult {
    const time = now();
    const channel = live(id, time);
    if (!channel) return { message: undefined, exists: false };
    channel.lastRequested = time;
    return { message: firstAfter(channel, cursor), exists: true };
  }

  const store: Store = {
    async open() {
      if (sweeper) return;
      sweeper = setInterval(sweep, options.sweepInterval ?? 5000);
      sweeper.unref();
    },

    async publish(id: string, input: NewMessage, { create }): Promise<PublishResult | undefined> {
      return publishNow(id, input, create);
    },

    publishNow(id: string, input: NewMessage, { create }) {
      return publishNow(id, input, create);
    },

    async next(id: string, cursor: MessageId | null): Promise<NextResult> {
      return nextNow(id, cursor);
    },

    nextNow,

    async info(id: string) {
      const time = now();
      const channel = live(id, time);
      return channel && infoOf(channel, time);
    },

    async delete(id: string) {
      const time = now();
      const channel = live(id, time);
      if (!channel) return undefined;
      const info = infoOf(channel, time);
      channels.delete(id);
      emit({ type: 'delete', channel: id });
      return info;
    },

    subscriberStarted(id: string) {
      let channel = channels.get(id);
      if (!channel) {
        channel = newChannel(now());
        channels.set(id, channel);
      }
      channel.subscribers++;
    },

    subscriberStopped(id: string) {
      const channel = channels.get(id);
      if (!channel || channel.subscribers === 0) return;
      channel.subscribers--;
      if (channel.subscribers === 0 && count(channel) === 0) channels.delete(id);
    },

    onEvent(listener: StoreListener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    stats() {
      const time = now();
      let messages = 0;
      let bytes = 0;
      for (const [id, channel] of channels) {
        // Expired messages are not counted, as Nchan's timers would have dropped them.
        prune(id, channel, time);
        for (let i = channel.first; i < channel.lengths.length; i++) bytes += channel.lengths[i];
        messages += count(channel);
      }
      return { channels: channels.size, messages, bytes };
    },

    async close() {
      if (sweeper) clearInterval(sweeper);
      sweeper = undefined;
      listeners.clear();
    },
  };
  return store;
}

const EMPTY = Buffer.alloc(0);
/** Bodies up to this size go into the channel's slab; larger ones are kept as given. */
const SLAB_BODY_LIMIT = 4096;
/** Smallest slab: a channel of short messages grows it a few times at most. */
const SLAB_MIN = 1024;

/** Drop the messages before `first` from every array of `channel`. */
function keepFrom(channel: Channel, first: number): void {
  channel.times = channel.times.slice(first);
  channel.tags = channel.tags.slice(first);
  channel.expires = channel.expires.slice(first);
  channel.types = channel.types.slice(first);
  channel.events = channel.events.slice(first);
  channel.offsets = channel.offsets.slice(first);
  channel.lengths = channel.lengths.slice(first);
  channel.large = channel.large.slice(first);
}

function storeBody(channel: Channel, body: Buffer): void {
  channel.lengths.push(body.length);
  if (body.length > SLAB_BODY_LIMIT) {
    channel.offsets.push(-1);
    channel.large.push(body);
    return;
  }
  if (channel.used + body.length > channel.slab.length) compactSlab(channel, body.length);
  body.copy(channel.slab, channel.used);
  channel.offsets.push(channel.used);
  channel.large.push(undefined);
  channel.used += body.length;
}

/**
 * Move the live small bodies into a new slab twice their size (plus `extra`). The old
 * slab is never written again: a Message read from it keeps it, unchanged, as long as
 * the Message is in use.
 */
function compactSlab(channel: Channel, extra: number): void {
  const { offsets, lengths } = channel;
  let live = extra;
  for (let i = channel.first; i < offsets.length; i++) if (offsets[i] >= 0) live += lengths[i];
  const slab = Buffer.allocUnsafeSlow(Math.max(SLAB_MIN, live * 2));
  let used = 0;
  for (let i = channel.first; i < offsets.length; i++) {
    if (offsets[i] < 0) continue;
    channel.slab.copy(slab, used, offsets[i], offsets[i] + lengths[i]);
    offsets[i] = used;
    used += lengths[i];
  }
  channel.slab = slab;
  channel.used = used;
}

function bodyAt(channel: Channel, index: number): Buffer {
  const offset = channel.offsets[index];
  if (offset < 0) return channel.large[index] as Buffer;
  return channel.slab.subarray(offset, offset + channel.lengths[index]);
}

/**
 * The first message from `first` on with an id strictly after `cursor` (binary search;
 * messages are in id order).
 */
function firstAfter(channel: Channel, cursor: MessageId | null): Message | undefined {
  const { times, tags } = channel;
  let low = channel.first;
  if (low >= times.length) return undefined;
  if (cursor !== null) {
    let high = times.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const after =
        times[middle] > cursor.time || (times[middle] === cursor.time && tags[middle] > cursor.tag);
      if (after) high = middle;
      else low = middle + 1;
    }
    if (low === times.length) return undefined;
  }
  return {
    id: { time: times[low], tag: tags[low] },
    contentType: channel.types[low],
    body: bodyAt(channel, low),
    event: channel.events[low],
  };
}
