import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import type { PreSendUpdateEvent } from '../src/publish/index.ts';
import { type ChannelSignal, emitRobust, signals } from '../src/signals.ts';

const pre = { channelId: 'c', data: 1, alreadySerialized: false } as PreSendUpdateEvent;

describe('signals', () => {
  afterEach(() => signals.removeAllListeners());

  test('an EventEmitter at run time: on, once, off and removeAllListeners work', () => {
    assert.ok(signals instanceof EventEmitter);
    const seen: string[] = [];
    const onPre = (e: PreSendUpdateEvent) => seen.push(`on ${e.channelId}`);
    signals.on('preSendUpdate', onPre);
    signals.once('preSendUpdate', (e) => seen.push(`once ${e.channelId}`));
    assert.equal(signals.listenerCount('preSendUpdate'), 2);
    emitRobust('preSendUpdate', pre);
    emitRobust('preSendUpdate', pre);
    signals.off('preSendUpdate', onPre);
    emitRobust('preSendUpdate', pre);
    assert.deepEqual(seen, ['on c', 'once c', 'on c']);
    signals.on('channelSubscribe', () => seen.push('subscribe'));
    signals.removeAllListeners('channelSubscribe');
    emitRobust('channelSubscribe', { req: {}, channelId: 'c' });
    assert.equal(seen.length, 3);
  });

  test('emission reaches every listener of the event, in order, with the payload as given', () => {
    const seen: Array<[string, ChannelSignal<{ user: string }>]> = [];
    signals.on('channelSubscribe', (e: ChannelSignal<{ user: string }>) => seen.push(['a', e]));
    signals.prependListener('channelSubscribe', (e: ChannelSignal<{ user: string }>) =>
      seen.push(['first', e]),
    );
    signals.on('channelSubscribe', (e: ChannelSignal<{ user: string }>) => seen.push(['b', e]));
    signals.on('channelUnsubscribe', () => assert.fail('another event'));
    const payload = { req: { user: 'alice' }, channelId: 'room' };
    emitRobust('channelSubscribe', payload);
    assert.deepEqual(
      seen.map(([name]) => name),
      ['first', 'a', 'b'],
    );
    for (const [, event] of seen) assert.equal(event, payload);
  });

  test('a listener that throws or rejects is reported; the others still run', async (t) => {
    const errors = t.mock.method(console, 'error', () => {});
    const calls: string[] = [];
    signals.on('preSendUpdate', () => {
      throw new Error('listener bug');
    });
    signals.on('preSendUpdate', async () => {
      throw new Error('async bug');
    });
    signals.on('preSendUpdate', () => calls.push('third'));
    emitRobust('preSendUpdate', pre);
    assert.deepEqual(calls, ['third']);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      errors.mock.calls.map((call) => String(call.arguments[0]).split('\n')[0]),
      [
        'pushserver: a "preSendUpdate" listener failed: Error: listener bug',
        'pushserver: a "preSendUpdate" listener failed: Error: async bug',
      ],
    );
  });
});
