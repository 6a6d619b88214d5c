/**
 * A subscription: one subscriber of one or more channels that is not a plain
 * single-channel poll — an EventSource or WebSocket stream (long-lived: a message does
 * not end it) or a multiplexed long-poll (`/multi/a,b`). It keeps Nchan's id of the
 * subscriber's position across its channels (`protocol/message-id.ts`), reads what
 * the store has buffered after it, then takes new messages from the waiting room, and
 * hands each to its output (`transport/eventsource.ts`, `transport/websocket.ts`, or
 * the poll's answer).
 *
 * In the waiting room it is one waiter per channel of its request (a "link"), so a
 * store event reaches it through the channel's list like any poll.
 *
 * @module
 */
import type { IncomingHttpHeaders } from 'node:http';
import { advance, channelCursor, type MultiId, startId } from '../protocol/message-id.js';
import { compareIds, type Message, type NextResult, type StoreEvent } from '../store/types.js';
import { internalErrorLine } from '../transport/reply.js';
import type { EndReason, SubscriptionOutput } from '../transport/stream.js';
import type { SubscriberLocation } from './subscriber.js';
import { newWaiter, type Waiter, type WaitingRoom } from './waiting-room.js';

/** What a subscription needs from its location. */
export interface SubscriptionContext {
  room: WaitingRoom;
  location: SubscriberLocation;
  /** Seconds before the daemon ends the subscriber (408); 0: never. */
  timeoutSeconds: number;
  /** Answer 404 when none of the channels exists (`createOnGet: false`). */
  createOnGet: boolean;
  /** A poll with nothing newer is answered 304 at once (`polling: 'interval'`). */
  interval: boolean;
}

/** One subscriber of one or more channels; see the module comment. */
export class Subscription {
  /** Its waiters in the waiting room, one per non-empty channel of the request. */
  readonly links: Waiter[] = [];
  /** `checking`: reading the store; `waiting`: up to date, woken by events; `done`: over. */
  state: 'checking' | 'waiting' | 'done' = 'checking';
  private readonly id: MultiId;
  private dirty = false;
  private deleted = false;
  private opened = false;
  /** Counted in the store and announced to passthrough. */
  private entered = false;
  private timer: NodeJS.Timeout | undefined;
  /** Each distinct channel once, with the headers its passthrough notifications carry. */
  private readonly distinct: Array<[channel: string, headers: IncomingHttpHeaders]> = [];

  /**
   * @param channels the channels of the request in order; '' is a slot that never fires
   *   (Nchan's `a,,b`)
   * @param id where the subscriber is, null for "from the oldest"
   * @param output where messages go
   * @param headers the request's headers, for passthrough
   * @param context the location's waiting room and rules
   */
  constructor(
    readonly channels: readonly string[],
    id: MultiId | null,
    private readonly output: SubscriptionOutput,
    headers: IncomingHttpHeaders,
    private readonly context: SubscriptionContext,
  ) {
    this.id = id ?? startId(channels.length);
    const seen = new Set<string>();
    for (const channel of channels) {
      if (channel === '' || seen.has(channel)) continue;
      seen.add(channel);
      // One headers object per notification pair: the notifier pairs an unsubscribe with its subscribe by it.
      this.distinct.push([channel, seen.size === 1 ? headers : { ...headers }]);
    }
  }

  /** Join the channels' lists and read what the store has after the subscriber's id. */
  start(): void {
    const { room, location } = this.context;
    // Later slots first: a new message of a channel named twice reaches the last slot
    // first, as Nchan delivers it (`/multi/a,a`).
    for (let slot = this.channels.length - 1; slot >= 0; slot--) {
      const channel = this.channels[slot];
      if (channel === '') continue;
      const link = newWaiter(undefined as never, location);
      link.owner = this;
      link.slot = slot;
      link.channel = channel;
      link.state = 'checking';
      this.links.push(link);
      room.add(link);
    }
    this.check();
  }

  /** An event of the channel of `slot` (from the waiting room). */
  onEvent(slot: number, event: StoreEvent): void {
    if (this.state === 'done') return;
    if (event.type === 'delete') {
      if (this.state === 'checking') this.deleted = true;
      else this.end('gone');
      return;
    }
    if (this.state === 'checking') {
      this.dirty = true;
      return;
    }
    const cursor = channelCursor(this.id, slot);
    if (cursor === null || compareIds(event.message.id, cursor) > 0) {
      this.deliver(slot, event.message);
    }
  }

