/**
 * The interface between the push daemon's protocol code and its message stores
 * (memory, Redis). The daemon parses HTTP and keeps its own waiting sockets; a
 * store keeps channels, messages, ids, counters, and tells every daemon sharing it
 * what happened to a channel.
 *
 * Rules every store follows (Nchan's model, see ../shared/reference/nchan-protocol.md):
 *
 * - A message id is `(time, tag)`: `time` is the unix second the store accepted the
 *   message, `tag` counts messages of that channel within that second (0, 1, 2, ...,
 *   back to 0 in the next second). Ids are assigned by the store, atomically with the
 *   append (Redis: inside the Lua script, from `TIME`), never from daemon-local state.
 *   Ids of a channel strictly increase: if the clock steps back, keep the last `time`
 *   and increase the tag.
 * - Ordering is `(time, tag)` lexicographic ({@link compareIds}).
 * - Buffer limits come from the store's settings ({@link ResolvedStore}): at most
 *   `maxMessages` per channel (the oldest is evicted); a message older than
 *   `messageTimeout` seconds is expired (0 = never), except that the newest
 *   `minMessages` are kept even when expired. Evicted and expired messages are
 *   never returned by {@link Store.next}.
 * - A channel exists while it holds a message or a waiting subscriber (or was created
 *   by a publish and not yet forgotten). Channels with no messages and no subscribers
 *   may be forgotten at any time, so memory does not grow with every id ever used.
 * - Every publish and every delete is announced to every daemon sharing the store,
 *   this one included, through {@link Store.onEvent}. The daemon wakes its waiting
 *   subscribers from those events only, never from its own publish call path.
 *
 * A Redis store lives in `src/server/redis-store.ts` and exports
 * `createRedisStore(settings: ResolvedStore): Store`; the daemon loads it on demand
 * for `store: {type: 'redis'}`.
 *
 * @module
 */
import type { ResolvedStore } from '../../settings/index.js';

/** A message id: Nchan's `time:tag` (`Last-Modified` second + `Etag` counter). */
export interface MessageId {
  /** Unix seconds at which the store accepted the message. */
  readonly time: number;
  /** Counter of the channel's messages within that second, from 0. */
  readonly tag: number;
}

/** A stored message, as the store hands it to the daemon. Treat it as immutable. */
export interface Message {
  readonly id: MessageId;
  /** The publisher's `Content-Type`, verbatim; `null` when the publish had none. */
  readonly contentType: string | null;
  /** The body, byte for byte (may be empty). */
  readonly body: Buffer;
  /**
   * The publish's `X-EventSource-Event` header, sent as the `event:` field to EventSource
   * subscribers; undefined when the publish had none.
   */
  readonly event?: string;
}

/** Channel counters as Nchan reports them in the publisher's info body. */
export interface ChannelInfo {
  /** Messages in the buffer (not yet evicted or expired). */
  messages: number;
  /** Whole seconds since a subscriber last asked for this channel; -1 when never. */
  requested: number;
  /** Subscribers waiting on this channel right now, across every daemon sharing the store. */
  subscribers: number;
  /** Id of the newest message ever published to the channel, `null` when none. */
  lastMessageId: MessageId | null;
}

/** What a publisher sends: the body and its Content-Type. */
export interface NewMessage {
  contentType: string | null;
  body: Buffer;
  /** The publish's `X-EventSource-Event` header, if any (see {@link Message.event}). */
  event?: string;
  /**
   * The publish's `Idempotency-Key`: a store that can tell a retried publish from a new
   * one (Redis) returns the first publish's id for a key it has seen on the channel
   * within the hour instead of storing the message again. The memory store ignores it:
   * a publish to it is never half done.
   */
  idempotencyKey?: string;
}

/** The outcome of {@link Store.publish}. */
export interface PublishResult {
  /** The stored message with its assigned id. */
  message: Message;
  /**
   * Channel info right after the append. `subscribers` is the count of subscribers
   * that were waiting when the message was appended (before any was woken): the
   * daemon answers 201 when it is > 0, 202 otherwise.
   */
  info: ChannelInfo;
}

/** The outcome of {@link Store.next}. */
export interface NextResult {
  /** The first buffered message strictly after the cursor, or undefined when none is. */
  message: Message | undefined;
  /** Whether the channel exists (for `createOnGet: false`, which answers 404 when it does not). */
  exists: boolean;
}

/**
 * Something happened to a channel; sent to every daemon sharing the store, in the
 * order the store applied the changes (per channel at least).
 *
 * - `message`: `message` was appended to `channel`. A subscriber waiting with a cursor
 *   older than `message.id` gets exactly this message (it is the first one after its
 *   cursor, since the subscriber only waits when nothing after its cursor was buffered).
 * - `delete`: the channel was deleted; its waiting subscribers get 410 Gone.
 */
export type StoreEvent =
  | { type: 'message'; channel: string; message: Message }
  | { type: 'delete'; channel: string };

/** Receives {@link StoreEvent}s. Must not throw; may be called synchronously from within a store call. */
export type StoreListener = (event: StoreEvent) => void;

/**
 * A message store. Every operation is asynchronous (a Redis store does a round trip);
 * the daemon never assumes two calls are applied together unless one method says so.
 * Channel ids are the decoded ids (any string up to 1024 UTF-8 bytes).
 *
 * @example
 * const store = createMemoryStore(resolveSettings().stores.default);
 * store.onEvent((event) => console.log(event.type, event.channel));
 * const { message, info } = (await store.publish('room', { contentType: 'text/plain', body: Buffer.from('hi') }, { create: true }))!;
 * const { message: first } = await store.next('room', null); // the oldest buffered message
 */
