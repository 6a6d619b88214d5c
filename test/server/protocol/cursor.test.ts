import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCursor, parseEtag } from '../../../src/server/protocol/cursor.js';
import { parseHttpDate } from '../../../src/server/protocol/dates.js';

const T1 = 1_795_828_879; // Sat, 28 Nov 2026 01:21:19 GMT

describe('cursor headers, read as Nchan reads them', () => {
  test('dates: RFC 1123, RFC 850, asctime, no zone, +0000; garbage is NaN', () => {
    for (const text of [
      'Sat, 28 Nov 2026 01:21:19 GMT',
      'Saturday, 28-Nov-26 01:21:19 GMT',
      'Sat Nov 28 01:21:19 2026',
      'Sat, 28 Nov 2026 01:21:19',
      'Sat, 28 Nov 2026 01:21:19 +0000',
    ]) {
      assert.equal(parseHttpDate(text), T1, text);
    }
    assert.ok(Number.isNaN(parseHttpDate('garbage')));
    assert.ok(Number.isNaN(parseHttpDate('Sat, 28 Foo 2026 01:21:19 GMT')));
  });

  test('Etags: atoi after W/ and quotes', () => {
    const cases: Array<[string, number]> = [
      ['1', 1],
      ['"1"', 1],
      ['W/"12"', 12],
      ['abc', 0],
      ['', 0],
      ['-1', -1],
      ['7x', 7],
    ];
    for (const [text, value] of cases) assert.equal(parseEtag(text), value, text);
  });

  test('cursor: null from the oldest, invalid for a date without an Etag', () => {
    assert.equal(parseCursor(undefined, undefined), null);
    assert.equal(parseCursor(undefined, '3'), null);
    assert.equal(parseCursor('garbage', '3'), null);
    assert.equal(parseCursor('Thu, 1 Jan 1970 00:00:00 GMT', '0'), null);
    assert.equal(parseCursor('Thu, 1 Jan 1970 00:00:00 GMT', undefined), null);
    assert.equal(parseCursor('Sat, 28 Nov 2026 01:21:19 GMT', undefined), 'invalid');
    assert.deepEqual(parseCursor('Sat, 28 Nov 2026 01:21:19 GMT', 'W/"2"'), { time: T1, tag: 2 });
  });
});
