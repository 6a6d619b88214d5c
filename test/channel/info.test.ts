import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatChannelInfo, parseChannelInfo } from '../../src/channel/info.ts';

describe('parseChannelInfo', () => {
  test("Nchan's text and JSON bodies; an empty body (py-hbpush) gives nothing", () => {
    const expected = { messages: 1, requested: -1, subscribers: 0, lastMessageId: '1795828527:0' };
    assert.deepEqual(
      parseChannelInfo(
        'queued messages: 1\r\nlast requested: -1 sec. ago\r\nactive subscribers: 0\r\nlast message id: 1795828527:0',
      ),
      expected,
    );
    assert.deepEqual(
      parseChannelInfo(
        '{"messages": 1, "requested": -1, "subscribers": 0, "last_message_id": "1795828527:0" }',
      ),
      expected,
    );
    assert.equal(parseChannelInfo(''), undefined);
    assert.equal(parseChannelInfo('<html>oops</html>'), undefined);
  });

  // Nchan's bodies byte for byte (../shared/reference/nchan-protocol.md), one per Accept.
  test("Nchan's XML and YAML bodies", () => {
    assert.deepEqual(
      parseChannelInfo(
        '<?xml version="1.0" encoding="UTF-8" ?>\r\n<channel>\r\n  <messages>3</messages>\r\n  <requested>-1</requested>\r\n  <subscribers>0</subscribers>\r\n  <last_message_id>1795828533:2</last_message_id>\r\n</channel>',
      ),
      { messages: 3, requested: -1, subscribers: 0, lastMessageId: '1795828533:2' },
    );
    assert.deepEqual(
      parseChannelInfo(
        '---\r\nmessages: 4\r\nrequested: 12\r\nsubscribers: 2\r\nlast_message_id: "1795828533:3"\r\n\r\n',
      ),
      { messages: 4, requested: 12, subscribers: 2, lastMessageId: '1795828533:3' },
    );
  });

  test('JSON laid out otherwise is parsed; JSON without a message count, or broken, gives nothing', () => {
    assert.deepEqual(
      parseChannelInfo(
        '{\n  "messages": 2,\n  "requested": 7,\n  "subscribers": 1,\n  "last_message_id": "9:1"\n}\n',
      ),
      { messages: 2, requested: 7, subscribers: 1, lastMessageId: '9:1' },
    );
    assert.equal(parseChannelInfo('{"subscribers": 1}'), undefined);
    assert.equal(parseChannelInfo('{"messages": 1,'), undefined);
  });

  test('a text body with only the message count: the others take their "none" values', () => {
    assert.deepEqual(parseChannelInfo('queued messages: 5\r\n'), {
      messages: 5,
      requested: -1,
      subscribers: 0,
      lastMessageId: '',
    });
  });
});

describe('the writer and the reader agree', () => {
  test('every format the writer sends reads back as the same counters', () => {
    const info = { messages: 12, requested: -1, subscribers: 3, lastMessageId: '1795828879:4' };
    for (const accept of [undefined, 'application/json', 'text/xml', 'text/yaml']) {
      const { body } = formatChannelInfo(info, accept);
      assert.deepEqual(parseChannelInfo(body), info, accept ?? 'text');
    }
  });
});
