/**
 * `Idempotency-Key` end to end: `sendUpdate({idempotencyKey})` → the daemon's publisher
 * location (raw path and node:http) → the Redis store, which stores a retried publish
 * once. The memory store ignores the key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPublisher } from '../../../src/publish/index.js';
import { createPushServer, type PushServer } from '../../../src/server/daemon.js';
import { type Redis, startRedis } from '../../support/redis.js';
import { needs, REDIS } from '../../support/system.js';

async function daemon(store: object, rawSockets: boolean) {
  const push = createPushServer({ store } as never, { rawSockets });
  const { port } = await push.listen(0);
  const publisher = createPublisher({ address: '127.0.0.1', port });
  return { push, publisher };
}

describe('Idempotency-Key with the Redis store', { skip: needs(REDIS) }, () => {
  let redis: Redis;
  const started: PushServer[] = [];
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await Promise.all(started.map((push) => push.close()));
    await redis?.destroy();
  });

  for (const rawSockets of [true, false]) {
    test(`a publish sent again with its key is stored once (${rawSockets ? 'raw path' : 'node:http'})`, async () => {
      const store = { type: 'redis', url: redis.url, keyPrefix: `idem-${rawSockets}:` };
      const { push, publisher } = await daemon(store, rawSockets);
      started.push(push);
      const first = await publisher.sendUpdate('orders', { n: 1 }, { idempotencyKey: 'order-1' });
      const again = await publisher.sendUpdate('orders', { n: 1 }, { idempotencyKey: 'order-1' });
      assert.equal(first.channel?.messages, 1);
      assert.equal(again.channel?.messages, 1, 'the resend was not stored');
      const other = await publisher.sendUpdate('orders', { n: 2 }, { idempotencyKey: 'order-2' });
      assert.equal(other.channel?.messages, 2);
      const plain = await publisher.sendUpdate('orders', { n: 2 });
      assert.equal(plain.channel?.messages, 3, 'without a key every publish is stored');
      // The same key on another channel is another publish.
      const elsewhere = await publisher.sendUpdate('invoices', 1, { idempotencyKey: 'order-1' });
      assert.equal(elsewhere.channel?.messages, 1);
      await publisher.close();
    });
  }
});

describe('Idempotency-Key with the memory store', () => {
  test('is ignored: each publish is stored', async () => {
    const { push, publisher } = await daemon({ type: 'memory' }, true);
    try {
      await publisher.sendUpdate('orders', 1, { idempotencyKey: 'order-1' });
      const again = await publisher.sendUpdate('orders', 1, { idempotencyKey: 'order-1' });
      assert.equal(again.channel?.messages, 2);
    } finally {
      await publisher.close();
      await push.close();
    }
  });

  test('a key that cannot be a header value is refused before anything is sent', async () => {
    const { push, publisher } = await daemon({ type: 'memory' }, true);
    try {
      for (const key of ['', 'two words', 'é', 'x'.repeat(256)]) {
        await assert.rejects(publisher.sendUpdate('orders', 1, { idempotencyKey: key }), {
          name: 'TypeError',
          message: `pushserver: idempotencyKey must be 1 to 255 visible ASCII characters, got ${JSON.stringify(key)}`,
        });
      }
      assert.equal(await push.stores.default!.info('orders'), undefined);
    } finally {
      await publisher.close();
      await push.close();
    }
  });
});
