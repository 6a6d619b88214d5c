import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  advance,
  channelCursor,
  formatMessageId,
  formatTags,
  parseMessageId,
  parseTags,
  readMessageId,
  startId,
} from '../../../src/server/protocol/message-id.js';

const T = 1796323864;
const DATE = new Date(T * 1000).toUTCString();

describe('message ids', () => {
  test('tags read as Nchan reads them', () => {
    assert.deepEqual(parseTags('[0],-', 2), { tags: [0, -1], active: 0 });
    assert.deepEqual(parseTags('1,[1]', 2), { tags: [1, 1], active: 1 });
    assert.deepEqual(parseTags('W/"3"', 1), { tags: [3], active: 0 });
    assert.deepEqual(parseTags('abc', 1), { tags: [0], active: 0 });
    assert.deepEqual(parseTags('', 1), { tags: [0], active: 0 });
    assert.deepEqual(parseTags('-1', 1), { tags: [-1], active: 0 });
    // Missing tags are '-'; none at all names no active channel.
    assert.deepEqual(parseTags('0', 3), { tags: [0, -1, -1], active: 0 });
    assert.deepEqual(parseTags(undefined, 2), { tags: [-1, -1], active: -1 });
    assert.equal(parseTags('[0],[1]', 2), 'invalid');
    assert.equal(parseTags('0],1', 2), 'invalid');
  });

  test('compound ids: time:tags; no colon is not an id; a bad time is invalid', () => {
    assert.deepEqual(parseMessageId(`${T}:-,[0],-`, 3), { time: T, tags: [-1, 0, -1], active: 1 });
    assert.deepEqual(parseMessageId(`${T}:4`, 1), { time: T, tags: [4], active: 0 });
    assert.equal(parseMessageId('garbage', 1), undefined);
    assert.equal(parseMessageId('x:1', 1), 'invalid');
    assert.equal(parseMessageId('0:0', 1), null);
    // More tags than channels do not fit.
    assert.equal(parseMessageId(`${T}:0,0`, 1), 'invalid');
  });

  test('formats: Etag without the time, ids with it; one channel without brackets', () => {
    assert.equal(formatTags({ time: T, tags: [0], active: 0 }), '0');
    assert.equal(formatTags({ time: T, tags: [1, 0], active: 1 }), '1,[0]');
    assert.equal(formatMessageId({ time: T, tags: [-1, 0, -1], active: 1 }), `${T}:-,[0],-`);
    for (const text of [`${T}:[0],-`, `${T}:1,[1]`, `${T}:-,-,[7]`]) {
      const count = text.split(',').length;
      assert.equal(formatMessageId(parseMessageId(text, count) as never), text);
    }
  });

  test('advance: the same second keeps the other tags, a new second forgets them', () => {
    const id = startId(2);
    const seen: string[] = [];
    for (const [slot, time, tag] of [
      [0, T, 0],
      [1, T, 0],
      [0, T, 1],
      [1, T, 1],
      [0, T + 1, 0],
    ]) {
      advance(id, slot, { time, tag });
      seen.push(formatMessageId(id));
    }
    assert.deepEqual(seen, [
      `${T}:[0],-`,
      `${T}:0,[0]`,
      `${T}:[1],0`,
      `${T}:1,[1]`,
      `${T + 1}:[0],-`,
    ]);
  });

  test('channel cursors: a "-" is everything before that second', () => {
    const id = { time: T, tags: [2, -1], active: 0 };
    assert.deepEqual(channelCursor(id, 0), { time: T, tag: 2 });
    assert.deepEqual(channelCursor(id, 1), { time: T - 1, tag: 32767 });
    assert.equal(channelCursor(startId(2), 0), null);
  });

  test('a request: date + tags first, then a compound If-None-Match, Last-Event-ID, ?last_event_id=', () => {
    assert.deepEqual(
      readMessageId({ 'if-modified-since': DATE, 'if-none-match': '[0],-' }, '', 2),
      {
        time: T,
        tags: [0, -1],
        active: 0,
      },
    );
    assert.equal(readMessageId({ 'if-modified-since': DATE }, '', 2), 'invalid');
    assert.equal(
      readMessageId({ 'if-modified-since': 'garbage', 'last-event-id': `${T}:0` }, '', 1),
      null,
    );
    assert.equal(readMessageId({ 'if-none-match': '[0],-' }, '', 2), null);
    assert.deepEqual(readMessageId({ 'if-none-match': `${T}:3` }, '', 1), {
      time: T,
      tags: [3],
      active: 0,
    });
    const query = `last_event_id=${encodeURIComponent(`${T}:1`)}`;
    assert.deepEqual(readMessageId({}, query, 1), { time: T, tags: [1], active: 0 });
    assert.deepEqual(readMessageId({ 'last-event-id': `${T}:0` }, query, 1), {
      time: T,
      tags: [0],
      active: 0,
    });
    // A header that is no id leaves the query its turn.
    assert.deepEqual(readMessageId({ 'last-event-id': 'garbage' }, query, 1), {
      time: T,
      tags: [1],
      active: 0,
    });
    assert.equal(readMessageId({ 'last-event-id': '' }, '', 1), null);
    assert.equal(readMessageId({}, 'x=1', 1), null);
  });
});
