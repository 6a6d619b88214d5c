// The raw socket path against node:http: what it serves, how it hands a connection to
// node:http (first request or mid keep-alive), and a fuzz run where every mutated
// request gets the same answers from a daemon with the raw path as from one without.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { createPushServer, type PushServer } from '../../../../src/server/daemon.js';
import type { PushServerSettings } from '../../../../src/settings/index.js';
import { WAIT_MS, waitUntil } from '../../../support/wait.js';

const FUTURE = 'If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\nIf-None-Match: 0\r\n';

async function start(settings: PushServerSettings = {}, rawSockets = true) {
  const push = createPushServer(settings, { rawSockets });
  const { port } = await push.listen(0, '127.0.0.1');
  return { push, port };
}

/** Resolves once `check()` holds, checked after each turn of the event loop (no timers). */
async function until(check: () => boolean, what: string): Promise<void> {
  await waitUntil(what, check, { intervalMs: 0 });
}

/** One parsed response: status, lower-case headers, body. */
interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Split what a server sent into responses (Content-Length bodies only, as the daemon sends). */
function responses(text: string): Response[] {
  const found: Response[] = [];
  let at = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const [statusLine, ...lines] = text.slice(at, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (end + 4 + length > text.length) break;
    found.push({
      status: Number(statusLine.split(' ')[1]),
      headers,
      body: text.slice(end + 4, end + 4 + length),
    });
    at = end + 4 + length;
  }
  return found;
}

/** A client connection that collects everything the server sends. */
function client(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  let text = '';
  let closed = false;
  const changes = new EventEmitter();
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    text += chunk;
    changes.emit('change');
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
    changes.emit('change');
  });
  const wake: [EventEmitter, string] = [changes, 'change'];
  /** Resolves once `count` responses arrived (or the connection closed), within `timeoutMs`. */
  const answers = async (count: number, timeoutMs = WAIT_MS) => {
    await waitUntil(`${count} responses`, () => responses(text).length >= count || closed, {
      wake,
      timeoutMs,
    });
    return responses(text);
  };
  /** Resolves with every response once the server closed the connection. */
  const all = async () => {
    await waitUntil('the server to close the connection', () => closed, { wake });
    return responses(text);
  };
  return { socket, answers, all, raw: () => text };
}

/**
 * Whether the raw path's answers to one connection's bytes mean what node:http's do:
 * equal, except where node:http's own answers depend on how the bytes were read.
 * node:http refuses a bad request that comes in the same read as good ones with a 400
 * that replaces an answer still pending, or closes without a 400 while an answer is
 * being written, and it drops answers not yet written when the client's side ends.
 * The raw path answers each good request in order, then hands the rest to node:http,
 * which refuses it with 400. So node:http's answers (without its final 400) must be the
 * start of the raw path's, and when node:http refused, so must the raw path in the end.
 */
function sameMeaning<T extends { status: number }>(raw: T[], node: T[]): boolean {
  const same = (a: T[], b: T[]) => JSON.stringify(a) === JSON.stringify(b);
  if (same(raw, node)) return true;
  const refused = node.length > 0 && node[node.length - 1].status === 400;
  if (refused && raw[raw.length - 1]?.status !== 400) return false;
  const agreed = refused ? node.slice(0, -1) : node;
  return agreed.length < raw.length && same(raw.slice(0, agreed.length), agreed);
}

