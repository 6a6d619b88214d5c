// The daemon's own error lines go to its `errorLog` (which `runpushserver --workers`
// tags with the worker), never straight to the console: a bug of ours answered 500 on
// the raw path and on node:http's, and a store that fails a subscriber's read.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createPushServer, type PushServer } from '../../src/server/daemon.js';
import { createMemoryStore } from '../../src/server/store/memory.js';
import type { MessageId, Store } from '../../src/server/store/types.js';
import { resolveSettings } from '../../src/settings/index.js';
import { request } from '../conformance/http-client.js';

const SETTINGS = resolveSettings({}, 'error-log test');

/** A memory store whose publishes throw and whose reads fail, as a bug or an outage would. */
function brokenStore(): Store {
  const memory = createMemoryStore(SETTINGS.stores.default);
  return {
    ...memory,
    publishNow: () => {
      throw new Error('a bug in publish');
    },
    publish: () => {
      throw new Error('a bug in publish');
    },
    nextNow: undefined,
    // A message without an id (a bug) on `buggy*`; an outage everywhere else.
    next: (channel) =>
      channel.startsWith('buggy')
        ? Promise.resolve({
            message: {
              id: undefined as unknown as MessageId,
              contentType: null,
              body: Buffer.from('x'),
              event: undefined,
            },
            exists: true,
          })
        : Promise.reject(new Error('the store is down')),
  };
}

describe("the daemon's error lines", () => {
  const servers: PushServer[] = [];
  after(() => Promise.all(servers.map((push) => push.close())));

  test('go to errorLog, with the stack of a bug; the request gets 500 or 503', async (t) => {
    const lines: string[] = [];
    const consoleError = t.mock.method(console, 'error', () => {});
    const push = createPushServer(SETTINGS, {
      stores: { default: brokenStore() },
      errorLog: (line) => lines.push(line),
    });
    servers.push(push);
    const { port } = await push.listen(0, '127.0.0.1');
    const origin = `http://127.0.0.1:${port}`;

    // POST is served on the raw path, PUT by node:http: the same line from both.
    for (const method of ['POST', 'PUT']) {
      const answer = await request(origin, method, '/publisher/room', { body: 'hello' });
      assert.equal(answer?.status, 500, method);
      assert.equal(answer?.text, 'Internal Server Error', method);
    }
    // A one-channel poll gets 503 with no line of its own (a Redis store logs its
    // outage once); a multiplexed one says which read failed.
    const poll = await request(origin, 'GET', '/subscriber/room');
    assert.equal(poll?.status, 503);
    assert.equal(poll?.text, 'store unavailable: the store is down');
    const multi = await request(origin, 'GET', '/multi/room,other');
    assert.equal(multi?.status, 503);
    // A bug after the store's promise: the subscriber gets 500, the daemon goes on.
    const buggy = await request(origin, 'GET', '/multi/buggy,buggy-too');
    assert.equal(buggy?.status, 500);
    assert.equal((await request(origin, 'GET', '/subscriber/room'))?.status, 503);

    assert.equal(lines.length, 4, lines.join('\n'));
    for (const line of lines.slice(0, 2)) {
      assert.match(line, /^pushserver: internal error: Error: a bug in publish\n {4}at /);
    }
    assert.equal(lines[2], 'pushserver: store unavailable for a subscriber: the store is down');
    assert.match(lines[3], /^pushserver: internal error: TypeError: .*\n {4}at /);
    assert.equal(consoleError.mock.callCount(), 0, 'nothing written around errorLog');
  });

  test('the status location: a bug while counting or writing costs that request', async (t) => {
    const lines: string[] = [];
    t.mock.method(console, 'error', () => {});
    const memory = createMemoryStore(SETTINGS.stores.default);
    const counting = createPushServer(SETTINGS, {
      stores: {
        default: {
          ...memory,
          stats: () => {
            throw new Error('a bug in stats');
          },
        },
      },
      errorLog: (line) => lines.push(line),
    });
    // Another worker's counts that cannot be added up: the bug is after a promise.
    const gathering = createPushServer(SETTINGS, {
      gatherStats: async (own) => [own, { labels: {}, stats: undefined as never }],
      errorLog: (line) => lines.push(line),
    });
    servers.push(counting, gathering);
    for (const push of [counting, gathering]) {
      const { port } = await push.listen(0, '127.0.0.1');
      const answer = await request(`http://127.0.0.1:${port}`, 'GET', '/nchan_status');
      assert.equal(answer?.status, 500);
    }
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0], /^pushserver: internal error: Error: a bug in stats\n {4}at /);
    assert.match(lines[1], /^pushserver: internal error: TypeError: .*\n {4}at /);
  });
});