  /** End from the daemon's side: the output says why and closes. */
  end(reason: EndReason): void {
    if (this.state === 'done') return;
    this.stop();
    this.output.end(reason, this.id);
  }

  /** The client went away (or the output closed): leave everything, say nothing. */
  stop(): void {
    if (this.state === 'done') return;
    this.setState('done');
    const { room, location } = this.context;
    for (const link of this.links) room.leave(link);
    clearTimeout(this.timer);
    if (this.entered) {
      this.entered = false;
      for (const [channel, headers] of this.distinct) {
        room.store.subscriberStopped(channel)?.catch(ignore);
        location.passthrough?.unsubscribe(channel, headers);
      }
    }
  }

  /** Read the first buffered message after the id, across the channels; repeat while there is one. */
  private check(): void {
    const store = this.context.room.store;
    if (store.nextNow) {
      const nextNow = store.nextNow.bind(store);
      for (;;) {
        this.dirty = false;
        const results = this.links.map((link) => nextNow(link.channel, this.cursorOf(link)));
        if (!this.checked(results)) return;
      }
    }
    this.dirty = false;
    Promise.all(this.links.map((link) => store.next(link.channel, this.cursorOf(link)))).then(
      (results) => {
        // After the store's promise no caller's catch is left: a bug of ours must end
        // this subscriber here, not reach the process as an unhandled rejection.
        try {
          if (this.checked(results)) this.check();
        } catch (error) {
          this.fail(500, internalErrorLine(error));
        }
      },
      (error: Error) => {
        if (this.state === 'done') return;
        this.fail(503, `pushserver: store unavailable for a subscriber: ${error.message}`);
      },
    );
  }

  /** Log `line` and end the subscriber: an open stream ends, a request gets `status`. */
  private fail(status: number, line: string): void {
    this.context.location.errorLog(line);
    if (this.state === 'done') return;
    if (this.opened) {
      this.end('gone');
      return;
    }
    this.stop();
    this.output.refuse(status);
  }

  private cursorOf(link: Waiter) {
    return channelCursor(this.id, link.slot);
  }

  /**
   * Act on one read of every channel (results in `links` order).
   *
   * @returns whether to read again (a message was sent, or one arrived meanwhile)
   */
  private checked(results: NextResult[]): boolean {
    if (this.state === 'done') return false;
    if (this.deleted) {
      if (!this.opened && this.output.stream) this.open();
      this.end('gone');
      return false;
    }
    // The oldest message after the id; a tie goes to the earlier slot (Nchan's order).
    let found: Message | undefined;
    let slot = -1;
    let exists = false;
    for (let i = 0; i < results.length; i++) {
      const { message } = results[i];
      exists ||= results[i].exists;
      if (!message) continue;
      const linkSlot = this.links[i].slot;
      const order = found ? compareIds(message.id, found.id) : -1;
      if (order < 0 || (order === 0 && linkSlot < slot)) {
        found = message;
        slot = linkSlot;
      }
    }
    if (found) {
      if (!this.opened) this.open();
      this.deliver(slot, found);
      return (this.state as Subscription['state']) !== 'done';
    }
    if (!exists && !this.context.createOnGet && !this.opened) {
      this.stop();
      this.output.refuse(404);
      return false;
    }
    if (this.dirty) return true;
    if (!this.output.stream && this.context.interval) {
      this.stop();
      this.output.end('not-modified', this.id);
      return false;
    }
    if (!this.opened) this.open();
    this.setState('waiting');
    if (!this.output.stream) {
      this.enter();
      this.output.parked();
    }
    return false;
  }

  /** Accept the subscriber: the output's head; a stream counts from now on. */
  private open(): void {
    this.opened = true;
    this.output.open();
    if (this.output.stream) this.enter();
  }

  /** Count the subscriber, announce it, start its timeout. */
  private enter(): void {
    if (this.entered || this.state === 'done') return;
    this.entered = true;
    const { room, location, timeoutSeconds } = this.context;
    for (const [channel, headers] of this.distinct) {
      room.store.subscriberStarted(channel)?.catch(ignore);
      location.passthrough?.subscribe(channel, headers);
    }
    if (timeoutSeconds > 0) {
      this.timer = setTimeout(() => this.end('timeout'), timeoutSeconds * 1000);
    }
  }

  private deliver(slot: number, message: Message): void {
    advance(this.id, slot, message.id);
    if (!this.output.stream) this.stop();
    this.output.message(message, this.id);
  }

  private setState(state: Subscription['state']): void {
    this.state = state;
    for (const link of this.links) link.state = state;
  }
}

function ignore(): void {}
