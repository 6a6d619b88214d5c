// The browser client's reading and writing of Nchan's message ids (pure functions, run
// here in Node): what a multiplexed connection resumes from, checked against what Nchan
// 1.3.6 accepts (a multi-channel id needs one bracketed tag; a one-channel id a real tag).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  comparePositions,
  cursorFromId,
  idFromCursor,
  parseMessageId,
  resumeId,
} from '../../src/client/protocol.js';

describe('client message ids', () => {
  test('parseMessageId reads one-channel and multiplexed ids', () => {
    assert.deepEqual(parseMessageId('1796323864:0'), { time: 1796323864, tags: [0], source: 0 });
    assert.deepEqual(parseMessageId('1796323864:-,[0],3'), {
      time: 1796323864,
      tags: [-1, 0, 3],
      source: 1,
    });
    for (const bad of [
      null,
      '',
      'x',
      ':0',
      '12:',
      '12:a',
      '12:[0],[1]',
      '12:0,1',
      '12:[0',
      '-1:0',
    ]) {
      assert.equal(parseMessageId(bad), null, String(bad));
    }
  });

  test('a long-poll answer gives the same id as a stream', () => {
    const cursor = cursorFromId('1796323864:[1],0');
    assert.deepEqual(cursor, { lastModified: 'Thu, 03 Dec 2026 18:51:04 GMT', etag: '[1],0' });
    assert.deepEqual(idFromCursor(cursor), { time: 1796323864, tags: [1, 0], source: 0 });
    assert.equal(idFromCursor({ lastModified: 'not a date', etag: '0' }), null);
  });

  test('resumeId: the earliest second, each channel from its own tag, one in brackets', () => {
    assert.equal(resumeId([]), null);
    assert.equal(resumeId([{ time: 5, tag: 2 }]), '5:2');
    assert.equal(
      resumeId([
        { time: 5, tag: 2 },
        { time: 7, tag: 0 },
      ]),
      '5:[2],-',
    );
    assert.equal(
      resumeId([
        { time: 7, tag: 1 },
        { time: 5, tag: 0 },
        { time: 5, tag: 3 },
      ]),
      '5:-,[0],3',
    );
    // A channel never read: from the oldest buffered message, for all (duplicates dropped).
    assert.equal(resumeId([{ time: 5, tag: 2 }, null]), null);
  });

  test('positions compare by second, then tag', () => {
    assert.ok(comparePositions({ time: 5, tag: 9 }, { time: 6, tag: 0 }) < 0);
    assert.ok(comparePositions({ time: 6, tag: 1 }, { time: 6, tag: 0 }) > 0);
    assert.equal(comparePositions({ time: 6, tag: 1 }, { time: 6, tag: 1 }), 0);
  });
});
