// Where a page rendered now starts (src/channel/start.ts): the later of the render's
// second and this process's last publish to the channel, kept for a bounded number of
// channels.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rememberPublished, renderStart } from '../../src/channel/start.js';

const NOW = 1_796_364_664_500;
const SECOND = 1_796_364_664;
const url = (index: number) => `http://127.0.0.1:8001/publisher/c${index}`;

describe('renderStart', () => {
  test("the render's second, or a later own publish; never moved back", () => {
    assert.equal(renderStart(url(0), NOW), `${SECOND}:-`);
    rememberPublished(url(0), `${SECOND}:3`);
    assert.equal(renderStart(url(0), NOW), `${SECOND}:3`);
    rememberPublished(url(0), `${SECOND}:1`);
    assert.equal(renderStart(url(0), NOW), `${SECOND}:3`);
    // A render a second later starts after that second's beginning.
    assert.equal(renderStart(url(0), NOW + 1000), `${SECOND + 1}:-`);
    for (const bad of ['', '5', '5:', ':5', '5:-', '5:[0],-', '1e3:0', ' 5:0']) {
      rememberPublished(url(1), bad);
      assert.equal(renderStart(url(1), 0), '0:-', bad);
    }
  });

  test('keeps 10,000 channels: the least recently published is forgotten first', () => {
    for (let index = 10; index < 10_010; index++) rememberPublished(url(index), `${SECOND}:0`);
    // Publishing again to c10 makes it the newest; c11 is then the oldest.
    rememberPublished(url(10), `${SECOND}:1`);
    rememberPublished(url(20_000), `${SECOND}:0`);
    assert.equal(renderStart(url(10), NOW), `${SECOND}:1`);
    assert.equal(renderStart(url(20_000), NOW), `${SECOND}:0`);
    // c0 (the first test's) and c11 went; the count stays at the bound.
    assert.equal(renderStart(url(11), NOW), `${SECOND}:-`);
    assert.equal(renderStart(url(12), NOW), `${SECOND}:0`);
  });
});
