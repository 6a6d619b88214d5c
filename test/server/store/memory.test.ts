import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMemoryStore } from '../../../src/server/store/memory.js';
import type { Message, StoreEvent } from '../../../src/server/store/types.js';

const T0 = 1_795_828_879_000;

function fixture(
  limits: { maxMessages?: number; minMessages?: number; messageTimeout?: number } = {},
) {
  let clock = T0;
  const store = createMemoryStore(
    { maxMessages: 10, minMessages: 0, messageTimeout: 3600, ...limits },
    { now: () => clock },
  );
  const events: StoreEvent[] = [];
  store.onEvent((event) => events.push(event));
  const publish = async (channel: string, text: string) => {
    const result = await store.publish(
      channel,
      { contentType: 'text/plain', body: Buffer.from(text) },
      { create: true },
    );
    assert.ok(result);
    return result;
  };
  const bodies = (messages: Array<Message | undefined>) => messages.map((m) => m?.body.toString());
  return {
    store,
    events,
    publish,
    bodies,
    tick(ms: number) {
      clock += ms;
    },
  };
}

describe('memory store', () => {
  test('ids: a counter within the second, back to 0 in the next; never backwards', async () => {
    const f = fixture();
    const ids = [];
    ids.push((await f.publish('c', 'a')).message.id);
    ids.push((await f.publish('c', 'b')).message.id);
    f.tick(1000);
    ids.push((await f.publish('c', 'c')).message.id);
    f.tick(-5000); // the clock steps back
    ids.push((await f.publish('c', 'd')).message.id);
    const second = T0 / 1000;
    assert.deepEqual(ids, [
      { time: second, tag: 0 },
      { time: second, tag: 1 },
      { time: second + 1, tag: 0 },
      { time: second + 1, tag: 1 },
    ]);
  });

  test('next: the first message strictly after the cursor, the oldest for null, none at the end', async () => {
    const f = fixture();
    const a = (await f.publish('c', 'a')).message;
    const b = (await f.publish('c', 'b')).message;
    f.tick(2000);
    const c = (await f.publish('c', 'c')).message;
    const next = async (cursor: { time: number; tag: number } | null) =>
      (await f.store.next('c', cursor)).message;
    assert.deepEqual(
      f.bodies([await next(null), await next(a.id), await next(b.id), await next(c.id)]),
      ['a', 'b', 'c', undefined],
    );
    assert.equal((await next({ time: a.id.time, tag: 7 }))?.body.toString(), 'c');
    assert.equal((await next({ time: a.id.time, tag: -1 }))?.body.toString(), 'a');
    assert.equal((await next({ time: a.id.time + 1, tag: 0 }))?.body.toString(), 'c');
    assert.deepEqual(await f.store.next('unknown', null), { message: undefined, exists: false });
  });

  test('bodies read back byte for byte across slab compactions, evictions and large bodies', async () => {
    const { store, publish } = fixture({ maxMessages: 50 });
    const sent: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      // Sizes from empty to over the slab limit; bytes that differ per message.
      const size = i % 37 === 0 ? 5000 + i : (i * 53) % 700;
      const body = Buffer.alloc(size, i % 251);
      if (size > 0) body[0] = i % 256;
      sent.push(body);
      const result = await store.publish('slab', { contentType: null, body }, { create: true });
      assert.ok(result);
      // The event's message and a read of the newest agree with what was sent.
      assert.ok(result.message.body.equals(body));
    }
    let cursor = null;
    const got: Buffer[] = [];
    for (;;) {
      const { message } = await store.next('slab', cursor);
      if (!message) break;
      got.push(Buffer.from(message.body));
      cursor = message.id;
    }
    assert.equal(got.length, 50);
    for (const [i, body] of got.entries())
      assert.ok(body.equals(sent[350 + i]), `message ${350 + i}`);
    // A message read before later publishes move the slab keeps its bytes.
    const held = (await store.next('slab', null)).message;
    for (let i = 0; i < 300; i++) await publish('slab', `later ${i} ${'y'.repeat(i)}`);
    assert.ok(held?.body.equals(sent[350]));
  });

  test('maxMessages evicts the oldest; an evicted cursor gets the oldest remaining', async () => {
    const f = fixture({ maxMessages: 3 });
    const ids = [];
    for (const text of ['e1', 'e2', 'e3', 'e4', 'e5'])
      ids.push((await f.publish('c', text)).message.id);
    assert.equal((await f.store.info('c'))?.messages, 3);
    assert.equal((await f.store.next('c', null)).message?.body.toString(), 'e3');
    assert.equal((await f.store.next('c', ids[0])).message?.body.toString(), 'e3');
  });

  test('messageTimeout expires messages, minMessages keeps the newest; an empty channel is forgotten', async () => {
    const f = fixture({ messageTimeout: 10, minMessages: 1 });
    await f.publish('c', 'old');
    f.tick(5000);
    await f.publish('c', 'new');
    f.tick(6000); // 'old' is 11 s old, 'new' 6 s
    assert.equal((await f.store.next('c', null)).message?.body.toString(), 'new');
    f.tick(60_000); // both expired; minMessages keeps one
    assert.equal((await f.store.next('c', null)).message?.body.toString(), 'new');
    const g = fixture({ messageTimeout: 10 });
    await g.publish('gone', 'x');
    g.tick(10_000);
    assert.deepEqual(await g.store.next('gone', null), { message: undefined, exists: false });
    assert.equal(await g.store.info('gone'), undefined);
  });

  test('info: counts, seconds since a subscriber asked, waiting subscribers, the last id', async () => {
    const f = fixture();
    assert.equal(await f.store.info('c'), undefined);
    const { info } = await f.publish('c', 'a');
    assert.deepEqual(info, {
      messages: 1,
      requested: -1,
      subscribers: 0,
      lastMessageId: { time: T0 / 1000, tag: 0 },
    });
    await f.store.next('c', null);
    await f.store.subscriberStarted('c');
    f.tick(3000);
    const later = await f.store.info('c');
    assert.equal(later?.requested, 3);
    assert.equal(later?.subscribers, 1);
    const { info: published } = await f.publish('c', 'b');
    assert.equal(published.subscribers, 1, 'counted before anyone is woken (201)');
    await f.store.subscriberStopped('c');
    await f.store.subscriberStopped('c'); // never below 0
    assert.equal((await f.store.info('c'))?.subscribers, 0);
  });

  test('a channel that only had a subscriber is forgotten when it leaves', async () => {
    const f = fixture();
    await f.store.subscriberStarted('w');
    assert.equal((await f.store.info('w'))?.subscribers, 1);
    assert.equal((await f.store.next('w', null)).exists, true);
    await f.store.subscriberStopped('w');
    assert.equal(await f.store.info('w'), undefined);
  });

  test('create: false refuses unknown channels without storing or announcing', async () => {
    const f = fixture();
    const refused = await f.store.publish(
      'c',
      { contentType: null, body: Buffer.alloc(0) },
      { create: false },
    );
    assert.equal(refused, undefined);
    assert.deepEqual(f.events, []);
    await f.publish('c', 'x');
    const accepted = await f.store.publish(
      'c',
      { contentType: null, body: Buffer.from('y') },
      { create: false },
    );
    assert.equal(accepted?.message.id.tag, 1);
  });

  test('events: one per publish (with the message) and per delete; delete returns the old info', async () => {
    const f = fixture();
    const { message } = await f.publish('c', 'a');
    const before = await f.store.delete('c');
    assert.equal(before?.messages, 1);
    assert.equal(await f.store.delete('c'), undefined);
    assert.deepEqual(f.events, [
      { type: 'message', channel: 'c', message },
      { type: 'delete', channel: 'c' },
    ]);
    assert.equal(await f.store.info('c'), undefined);
  });
});
