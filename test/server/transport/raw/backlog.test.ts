// A client that parks a poll, pipelines more than the daemon holds behind it, then
// closes: the daemon must forget the subscriber and release the socket, on the raw path
// and on node:http alone. (A paused socket never reads the client's close.)
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { createPushServer, type PushServer } from '../../../../src/server/index.js';
import { waitUntil } from '../../../support/wait.js';

const servers: PushServer[] = [];
after(() => Promise.all(servers.map((push) => push.close())));

function openFiles(): number {
  return readdirSync('/proc/self/fd').length;
}

async function infoSubscribers(port: number, channel: string): Promise<number> {
  const answer = await fetch(`http://127.0.0.1:${port}/publisher/${channel}`, {
    headers: { Accept: 'application/json' },
    signal: AbortSignal.timeout(5000),
  });
  return JSON.parse(await answer.text()).subscribers;
}

describe('a flood pipelined behind a parked poll, then a close', () => {
  for (const rawSockets of [true, false]) {
    test(`no subscriber and no socket left (${rawSockets ? 'raw path' : 'node:http'})`, async () => {
      const push = createPushServer({}, { rawSockets });
      servers.push(push);
      const { port } = await push.listen(0, '127.0.0.1');
      const clients = 20;
      // The channels exist, so their info answers (and counts) before and after.
      for (let i = 0; i < clients; i++) {
        await fetch(`http://127.0.0.1:${port}/publisher/flood-${i}`, { method: 'POST', body: 'm' });
      }
      const before = openFiles();
      const filler = `GET /subscriber/flood HTTP/1.1\r\nHost: x\r\nX-Fill: ${'f'.repeat(4000)}\r\n\r\n`;
      const cursor = 'If-Modified-Since: Thu, 01 Jan 2099 00:00:00 GMT\r\nIf-None-Match: 0\r\n';
      for (let i = 0; i < clients; i++) {
        const socket = connect(port, '127.0.0.1');
        socket.on('error', () => {});
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        // A poll past the newest message parks...
        socket.write(`GET /subscriber/flood-${i} HTTP/1.1\r\nHost: x\r\n${cursor}\r\n`);
        await waitUntil(
          'the poll to park',
          async () => (await infoSubscribers(port, `flood-${i}`)) === 1,
        );
        // ... then 80 KiB of requests behind it, then the client goes away.
        socket.write(filler.repeat(20));
        await new Promise((resolve) => setTimeout(resolve, 20));
        socket.destroy();
      }
      await waitUntil('every parked poll to be forgotten', () => push.waiting() === 0, {
        timeoutMs: 5000,
      });
      for (let i = 0; i < clients; i++) {
        assert.equal(await infoSubscribers(port, `flood-${i}`), 0, `flood-${i}`);
      }
      // The test's own sockets are closed; the daemon's ends must be too.
      await waitUntil(`open files back to ${before}`, () => openFiles() <= before + 1, {
        timeoutMs: 5000,
      });
    });
  }
});
