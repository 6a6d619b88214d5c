import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { infoBody } from '../../../src/server/protocol/channel-info.js';

const T1 = 1_795_828_879; // Sat, 28 Nov 2026 01:21:19 GMT

describe('channel info bodies', () => {
  const info = { messages: 2, requested: 5, subscribers: 1, lastMessageId: { time: T1, tag: 1 } };
  test('text/plain by default and for text/html', () => {
    for (const accept of [undefined, 'text/html', '*/*']) {
      assert.deepEqual(infoBody(info, accept), {
        type: 'text/plain',
        body: `queued messages: 2\r\nlast requested: 5 sec. ago\r\nactive subscribers: 1\r\nlast message id: ${T1}:1`,
      });
    }
  });
  test('application/json answers text/json; a channel without messages says 0:0', () => {
    assert.deepEqual(infoBody({ ...info, lastMessageId: null }, 'application/json'), {
      type: 'text/json',
      body: '{"messages": 2, "requested": 5, "subscribers": 1, "last_message_id": "0:0" }',
    });
  });
  test('the first known type in the Accept header wins', () => {
    assert.equal(infoBody(info, 'text/yaml, application/json').type, 'text/yaml');
    assert.equal(infoBody(info, 'application/xml;q=0.9').type, 'text/xml');
  });
});
