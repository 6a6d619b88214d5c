import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createRecordingPublisher,
  sendUpdate,
  setDefaultPublisher,
} from '../../src/publish/index.ts';
import { resolveSettings } from '../../src/settings/index.ts';

describe('createRecordingPublisher', () => {
  test('records calls instead of publishing, and sendUpdate can be pointed at it', async () => {
    const recorder = createRecordingPublisher({ settings: resolveSettings() });
    const restore = setDefaultPublisher(recorder);
    try {
      const result = await sendUpdate('orders', { type: 'created', id: 1 });
      await sendUpdate('other', 2, { alreadySerialized: false });
      await sendUpdate('orders', { type: 'paid', id: 1 });
      assert.deepEqual(result, {
        ok: true,
        delivered: false,
        queued: true,
        status: 202,
        url: 'http://127.0.0.1:8001/publisher/orders',
      });
      assert.deepEqual(recorder.dataFor('orders'), [
        { type: 'created', id: 1 },
        { type: 'paid', id: 1 },
      ]);
      assert.deepEqual(recorder.updates[1], {
        channelId: 'other',
        data: 2,
        options: { alreadySerialized: false },
        url: 'http://127.0.0.1:8001/publisher/other',
      });
      await assert.rejects(sendUpdate('', 1), { name: 'ChannelIdError' });
      recorder.clear();
      assert.deepEqual(recorder.updates, []);
    } finally {
      restore();
    }
  });

  test('delivered: true answers as if a subscriber waited', async () => {
    const recorder = createRecordingPublisher({ delivered: true, settings: resolveSettings() });
    const result = await recorder.sendUpdate('c', 1);
    assert.equal(result.status, 201);
    assert.equal(result.delivered, true);
  });
});
