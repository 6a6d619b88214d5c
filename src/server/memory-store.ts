import type { ResolvedStore } from '../settings.js';
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
} from './store.js';

/** Options of {@link createMemoryStore} beyond the store settings; mostly for tests. */
export interface MemoryStoreOptions {
  /** The clock, in milliseconds. @default Date.now */
  now?: () => number;
  /** Milliseconds between sweeps that drop expired messages and forget idle channels. @default 5000 */
  sweepInterval?: number;
}

/**
 * A channel's buffered messages, oldest first from `first` on, as parallel arrays of
 * plain values (ids and expiry as numbers, the body Buffers as given): thousands of
 * buffered messages are then a handful of arrays for the garbage collector to mark,
 * not several objects per message. A {@link Message} is made when one is read.
 */
interface Channel {
  times: number[];
  tags: number[];
  /** When each message expires (ms), Infinity when it never does. */
  expires: number[];
  types: Array<string | null>;
  bodies: Buffer[];
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
    bodies: [],
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
    const { expires, bodies, types } = channel;
    const length = expires.length;
    let first = Math.max(channel.first, length - maxMessages);
    while (first < length - minMessages && expires[first] <= time) first++;
    // Dropped messages must not keep their bodies alive until the next compaction.
    for (let i = channel.first; i < first; i++) {
      bodies[i] = EMPTY;
      types[i] = null;
    }
    if (first === length) {
      channel.times.length = 0;
      channel.tags.length = 0;
      expires.length = 0;
      types.length = 0;
      bodies.length = 0;
      first = 0;
    } else if (first > 32 && first * 2 > length) {
      channel.times = channel.times.slice(first);
      channel.tags = channel.tags.slice(first);
      channel.expires = expires.slice(first);
      channel.types = types.slice(first);
      channel.bodies = bodies.slice(first);
      first = 0;
    }
    channel.first = first;
    if (count(channel) === 0 && channel.subscribers === 0) channels.delete(id);
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
    const message: Message = { id: { time: second, tag }, contentType, body: input.body };
    channel.lastTime = second;
    channel.lastTag = tag;
    channel.times.push(second);
    channel.tags.push(tag);
    channel.expires.push(time + timeoutMs);
    channel.types.push(contentType);
    channel.bodies.push(input.body);
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

    async close() {
      if (sweeper) clearInterval(sweeper);
      sweeper = undefined;
      listeners.clear();
    },
  };
  return store;
}

/** What a dropped message's body slot holds until the arrays are compacted. */
const EMPTY = Buffer.alloc(0);

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
    body: channel.bodies[low],
  };
}
