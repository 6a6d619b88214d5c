import type { ResolvedStore } from '../settings.js';
import {
  type ChannelInfo,
  compareIds,
  type Message,
  type MessageId,
  type NewMessage,
  type NextResult,
  type PublishResult,
  type Store,
  type StoreEvent,
  type StoreListener,
} from './store.js';

/** Options of {@link createMemoryStore} beyond the store settings; mostly for tests. */
export interface MemoryStoreOptions {
  /** The clock, in milliseconds. @default Date.now */
  now?: () => number;
  /** Milliseconds between sweeps that drop expired messages and forget idle channels. @default 5000 */
  sweepInterval?: number;
}

/**
 * A buffered message with its expiry, in one object (a store holds thousands of them;
 * fewer objects save memory and garbage-collection work).
 */
interface Entry extends Message {
  /** When the message expires (ms), Infinity when it never does. */
  readonly expires: number;
}

interface Channel {
  /** Oldest first, from `first` on: dropping the oldest moves `first` (no shifting per publish). */
  entries: Entry[];
  /** Index of the oldest live entry; the array is compacted once half of it is dropped. */
  first: number;
  subscribers: number;
  /** When a subscriber last asked (ms), or -1. */
  lastRequested: number;
  lastId: MessageId | null;
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
    const { entries } = channel;
    let first = Math.max(channel.first, entries.length - maxMessages);
    while (first < entries.length - minMessages && entries[first].expires <= time) first++;
    // Dropped entries must not keep their bodies alive until the next compaction.
    for (let i = channel.first; i < first; i++) entries[i] = DROPPED;
    if (first === entries.length) {
      entries.length = 0;
      first = 0;
    } else if (first > 32 && first * 2 > entries.length) {
      channel.entries = entries.slice(first);
      first = 0;
    }
    channel.first = first;
    if (channel.entries.length === 0 && channel.subscribers === 0) channels.delete(id);
  }

  /** The channel, pruned, or undefined when it does not exist (any more). */
  function live(id: string, time: number): Channel | undefined {
    const channel = channels.get(id);
    if (channel) prune(id, channel, time);
    return channels.get(id);
  }

  function infoOf(channel: Channel, time: number): ChannelInfo {
    return {
      messages: channel.entries.length - channel.first,
      requested: channel.lastRequested < 0 ? -1 : Math.floor((time - channel.lastRequested) / 1000),
      subscribers: channel.subscribers,
      lastMessageId: channel.lastId,
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
      channel = { entries: [], first: 0, subscribers: 0, lastRequested: -1, lastId: null };
      channels.set(id, channel);
    }
    const last = channel.lastId;
    let second = Math.floor(time / 1000);
    let tag = 0;
    // Ids strictly increase even if the clock steps back.
    if (last && second <= last.time) {
      second = last.time;
      tag = last.tag + 1;
    }
    let contentType = input.contentType;
    if (contentType === lastContentType) contentType = lastContentType;
    else lastContentType = contentType;
    const message: Entry = {
      id: { time: second, tag },
      contentType,
      body: input.body,
      expires: time + timeoutMs,
    };
    channel.lastId = message.id;
    channel.entries.push(message);
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
    return { message: firstAfter(channel.entries, channel.first, cursor), exists: true };
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
        channel = { entries: [], first: 0, subscribers: 0, lastRequested: now(), lastId: null };
        channels.set(id, channel);
      }
      channel.subscribers++;
    },

    subscriberStopped(id: string) {
      const channel = channels.get(id);
      if (!channel || channel.subscribers === 0) return;
      channel.subscribers--;
      if (channel.subscribers === 0 && channel.entries.length === channel.first)
        channels.delete(id);
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

/** What a dropped entry's slot holds until the array is compacted. */
const DROPPED: Entry = {
  id: { time: 0, tag: 0 },
  contentType: null,
  body: Buffer.alloc(0),
  expires: 0,
};

/** The first message from `entries[first]` on with an id strictly after `cursor` (binary search; entries are in id order). */
function firstAfter(
  entries: Entry[],
  first: number,
  cursor: MessageId | null,
): Message | undefined {
  if (first >= entries.length) return undefined;
  if (cursor === null) return entries[first];
  let low = first;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareIds(entries[middle].id, cursor) > 0) high = middle;
    else low = middle + 1;
  }
  return entries[low];
}
