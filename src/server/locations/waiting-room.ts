/**
 * The waiting room: the polls parked on one store, by channel. It listens to the
 * store's events and hands each parked poll the message it waits for, or tells it the
 * channel is gone. Which answer a poll gets is the subscriber location's business.
 *
 * @module
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { MessageId, Store, StoreEvent } from '../store/types.js';
import { compareIds } from '../store/types.js';
import { type Reply, sendText } from '../transport/reply.js';
import type { HeaderList } from '../transport/response-head.js';
import type { SubscriberLocation } from './subscriber.js';
import type { Subscription } from './subscription.js';

/** The headers of a poll whose location has no passthrough (a parked poll keeps nothing). */
export const NO_HEADERS: IncomingHttpHeaders = {};

/**
 * One poll, from its arrival until it is answered; or one channel of a
 * {@link Subscription} (a stream or a multiplexed poll), which then gets the channel's
 * events instead of the location.
 */
export interface Waiter {
  reply: Reply;
  /** The request's headers, forwarded with passthrough notifications. */
  headers: IncomingHttpHeaders;
  channel: string;
  cursor: MessageId | null;
  /** `checking`: asking the store; `waiting`: parked and counted; `done`: answered. */
  state: 'checking' | 'waiting' | 'done';
  /** A message arrived while checking: ask the store again before parking. */
  dirty: boolean;
  /** The channel was deleted while checking. */
  deleted: boolean;
  cors: HeaderList;
  corsKey: string;
  timer: NodeJS.Timeout | undefined;
  location: SubscriberLocation;
  /** Counts the polls this object served (it is reused); a store answer for an earlier one is dropped. */
  generation: number;
  /** The cursor object this waiter owns, filled in again by its next poll. */
  ownCursor: { time: number; tag: number } | undefined;
  /** The subscription this waiter is one channel of; undefined for a plain poll. */
  owner: Subscription | undefined;
  /** The channel's position in the owner's request. */
  slot: number;
  /** The channel's list this waiter is in (see {@link WaitingRoom}), and its neighbours there. */
  list: Waiters | undefined;
  previous: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * A channel's waiters, linked through the waiters themselves, oldest first: a poll
 * joins and leaves it without allocating (a Set reallocates its table as it empties
 * with every message and fills again with the re-polls).
 */
interface Waiters {
  first: Waiter | undefined;
  last: Waiter | undefined;
  size: number;
}

/**
 * The client of `waiter` went away: forget the poll (and tell the store and the
 * passthrough app, when it was parked). Nothing when it was already answered.
 */
export function stopWaiter(waiter: Waiter): void {
  if (waiter.owner !== undefined) waiter.owner.stop();
  else if (waiter.state !== 'done') waiter.location.room.remove(waiter);
}

/**
 * The parked polls of one store, by channel. It listens to the store's events and
 * answers the polls they concern.
 */
export class WaitingRoom {
  private readonly channels = new Map<string, Waiters>();
  /**
   * Lists left empty in `channels`. A channel's list empties with every message and
   * fills again with the re-polls: it stays, so the map is not rebuilt all the time, and
   * the empty ones are dropped once they are many.
   */
  private empty = 0;
  private readonly unlisten: () => void;

  /** @param store the store whose events wake the polls parked here */
  constructor(readonly store: Store) {
    this.unlisten = store.onEvent((event) => this.onEvent(event));
  }

  /** Number of polls parked or being checked. */
  get size(): number {
    let count = 0;
    for (const waiters of this.channels.values()) count += waiters.size;
    return count;
  }

  /** A poll arrived: events for its channel now reach it (it is being checked, not yet counted). */
  add(waiter: Waiter): void {
    let waiters = this.channels.get(waiter.channel);
    if (!waiters) {
      waiters = { first: undefined, last: undefined, size: 0 };
      this.channels.set(waiter.channel, waiters);
    } else if (waiters.size === 0) {
      this.empty--;
    }
    waiter.list = waiters;
    waiter.previous = waiters.last;
    waiter.next = undefined;
    if (waiters.last) waiters.last.next = waiter;
    else waiters.first = waiter;
    waiters.last = waiter;
    waiters.size++;
  }