export interface Store {
  /**
   * Connect / prepare. The daemon calls it once before serving and fails to start
   * (with the error's message) when it rejects, e.g. Redis unreachable.
   */
  open(): Promise<void>;

  /**
   * Append a message to `channel`, assigning its id atomically (see the module rules),
   * apply the buffer limits (evict beyond `maxMessages`, drop expired ones), then
   * announce it with a `message` event to every daemon sharing the store.
   *
   * @param channel decoded channel id
   * @param message body and Content-Type
   * @param options `create: false` refuses to create an unknown channel (Nchan/py-hbpush `createOnPost: false`)
   * @returns the stored message and the channel info, or `undefined` when `create` is
   *   false and the channel does not exist (the daemon answers 404; nothing stored,
   *   no event)
   */
  publish(
    channel: string,
    message: NewMessage,
    options: { create: boolean },
  ): Promise<PublishResult | undefined>;

  /**
   * The first buffered message whose id is strictly after `cursor` (Nchan's rules):
   * `cursor === null` means "from the oldest buffered message"; a cursor older than
   * everything buffered (its message evicted or expired) also gives the oldest
   * remaining message; a cursor at or after the newest gives `undefined` (the
   * subscriber waits). Records "a subscriber asked now" for {@link ChannelInfo.requested}
   * when the channel exists. Never creates the channel.
   *
   * @param channel decoded channel id
   * @param cursor the id of the last message the subscriber has, or null
   */
  next(channel: string, cursor: MessageId | null): Promise<NextResult>;

  /**
   * {@link publish} without a promise, for a store that needs no I/O (the memory
   * store): the daemon uses it when present, saving a promise and two closures per
   * publish. Same rules and events as `publish`.
   */
  publishNow?(
    channel: string,
    message: NewMessage,
    options: { create: boolean },
  ): PublishResult | undefined;

  /**
   * {@link next} without a promise, for a store that needs no I/O (the memory store):
   * the daemon uses it when present, saving a promise per poll. Same rules as `next`.
   */
  nextNow?(channel: string, cursor: MessageId | null): NextResult;

  /**
   * Channel info, or `undefined` when the channel does not exist (publisher GET → 404).
   * A channel whose messages all expired and that has no subscribers may answer
   * `undefined`.
   */
  info(channel: string): Promise<ChannelInfo | undefined>;

  /**
   * Delete the channel and its messages and announce a `delete` event to every daemon
   * sharing the store (their waiting subscribers get 410).
   *
   * @returns the info as it was before the delete, or `undefined` when the channel did
   *   not exist (no event then)
   */
  delete(channel: string): Promise<ChannelInfo | undefined>;

  /**
   * A subscriber of this daemon starts waiting on `channel`: count it in
   * {@link ChannelInfo.subscribers} (across daemons) and create the channel if needed.
   * The daemon calls it once per waiting poll and pairs it with exactly one
   * {@link subscriberStopped}. Fire and forget: the daemon does not wait for it, and a
   * store that counts synchronously may return nothing (saves a promise per poll).
   */
  subscriberStarted(channel: string): Promise<void> | void;

  /**
   * A subscriber stopped waiting (it was answered, timed out, went away, or the
   * channel was deleted). A store must not let a count go below 0 (a delete resets
   * the channel's count while the daemon still pairs its calls).
   */
  subscriberStopped(channel: string): Promise<void> | void;

  /**
   * Register a listener for this store's events (see {@link StoreEvent}).
   *
   * @returns a function that removes the listener
   */
  onEvent(listener: StoreListener): () => void;

  /** Release timers and connections. Pending operations may reject afterwards. */
  close(): Promise<void>;

  /**
   * What this store holds in this process right now, for the status location (the
   * counts Nchan's `nchan_stub_status` reports from its shared memory). Optional: a
   * store without it counts as holding nothing.
   */
  stats?(): StoreStats;
}

/** What {@link Store.stats} reports. */
export interface StoreStats {
  /** Channels this process holds (a Redis store: those with subscribers here). */
  channels: number;
  /** Messages buffered in this process (a Redis store keeps none: 0). */
  messages: number;
  /** Bytes of the message bodies buffered in this process. */
  bytes: number;
  /** A Redis store's connection: whether it is up, commands awaiting an answer, commands sent so far. */
  redis?: { connected: boolean; pending: number; sent: number };
}

/** The factory every store module exports (`createMemoryStore`, `createRedisStore`). */
export type StoreFactory = (settings: ResolvedStore) => Store;

/**
 * Order two message ids.
 *
 * @returns a negative number when `a` is older than `b`, 0 when equal, positive when newer
 * @example compareIds({ time: 5, tag: 1 }, { time: 5, tag: 0 }) // 1
 */
export function compareIds(a: MessageId, b: MessageId): number {
  return a.time === b.time ? a.tag - b.tag : a.time - b.time;
}

/**
 * Nchan's textual id, `time:tag`, as in the publisher's info body.
 *
 * @example formatId({ time: 1795828527, tag: 0 }) // '1795828527:0'
 */
export function formatId(id: MessageId): string {
  return `${id.time}:${id.tag}`;
}