describe('raw socket path', () => {
  const servers: PushServer[] = [];
  after(() => Promise.all(servers.map((push) => push.close())));
  const daemon = async (settings: PushServerSettings = {}, rawSockets = true) => {
    const started = await start(settings, rawSockets);
    servers.push(started.push);
    return started;
  };

  test('serves polls and publishes on its own; node:http gets the socket mid keep-alive, bytes included', async () => {
    const { push, port } = await daemon();
    const c = client(port);
    c.socket.write('GET /subscriber/ka HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => push.waiting() === 1, 'a parked poll');
    assert.equal(push.rawConnections(), 1, 'the poll is parked on the raw path');
    const publisher = client(port);
    publisher.socket.write(
      'POST /publisher/ka HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\none',
    );
    const [published] = await publisher.answers(1);
    assert.equal(published.status, 201);
    const [delivered] = await c.answers(1);
    assert.equal(delivered.status, 200);
    assert.equal(delivered.body, 'one');
    assert.equal(delivered.headers.connection, 'keep-alive');
    assert.equal(push.rawConnections(), 2, 'both connections are still raw');
    // A chunked publish is not the raw path's: node:http takes this socket from here on.
    c.socket.write(
      'POST /publisher/ka HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n',
    );
    const [, chunked] = await c.answers(2);
    assert.equal(chunked.status, 202);
    c.socket.write(
      `GET /subscriber/ka HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: ${delivered.headers['last-modified']}\r\nIf-None-Match: ${delivered.headers.etag}\r\n\r\n`,
    );
    const [, , next] = await c.answers(3);
    assert.equal(next.status, 200);
    assert.equal(next.body, 'two');
    assert.equal(push.rawConnections(), 1);
    c.socket.destroy();
    publisher.socket.destroy();
  });

  test('bytes kept between reads survive the reads of other connections (one shared read buffer)', async () => {
    const { push, port } = await daemon();
    const c = client(port);
    // A parked poll with the next one pipelined behind it, in one write.
    c.socket.write(
      'GET /subscriber/shared1 HTTP/1.1\r\nHost: x\r\n\r\nGET /subscriber/shared2 HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    await until(() => push.waiting() === 1, 'a parked poll');
    // Other connections' reads land in the same buffer meanwhile.
    const publisher = client(port);
    publisher.socket.write(
      'POST /publisher/shared1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none',
    );
    const [first] = await c.answers(1);
    assert.equal(first.body, 'one');
    // Parked or not yet: a poll without a cursor gets the oldest buffered message.
    publisher.socket.write(
      'POST /publisher/shared2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo',
    );
    const [, second] = await c.answers(2);
    assert.equal(second.status, 200);
    assert.equal(second.body, 'two');
    assert.equal(push.rawConnections(), 2, 'both connections stayed on the raw path');
    c.socket.destroy();
    publisher.socket.destroy();
  });

  test('a first request outside the subset (HTTP/1.0, OPTIONS, 404) is answered by node:http', async () => {
    const { push, port } = await daemon();
    const c = client(port);
    c.socket.write('OPTIONS /subscriber/o HTTP/1.1\r\nHost: x\r\n\r\n');
    const [options] = await c.answers(1);
    assert.equal(options.status, 200);
    assert.equal(options.headers.allow, 'GET');
    assert.equal(push.rawConnections(), 0);
    const old = client(port);
    old.socket.write('GET /elsewhere HTTP/1.0\r\n\r\n');
    const [missing] = await old.all();
    assert.equal(missing.status, 404);
    c.socket.destroy();
  });

  test('a client that goes away stops its poll; Connection: close is honoured', async () => {
    const { push, port } = await daemon();
    const leaving = client(port);
    leaving.socket.write(`GET /subscriber/gone HTTP/1.1\r\nHost: x\r\n${FUTURE}\r\n`);
    await until(() => push.waiting() === 1, 'a parked poll');
    leaving.socket.end();
    await until(() => push.waiting() === 0, 'no parked poll');
    await leaving.all();
    const closing = client(port);
    closing.socket.write(
      'POST /publisher/gone HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx',
    );
    const [answer] = await closing.all();
    assert.equal(answer.status, 202);
    assert.equal(answer.headers.connection, 'close');
  });

  test('pipelined requests behind a parked poll are answered after it, in order', async () => {
    const { push, port } = await daemon();
    const publisher = client(port);
    publisher.socket.write(
      'POST /publisher/queued HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nqueued',
    );
    await publisher.answers(1);
    const c = client(port);
    c.socket.write(
      'GET /subscriber/later HTTP/1.1\r\nHost: x\r\n\r\nGET /subscriber/queued HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    await until(() => push.waiting() === 1, 'a parked poll');
    publisher.socket.write(
      'POST /publisher/later HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nlater',
    );
    const [first, second] = await c.answers(2);
    assert.deepEqual([first.body, second.body], ['later', 'queued']);
    assert.equal(push.rawConnections(), 2);
    c.socket.destroy();
    publisher.socket.destroy();
  });

  test('a client that pipelines more than it reads gets every answer, in order', async () => {
    const { port } = await daemon();
    const body = 'x'.repeat(60_000);
    const publisher = client(port);
    publisher.socket.write(
      `POST /publisher/big HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    assert.equal((await publisher.answers(1))[0].status, 202);
    // 400 answers of 60 kB: far more than the socket buffers, so the daemon waits for
    // the client to read before it serves the rest (about 15 s here: 24 MB parsed as it comes).
    const c = client(port);
    c.socket.write('GET /subscriber/big HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(400));
    const answers = await c.answers(400, 120_000);
    assert.equal(answers.length, 400);
    assert.ok(answers.every((answer) => answer.status === 200 && answer.body === body));
    c.socket.destroy();
    publisher.socket.destroy();
  });

  test('close() closes idle keep-alive connections of the raw path and resolves', async () => {
    const { push, port } = await start();
    const c = client(port);
    c.socket.write('POST /publisher/idle HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx');
    const [answer] = await c.answers(1);
    assert.equal(answer.headers.connection, 'keep-alive');
    assert.equal(push.rawConnections(), 1);
    await push.close();
    await c.all();
    assert.equal(push.rawConnections(), 0);
  });

  test('a publish whose body has not arrived yet goes to node:http and is stored once', async () => {
    const { port } = await daemon();
    const c = client(port);
    c.socket.write('POST /publisher/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab');
    c.socket.write('cd');
    const [first] = await c.answers(1);
    assert.equal(first.status, 202);
    assert.match(first.body, /^queued messages: 1\r\n/);
    c.socket.write('GET /subscriber/slow HTTP/1.1\r\nHost: x\r\n\r\n');
    const [, got] = await c.answers(2);
    assert.equal(got.body, 'abcd');
    c.socket.destroy();
  });

  test('fuzz: mutated request heads get the same answers with and without the raw path', async () => {
    const settings: PushServerSettings = {
      locations: [
        { type: 'publisher', prefix: '/publisher/', maxBodySize: 64 },
        { type: 'subscriber', prefix: '/subscriber/', createOnGet: false },
      ],
    };
    const withRaw = await daemon(settings, true);
    const nodeOnly = await daemon(settings, false);
    for (const { port } of [withRaw, nodeOnly]) {
      const c = client(port);
      c.socket.end('POST /publisher/f HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst');
      assert.equal((await c.all())[0].status, 202);
    }
    const bases = [
      'GET /subscriber/f HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://a.test\r\n\r\n',
      'GET /subscriber/f?x=1 HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Thu, 1 Jan 1970 00:00:00 GMT\r\nIf-None-Match: 0\r\nConnection: keep-alive\r\n\r\n',
      'POST /publisher/f HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody',
      'GET /subscriber/f HTTP/1.1\r\nHost: x\r\n\r\nPOST /publisher/g HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi',
      'POST /publisher/g HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /subscriber/g HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n',
    ];
    const snippets = [
      '\r',
      '\n',
      '\r\n',
      ' ',
      '\t',
      ':',
      '\0',
      '\x7f',
      '\xff',
      ',',
      '0',
      'a',
      '\r\n ',
      'Content-Length: 3\r\n',
      'Content-Length: 999\r\n',
      'Transfer-Encoding: chunked\r\n',
      'Host: y\r\n',
      'Connection: close\r\n',
      'Connection: upgrade\r\n',
      'Expect: 100-continue\r\n',
      'X-Long: '.padEnd(9000, 'x'),
      'GET /subscriber/f HTTP/1.0\r\n\r\n',
    ];
    let seed = 8;
    const random = (n: number) => {
      // mulberry32: the same cases every run.
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return (((t ^ (t >>> 14)) >>> 0) % n) as number;
    };
    // Header lines, good and bad, inserted at a line boundary.
    const lines = [
      'Origin: http://b.test',
      'If-None-Match: 0',
      'If-Modified-Since: Thu, 1 Jan 1970 00:00:00 GMT',
      'Accept: application/json',
      'Cookie: a=b; c=d',
      'X-A:',
      'X-A: \t b \t',
      'Connection: close',
      'Connection: Keep-Alive',
      'Content-Length: 0',
      'Content-Length: 2',
      'Content-Length: 2, 2',
      'Content-Length: -1',
      'Transfer-Encoding: chunked',
      'Transfer-Encoding: identity',
      'X-A : b',
      'X-A: a\rb',
      'X-A: a\nb',
      ' folded',
      '\tfolded',
      'X-\x01: b',
      'X-A: caf\xe9',
      'Host: y',
      'Upgrade: websocket',
    ];
    const mutate = (text: string) => {
      const at = random(text.length + 1);
      switch (random(6)) {
        case 0:
          return text.slice(0, at) + snippets[random(snippets.length)] + text.slice(at + 1);
        case 1:
          return text.slice(0, at) + snippets[random(snippets.length)] + text.slice(at);
        case 2:
          return text.slice(0, at) + text.slice(at + 1 + random(8));
        case 3:
          return text.slice(0, at);
        default: {
          // A header line added or repeated, at a line boundary.
          const split = text.split('\r\n');
          const line = 1 + random(Math.max(1, split.length - 2));
          split.splice(line, 0, random(3) === 0 ? split[line] : lines[random(lines.length)]);
          return split.join('\r\n');
        }
      }
    };
    const answersOf = async (port: number, bytes: Buffer) => {
      const c = client(port);
      // The daemon handles what it received in one go: a connection still raw when the
      // first answer arrives had its first requests answered by the raw path.
      let raw = false;
      if (port === withRaw.port) {
        c.socket.once('data', () => {
          raw = withRaw.push.rawConnections() > 0;
        });
      }
      // The end of our side ends every request that waits for more bytes.
      c.socket.end(bytes);
      // Status and kind of answer: the two stores may differ by a publish that
      // node:http refused along with its connection (see sameMeaning).
      const answers = (await c.all()).map((r) => ({
        status: r.status,
        type: r.headers['content-type'],
        message: r.headers.etag !== undefined,
      }));
      return { answers, raw };
    };
    let servedRaw = 0;
    for (let i = 0; i < 1000; i++) {
      const base = bases[i % bases.length];
      const text = i < bases.length ? base : mutate(base);
      const bytes = Buffer.from(text, 'latin1');
      const withRawPath = await answersOf(withRaw.port, bytes);
      const node = (await answersOf(nodeOnly.port, bytes)).answers;
      // Handed to node:http from the start: node:http's answers, whatever they are (they
      // depend on how it reads the bytes); it must only not crash or hang.
      if (!withRawPath.raw) continue;
      servedRaw++;
      assert.ok(
        sameMeaning(withRawPath.answers, node),
        `case ${i}: ${JSON.stringify(text.slice(0, 300))}
  raw path:  ${JSON.stringify(withRawPath.answers)}
  node:http: ${JSON.stringify(node)}`,
      );
    }
    assert.ok(servedRaw >= 100, `only ${servedRaw} cases reached the raw path`);
  });
});
