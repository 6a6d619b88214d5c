/**
 * The app's signals, django-pushserver's: one `EventEmitter` whose events and payloads
 * are typed for users.
 *
 * @module
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { PostSendUpdateEvent, PreSendUpdateEvent } from './publish/types.js';

/**
 * What `channelSubscribe` / `channelUnsubscribe` listeners receive (`ChannelSignal` of
 * `pushserver/express` too).
 *
 * @example signals.on('channelSubscribe', ({ req, channelId }: ChannelSignal<express.Request>) => log(req.session.user, channelId));
 */
export interface ChannelSignal<Req = IncomingMessage> {
  /** The notification request: the subscriber's headers, the app's middlewares applied (`req.session`, `req.user`). */
  req: Req;
  /** The channel id, decoded. */
  channelId: string;
}

/**
 * Each event of {@link signals} and the payload its listeners receive.
 *
 * @example const onPost = (e: SignalEvents['postSendUpdate']) => log(e.result.status);
 */
export interface SignalEvents {
  /** Before a publish goes out; a listener may change `request.url` and `request.headers`. */
  preSendUpdate: PreSendUpdateEvent;
  /** After a publish: its result, and the daemon's answer or the error. */
  postSendUpdate: PostSendUpdateEvent;
  /** A browser started waiting on a channel (from `pushserver/express`'s `passthrough()`). */
  channelSubscribe: ChannelSignal;
  /** A browser stopped waiting on a channel. */
  channelUnsubscribe: ChannelSignal;
}

/** The events whose request type a listener may name (`ChannelSignal<express.Request>`). */
type ChannelEventName = 'channelSubscribe' | 'channelUnsubscribe';

/**
 * What listeners of `event` receive. A channel event's request is whatever the app's
 * middlewares made of it: a listener may name its type `Req` (`express.Request`).
 *
 * @example type Pre = SignalPayload<'preSendUpdate'>; // PreSendUpdateEvent
 */
export type SignalPayload<
  K extends keyof SignalEvents,
  Req = IncomingMessage,
> = K extends ChannelEventName ? ChannelSignal<Req> : SignalEvents[K];

/**
 * A listener of `event`; its return value is ignored (a rejected promise is reported).
 *
 * @example const onPost: SignalListener<'postSendUpdate'> = ({ result }) => log(result.status);
 */
export type SignalListener<K extends keyof SignalEvents, Req = IncomingMessage> = (
  event: SignalPayload<K, Req>,
) => unknown;

/**
 * The type of {@link signals}: a Node `EventEmitter` whose listener methods take only
 * the events of {@link SignalEvents}, with their payload types. Written as its own
 * interface rather than `EventEmitter<Map>`, so it compiles against every `@types/node`
 * from 20 on.
 */
export interface Signals extends EventEmitter {
  on<K extends keyof SignalEvents, Req = IncomingMessage>(
    event: K,
    listener: SignalListener<K, Req>,
  ): this;
  once<K extends keyof SignalEvents, Req = IncomingMessage>(
    event: K,
    listener: SignalListener<K, Req>,
  ): this;
  off<K extends keyof SignalEvents, Req = IncomingMessage>(
    event: K,
    listener: SignalListener<K, Req>,
  ): this;
  addListener<K extends keyof SignalEvents, Req = IncomingMessage>(
    event: K,
    listener: SignalListener<K, Req>,
  ): this;
  removeListener<K extends keyof SignalEvents, Req = IncomingMessage>(
    event: K,
    listener: SignalListener<K, Req>,
  ): this;
  prependListener<K extends keyof SignalEvents, Req = IncomingMessage>(
    event: K,
    listener: SignalListener<K, Req>,
  ): this;
  prependOnceListener<K extends keyof SignalEvents, Req = IncomingMessage>(
    event: K,
    listener: SignalListener<K, Req>,
  ): this;
  removeAllListeners(event?: keyof SignalEvents): this;
  listenerCount(event: keyof SignalEvents): number;
  listeners<K extends keyof SignalEvents>(event: K): Array<SignalListener<K>>;
  rawListeners<K extends keyof SignalEvents>(event: K): Array<SignalListener<K>>;
  emit<K extends keyof SignalEvents>(event: K, payload: SignalEvents[K]): boolean;
  eventNames(): Array<keyof SignalEvents>;
}

/**
 * Events an app can listen to, as django-pushserver's signals:
 * `preSendUpdate` / `postSendUpdate` around every publish, and (with
 * `pushserver/express`'s passthrough receiver) `channelSubscribe` /
 * `channelUnsubscribe` when a browser starts or stops waiting on a channel.
 * Each listener gets its event's payload type (see {@link SignalEvents}).
 *
 * Listeners run in registration order; one that throws is reported on stderr and
 * does not stop the others (Django's `send_robust`).
 *
 * @example signals.on('postSendUpdate', ({ channelId, response }) => log(channelId, response?.status));
 */
export const signals: Signals = new EventEmitter() as Signals;

/**
 * Call every listener of `event` with `payload`, each in its own try/catch.
 * A listener's returned promise is awaited for its rejection only, never waited on.
 *
 * @param event the signal
 * @param payload what its listeners receive
 * @example emitRobust('channelSubscribe', { req, channelId: 'room-1' });
 */
export function emitRobust<K extends keyof SignalEvents, Req>(
  event: K,
  payload: SignalPayload<K, Req>,
): void {
  // rawListeners: a `once` listener's wrapper, which removes it before it runs.
  for (const listener of signals.rawListeners(event) as Array<(payload: unknown) => unknown>) {
    try {
      const result = listener(payload);
      if (result instanceof Promise) result.catch((error) => reportListenerError(event, error));
    } catch (error) {
      reportListenerError(event, error);
    }
  }
}

function reportListenerError(event: string, error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  console.error(`pushserver: a "${event}" listener failed: ${message}`);
}
