// Compile-time checks of the typed `signals`, checked by `npm run typecheck` (never run):
// each `@ts-expect-error` fails the type check when the line below it compiles.
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type express from 'express';
import type {
  PostSendUpdateEvent,
  PreSendUpdateEvent,
  SendUpdateResult,
} from '../src/publish/index.ts';
import {
  type ChannelSignal,
  emitRobust,
  type SignalEvents,
  type SignalListener,
  type SignalPayload,
  signals,
} from '../src/signals.ts';

type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectTrue<T extends true>(): T | undefined {
  return undefined;
}

export function typedSignals(): void {
  // Each listener's payload is inferred from the event name.
  signals.on('postSendUpdate', (e) => {
    expectTrue<Equal<typeof e, PostSendUpdateEvent>>();
    const result: SendUpdateResult = e.result;
    return [result.status, e.response?.headers['content-type'], e.error?.status];
  });
  signals.once('preSendUpdate', (e) => {
    expectTrue<Equal<typeof e, PreSendUpdateEvent>>();
    e.request.headers.Authorization = 'Bearer x';
  });
  signals.prependListener('channelSubscribe', ({ req, channelId }) => {
    expectTrue<Equal<typeof req, IncomingMessage>>();
    return channelId.toUpperCase();
  });
  // A channel listener may name the request its app's middlewares made.
  const onSubscribe = ({ req, channelId }: ChannelSignal<express.Request>) => [req.ip, channelId];
  signals.on('channelSubscribe', onSubscribe).off('channelSubscribe', onSubscribe);
  signals.addListener('channelUnsubscribe', async ({ channelId }) => channelId);
  // A listener typed from the map, and the EventEmitter it still is.
  const onPost = (e: SignalEvents['postSendUpdate']) => e.channelId;
  signals.removeListener('postSendUpdate', onPost);
  const onPre: SignalListener<'preSendUpdate'> = (e) => e.request.url;
  signals.prependOnceListener('preSendUpdate', onPre);
  expectTrue<Equal<SignalPayload<'preSendUpdate'>, PreSendUpdateEvent>>();
  expectTrue<Equal<SignalPayload<'channelSubscribe', express.Request>['req'], express.Request>>();
  const emitter: EventEmitter = signals;
  expectTrue<Equal<ReturnType<typeof signals.listenerCount>, number>>();
  signals.removeAllListeners('preSendUpdate').removeAllListeners();
  emitRobust('channelSubscribe', { req: { user: 'alice' }, channelId: 'room' });
  emitter.setMaxListeners(20);

  // @ts-expect-error an event that does not exist
  signals.on('postSendUpdates', () => {});
  // @ts-expect-error a listener of another event's payload
  signals.on('postSendUpdate', (e: ChannelSignal) => e.channelId);
  // @ts-expect-error a channel listener of a publish payload
  signals.on('channelSubscribe', (e: PostSendUpdateEvent) => e.result);
  // @ts-expect-error preSendUpdate has no result yet
  signals.on('preSendUpdate', (e) => e.result);
  // @ts-expect-error the channel id is a string
  signals.off('channelUnsubscribe', ({ channelId }: { channelId: number }) => channelId);
  // @ts-expect-error an event that does not exist
  signals.listenerCount('postsendupdate');
  // @ts-expect-error a payload without its fields
  signals.emit('postSendUpdate', { channelId: 'c' });
  // @ts-expect-error a payload without its fields
  emitRobust('preSendUpdate', { channelId: 'c' });
}