  /** Forget `waiter`; when it was parked, tell the store it stopped waiting. */
  remove(waiter: Waiter): void {
    this.leave(waiter);
    if (waiter.timer) clearTimeout(waiter.timer);
    const wasWaiting = waiter.state === 'waiting';
    waiter.state = 'done';
    if (wasWaiting) {
      this.store.subscriberStopped(waiter.channel)?.catch(ignore);
      waiter.location.passthrough?.unsubscribe(waiter.channel, waiter.headers);
    }
  }

  /** Take `waiter` out of its channel's list, nothing else (a subscription counts for itself). */
  leave(waiter: Waiter): void {
    const waiters = waiter.list;
    if (waiters) {
      // `waiter.next` stays: an event going through the list goes on from there.
      if (waiter.previous) waiter.previous.next = waiter.next;
      else waiters.first = waiter.next;
      if (waiter.next) waiter.next.previous = waiter.previous;
      else waiters.last = waiter.previous;
      waiter.list = undefined;
      waiter.previous = undefined;
      if (--waiters.size === 0 && ++this.empty > 1024) this.dropEmpty();
    }
  }

  private dropEmpty(): void {
    if (this.empty * 2 < this.channels.size) return;
    for (const [channel, waiters] of this.channels) {
      if (waiters.size === 0) this.channels.delete(channel);
    }
    this.empty = 0;
  }

  /**
   * Answer every parked poll with 503 and `Connection: close`, and end every stream
   * (the daemon is stopping).
   */
  closeAll(): void {
    const all: Waiter[] = [];
    const subscriptions = new Set<Subscription>();
    for (const waiters of this.channels.values()) {
      for (let waiter = waiters.first; waiter; waiter = waiter.next) {
        if (waiter.owner) subscriptions.add(waiter.owner);
        else all.push(waiter);
      }
    }
    for (const waiter of all) {
      this.remove(waiter);
      sendText(waiter.reply, 503, 'push server shutting down', ['Connection', 'close']);
    }
    for (const subscription of subscriptions) subscription.end('shutdown');
    this.unlisten();
  }

  private onEvent(event: StoreEvent): void {
    const waiters = this.channels.get(event.channel);
    if (!waiters) return;
    // Answering a waiter removes it; its `next` stays set for this loop.
    for (let waiter = waiters.first; waiter; waiter = waiter.next) {
      if (waiter.owner !== undefined) {
        // A stream stays in the list after a delivery; a subscription's own checks decide.
        waiter.owner.onEvent(waiter.slot, event);
        continue;
      }
      if (event.type === 'delete') {
        if (waiter.state === 'checking') waiter.deleted = true;
        else waiter.location.gone(waiter);
      } else if (waiter.state === 'checking') {
        waiter.dirty = true;
      } else if (waiter.cursor === null || compareIds(event.message.id, waiter.cursor) > 0) {
        // A parked poll had nothing after its cursor, so this message is the first one.
        waiter.location.deliver(waiter, event.message);
      }
    }
  }
}

function ignore(): void {}

/** A waiter with every field, for {@link SubscriberLocation}'s `get` to fill in. */
export function newWaiter(reply: Reply, location: SubscriberLocation): Waiter {
  return {
    reply,
    headers: NO_HEADERS,
    channel: '',
    cursor: null,
    state: 'done',
    dirty: false,
    deleted: false,
    cors: [],
    corsKey: '',
    timer: undefined,
    location,
    generation: 0,
    ownCursor: undefined,
    owner: undefined,
    slot: 0,
    list: undefined,
    previous: undefined,
    next: undefined,
  };
}
