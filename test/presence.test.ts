import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type PresenceEvent, trackPresence } from '../src/presence.ts';
import { emitRobust } from '../src/signals.ts';

type Req = { user?: string };

const subscribe = (user: string | undefined, channelId: string) =>
  emitRobust('channelSubscribe', { req: { user }, channelId });
const unsubscribe = (user: string | undefined, channelId: string) =>
  emitRobust('channelUnsubscribe', { req: { user }, channelId });

function start(t: { after(fn: () => void): void }, graceMs = 1000) {
  const events: Array<[string, PresenceEvent]> = [];
  const presence = trackPresence<Req>({
    identify: (req) => req.user,
    graceMs,
    onJoin: (e) => events.push(['join', e]),
    onLeave: (e) => events.push(['leave', e]),
  });
  t.after(() => presence.stop());
  return { presence, events };
}

describe('trackPresence', () => {
  test('a re-poll after each delivered update does not flap', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { presence, events } = start(t);
    subscribe('alice', 'room');
    for (let i = 0; i < 5; i++) {
      unsubscribe('alice', 'room');
      t.mock.timers.tick(50);
      subscribe('alice', 'room');
    }
    assert.deepEqual(events, [['join', { channelId: 'room', user: 'alice' }]]);
    assert.deepEqual(presence.present('room'), ['alice']);
  });

  test('leaving is reported only once the grace period has passed', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { presence, events } = start(t, 1000);
    subscribe('alice', 'room');
    subscribe('bob', 'room');
    unsubscribe('alice', 'room');
    t.mock.timers.tick(999);
    assert.deepEqual(presence.present('room'), ['alice', 'bob'], 'still inside the grace period');
    assert.equal(events.length, 2);
    t.mock.timers.tick(1);
    assert.deepEqual(events.slice(2), [['leave', { channelId: 'room', user: 'alice' }]]);
    assert.deepEqual(presence.present('room'), ['bob']);
    // Coming back later is a new join.
    subscribe('alice', 'room');
    assert.deepEqual(events.slice(3), [['join', { channelId: 'room', user: 'alice' }]]);
  });

  test('two tabs of one user count once; leaving needs both gone', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { presence, events } = start(t, 100);
    subscribe('alice', 'room');
    subscribe('alice', 'room');
    unsubscribe('alice', 'room');
    t.mock.timers.tick(500);
    assert.deepEqual(presence.present('room'), ['alice']);
    unsubscribe('alice', 'room');
    t.mock.timers.tick(100);
    assert.deepEqual(
      events.map(([kind]) => kind),
      ['join', 'leave'],
    );
    assert.deepEqual(presence.present('room'), []);
  });

  test('channels are separate; anonymous requests and stray unsubscribes are ignored', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const { presence, events } = start(t, 100);
    subscribe(undefined, 'room');
    unsubscribe('carol', 'room');
    subscribe('alice', 'a');
    subscribe('alice', 'b');
    assert.deepEqual(presence.present('a'), ['alice']);
    assert.deepEqual(presence.present('b'), ['alice']);
    assert.deepEqual(presence.present('room'), []);
    unsubscribe('alice', 'a');
    t.mock.timers.tick(100);
    assert.deepEqual(
      events.map(([kind, e]) => `${kind} ${e.user} ${e.channelId}`),
      ['join alice a', 'join alice b', 'leave alice a'],
    );
  });

  test('listeners that throw do not stop others; on() returns an off function; stop() ends tracking', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const errors: string[] = [];
    t.mock.method(console, 'error', (line: string) => errors.push(line));
    const presence = trackPresence<Req>({
      identify: (req) => {
        if (req.user === 'boom') throw new Error('identify bug');
        return req.user;
      },
      graceMs: 10,
      onJoin: () => {
        throw new Error('join bug');
      },
    });
    t.after(() => presence.stop());
    const joined: string[] = [];
    const off = presence.on('join', (e) => joined.push(e.user));
    subscribe('alice', 'room');
    subscribe('boom', 'room');
    assert.deepEqual(joined, ['alice']);
    assert.equal(errors.length, 2);
    assert.match(errors[0], /presence "join" callback failed: Error: join bug/);
    assert.match(errors[1], /presence "identify" callback failed: Error: identify bug/);
    off();
    subscribe('dave', 'room');
    assert.deepEqual(joined, ['alice']);
    presence.stop();
    subscribe('erin', 'room');
    assert.deepEqual(presence.present('room'), []);
  });
});
