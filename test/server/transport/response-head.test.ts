// One response-head writer: for every kind of answer, the raw socket path and node:http
// alone write the same head (Date aside), with Node's internals in use and switched off.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  describeNodeInternals,
  nodeInternals,
  parseSwitchedOff,
} from '../../../src/server/transport/node-internals.js';
import { headStart, headTail, responseHead } from '../../../src/server/transport/response-head.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/answer-heads.ts', import.meta.url));

function runFixture(env: NodeJS.ProcessEnv): Promise<{
  internals: string;
  raw: Record<string, string>;
  node: Record<string, string>;
}> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', FIXTURE],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`${error.message}\n${stderr}`));
        resolve(JSON.parse(stdout));
      },
    );
  });
}

describe('response heads', () => {
  for (const [label, off] of [
    ['with Node internals', ''],
    ['with every Node internal switched off', 'all'],
  ] as const) {
    test(`raw path and node:http write the same head for every answer, ${label}`, async () => {
      const { internals, raw, node } = await runFixture({ PUSHSERVER_NODE_INTERNALS_OFF: off });
      if (off === 'all') {
        assert.equal(
          internals,
          'Node internals: sharedReadBuffer off (switched off), prebuiltHead off (switched off), connectionHandOff off (switched off)',
        );
      } else {
        assert.equal(
          internals,
          'Node internals: sharedReadBuffer on, prebuiltHead on, connectionHandOff on',
        );
      }
      assert.deepEqual(Object.keys(raw), Object.keys(node));
      assert.equal(Object.keys(raw).length, 21);
      for (const kind of Object.keys(raw)) assert.equal(raw[kind], node[kind], kind);
      // A stream: no length, it ends with the connection.
      assert.equal(
        raw['EventSource stream (200)'],
        'HTTP/1.1 200 OK\r\nServer: heads\r\nContent-Type: text/event-stream; charset=utf-8\r\n' +
          'Access-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Origin: http://app\r\n' +
          'Date: <date>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=75\r\n\r\n',
      );
      // The prebuilt answer of a message, exactly.
      assert.equal(
        raw['message (200)'],
        'HTTP/1.1 200 OK\r\nServer: heads\r\nLast-Modified: <time>\r\nEtag: 0\r\nVary: If-None-Match, If-Modified-Since\r\nCache-Control: etag=0\r\n' +
          'Content-Length: 5\r\nDate: <date>\r\nConnection: keep-alive\r\nKeep-Alive: timeout=75\r\n\r\n',
      );
      assert.match(raw['message, client closes (200)'], /\r\nConnection: close\r\n\r\n$/);
      assert.match(raw['shutting down (503)'], /^HTTP\/1\.1 503 Service Unavailable\r\n/);
      assert.match(raw['shutting down (503)'], /\r\nConnection: close\r\n/);
    });
  }

  test('the writer: order, Connection from the headers, unknown status text', () => {
    assert.equal(
      headStart(202, 's', ['Content-Type', 'text/plain'], 3),
      'HTTP/1.1 202 Accepted\r\nServer: s\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n',
    );
    assert.equal(
      headTail('D', true),
      'Date: D\r\nConnection: keep-alive\r\nKeep-Alive: timeout=75\r\n\r\n',
    );
    assert.equal(headTail('D', false), 'Date: D\r\nConnection: close\r\n\r\n');
    const closing = responseHead(503, 's', ['Connection', 'close'], 0, true);
    assert.equal(closing.closes, true);
    assert.match(
      closing.head,
      /^HTTP\/1\.1 503 Service Unavailable\r\nServer: s\r\nConnection: close\r\nContent-Length: 0\r\nDate: .*\r\n\r\n$/,
    );
    assert.match(responseHead(599, 's', [], 0, true).head, /^HTTP\/1\.1 599 unknown\r\n/);
  });
});

describe('Node internals', () => {
  test('all are in use on this Node unless switched off', () => {
    const off = parseSwitchedOff(process.env.PUSHSERVER_NODE_INTERNALS_OFF).off;
    for (const [name, used] of Object.entries(nodeInternals)) {
      assert.equal(used, !off.has(name as keyof typeof nodeInternals), name);
    }
    assert.match(describeNodeInternals(), /^Node internals: sharedReadBuffer (on|off)/);
  });

  test('the switch reads all, names, and reports unknown words', () => {
    assert.deepEqual([...parseSwitchedOff('all').off].sort(), [
      'connectionHandOff',
      'prebuiltHead',
      'sharedReadBuffer',
    ]);
    const some = parseSwitchedOff(' prebuiltHead, nonsense ,');
    assert.deepEqual([...some.off], ['prebuiltHead']);
    assert.deepEqual(some.unknown, ['nonsense']);
    assert.equal(parseSwitchedOff(undefined).off.size, 0);
  });
});
