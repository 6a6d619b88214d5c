// The publisher's own HTTP/1.1 client against daemons that misbehave on purpose: plain
// `net` servers that answer, close or reset exactly where a test needs it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PublishError } from '../../src/errors.ts';
import {
  createPublisher,
  type PostSendUpdateEvent,
  type PreSendUpdateEvent,
  type Publisher,
} from '../../src/publish/index.ts';
import type { PushServerSettings } from '../../src/settings/index.ts';
import { signals } from '../../src/signals.ts';
import { type DaemonProcess, startDaemonProcess } from '../support/daemon-process.ts';
import { type Nchan, startNchan } from '../support/nchan.ts';
import { NCHAN, needs } from '../support/system.ts';

function publisherFor(port: number, extra: PushServerSettings = {}): Publisher {
  return createPublisher({ publisherHost: { location: `127.0.0.1:${port}` }, ...extra });
}

/** One request as the fake daemon read it. */
interface Received {
  head: string;
  body: string;
  /** Which connection (0, 1, ...) and which request on it (0, 1, ...). */
  connection: number;
  index: number;
}

/** What the fake daemon does with a request it read whole. */
type Behaviour = (request: Received, socket: Socket) => void;

const ANSWER_202 =
  'HTTP/1.1 202 Accepted\r\nContent-Type: text/json\r\nContent-Length: 86\r\n\r\n{"messages": 1, "requested": -1, "subscribers": 0, "last_message_id": "1795867408:0" }';

/**
 * A daemon on plain `net`: reads each request (head + Content-Length body) and lets
 * `behaviour` answer it. `resetBeforeReading` picks requests to refuse unread: the
 * connection is reset as soon as their first byte arrives.
 */
class FakeDaemon {
  readonly received: Received[] = [];
  readonly sockets: Socket[] = [];
  private server: Server | undefined;
  port = 0;

  constructor(
    private behaviour: Behaviour = (_, socket) => socket.write(ANSWER_202),
    private resetBeforeReading: (connection: number, index: number) => boolean = () => false,
  ) {}

  async start(): Promise<this> {
    this.server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  set(behaviour: Behaviour): void {
    this.behaviour = behaviour;
  }

  private serve(socket: Socket): void {
    const connection = this.sockets.push(socket) - 1;
    let index = 0;
    let pending = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (pending.length === 0 && this.resetBeforeReading(connection, index)) {
        socket.resetAndDestroy();
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.toString('latin1', 0, end);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        const body = pending.toString('utf8', end + 4, end + 4 + length);
        pending = pending.subarray(end + 4 + length);
        const request = { head, body, connection, index: index++ };
        this.received.push(request);
        this.behaviour(request, socket);
      }
    });
  }

  stop(): void {
    for (const socket of this.sockets) socket.destroy();
    this.server?.close();
  }
}

/** Let the event loop poll once more (the client then sees what the daemon closed). */
async function nextPoll(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
}

describe('keep-alive connections', () => {
  let daemon: FakeDaemon;
  let publisher: Publisher;
  afterEach(() => {
    publisher?.close();
    daemon?.stop();
  });

  test('one connection carries publish after publish', async () => {
    daemon = await new FakeDaemon().start();
    publisher = publisherFor(daemon.port);
    for (let i = 0; i < 5; i++) assert.equal((await publisher.sendUpdate('c', i)).status, 202);
    assert.equal(daemon.sockets.length, 1);
    assert.deepEqual(
      daemon.received.map((r) => r.body),
      ['0', '1', '2', '3', '4'],
    );
    const [first] = daemon.received;
    assert.match(first.head, /^POST \/publisher\/c HTTP\/1\.1\r\n/);
    assert.match(first.head, new RegExp(`\r\nHost: 127\\.0\\.0\\.1:${daemon.port}\r\n`));
    assert.match(first.head, /\r\nContent-Type: application\/json; charset=utf-8\r\n/);
    assert.match(first.head, /\r\nContent-Length: 1(\r\n|$)/);
    assert.match(first.head, /\r\nAccept: application\/json(\r\n|$)/);
  });

  test('at most 64 connections; more calls wait for one', async () => {
    daemon = await new FakeDaemon().start();
    publisher = publisherFor(daemon.port);
    const results = await Promise.all(
      Array.from({ length: 150 }, (_, i) => publisher.sendUpdate(`c${i}`, i)),
    );
    assert.ok(results.every((result) => result.status === 202));
    assert.equal(daemon.received.length, 150);
    assert.ok(daemon.sockets.length <= 64, `${daemon.sockets.length} connections`);
  });

  test('Connection: close and a short Keep-Alive timeout are obeyed: no reuse', async () => {
    daemon = await new FakeDaemon((_, socket) =>
      socket.end(ANSWER_202.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')),
    ).start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 1);
    await publisher.sendUpdate('c', 2);
    assert.equal(daemon.sockets.length, 2);
    // Kept only up to 1 s before the announced timeout: with timeout=1, not at all.
    daemon.set((_, socket) =>
      socket.write(ANSWER_202.replace('\r\n\r\n', '\r\nKeep-Alive: timeout=1\r\n\r\n')),
    );
    await publisher.sendUpdate('c', 3);
    await publisher.sendUpdate('c', 4);
    assert.equal(daemon.sockets.length, 4);
  });

  test('an error answer is not followed on its connection: the next call opens a new one', async () => {
    daemon = await new FakeDaemon((request, socket) =>
      socket.write(
        request.body === '1' ? 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n' : ANSWER_202,
      ),
    ).start();
    publisher = publisherFor(daemon.port);
    await assert.rejects(publisher.sendUpdate('c', 1), { status: 403 });
    assert.equal((await publisher.sendUpdate('c', 2)).status, 202);
    assert.equal((await publisher.sendUpdate('c', 3)).status, 202);
    assert.deepEqual(
      daemon.received.map((r) => [r.connection, r.body]),
      [
        [0, '1'],
        [1, '2'],
        [1, '3'],
      ],
    );
  });

  test('the daemon closes an idle connection between calls: the next call opens a new one', async () => {
    daemon = await new FakeDaemon().start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 1);
    daemon.sockets[0].destroy();
    await nextPoll();
    assert.equal((await publisher.sendUpdate('c', 2)).status, 202);
    assert.deepEqual(
      daemon.received.map((r) => [r.connection, r.body]),
      [
        [0, '1'],
        [1, '2'],
      ],
    );
  });

  test('a connection idle for a second is looked at before reuse: a close not yet read is seen', async (t) => {
    daemon = await new FakeDaemon().start();
    publisher = publisherFor(daemon.port);
    t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
    await publisher.sendUpdate('c', 1);
    // The daemon's keep-alive timeout closes it just as the app publishes again, in
    // the same turn of the event loop: the close is in the socket, not yet read.
    daemon.sockets[0].destroy();
    t.mock.timers.tick(1500);
    assert.equal((await publisher.sendUpdate('c', 2)).status, 202);
    assert.deepEqual(
      daemon.received.map((r) => r.connection),
      [0, 1],
    );
  });

  test('a kept-alive connection reset before the daemon read the request: sent once more, on a fresh connection', async () => {
    // The second request on the first connection is refused unread (the daemon closed
    // the connection as the request arrived, and its kernel answered with a reset).
    daemon = await new FakeDaemon(
      undefined,
      (connection, index) => connection === 0 && index === 1,
    ).start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 1);
    const result = await publisher.sendUpdate('c', 2);
    assert.equal(result.status, 202);
    assert.deepEqual(
      daemon.received.map((r) => [r.connection, r.body]),
      [
        [0, '1'],
        [1, '2'],
      ],
    );
  });

  test('…but only once: a second reset is an error', async () => {
    daemon = await new FakeDaemon(
      undefined,
      (connection, index) => index === 1 || connection > 0,
    ).start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 1);
    await assert.rejects(publisher.sendUpdate('c', 2), {
      name: 'PublishError',
      message: `pushserver: publishing to http://127.0.0.1:${daemon.port}/publisher/c failed: the daemon reset the connection (ECONNRESET) before answering`,
    });
    assert.equal(daemon.sockets.length, 2);
  });

  test('a new connection reset before an answer is not retried', async () => {
    daemon = await new FakeDaemon(undefined, () => true).start();
    publisher = publisherFor(daemon.port);
    await assert.rejects(publisher.sendUpdate('c', 1), {
      message: /failed: the daemon reset the connection \(ECONNRESET\) before answering$/,
    });
    assert.equal(daemon.sockets.length, 1);
  });

  test('a publish the daemon may have stored is never sent twice', async () => {
    // The daemon reads the whole second request, then closes without answering.
    daemon = await new FakeDaemon((request, socket) => {
      if (request.index === 0) socket.write(ANSWER_202);
      else socket.destroy();
    }).start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 1);
    await assert.rejects(publisher.sendUpdate('c', 2), (error: PublishError) => {
      assert.ok(error instanceof PublishError);
      assert.equal(error.status, undefined);
      assert.equal(
        error.message,
        `pushserver: publishing to http://127.0.0.1:${daemon.port}/publisher/c failed: the daemon closed the connection without answering; the message may have been stored, so it was not sent again`,
      );
      return true;
    });
    await publisher.sendUpdate('c', 3);
    assert.deepEqual(
      daemon.received.map((r) => r.body),
      ['1', '2', '3'],
    );
  });

  test('closed in the middle of an answer: an error, not sent again', async () => {
    daemon = await new FakeDaemon((_, socket) => socket.end(ANSWER_202.slice(0, 60))).start();
    publisher = publisherFor(daemon.port);
    await assert.rejects(publisher.sendUpdate('c', 1), {
      message:
        /failed: the daemon closed the connection in the middle of its answer; the message may have been stored, so it was not sent again$/,
    });
    assert.equal(daemon.received.length, 1);
  });

  test('an answer that arrives in many small pieces', async () => {
    daemon = await new FakeDaemon((_, socket) => {
      const wire = ANSWER_202.replace('Content-Length: 86', 'Transfer-Encoding: chunked').replace(
        /\r\n\r\n(.*)$/s,
        (_, body: string) => `\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      );
      let at = 0;
      const next = () => {
        if (at >= wire.length) return;
        socket.write(wire.slice(at, at + 7));
        at += 7;
        setImmediate(next);
      };
      next();
    }).start();
    publisher = publisherFor(daemon.port);
    const result = await publisher.sendUpdate('c', 1);
    assert.equal(result.status, 202);
    assert.equal(result.channel?.lastMessageId, '1795867408:0');
    assert.equal((await publisher.sendUpdate('c', 2)).status, 202);
    assert.equal(daemon.sockets.length, 1);
  });

  test('a malformed answer is a PublishError, and the connection is dropped', async () => {
    daemon = await new FakeDaemon((request, socket) =>
      socket.write(
        request.connection === 0
          ? 'HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
          : ANSWER_202,
      ),
    ).start();
    publisher = publisherFor(daemon.port);
    await assert.rejects(publisher.sendUpdate('c', 1), {
      name: 'PublishError',
      message:
        /failed: the daemon sent a malformed response \(both Content-Length and Transfer-Encoding\)$/,
    });
    assert.equal((await publisher.sendUpdate('c', 2)).status, 202);
    assert.equal(daemon.sockets.length, 2);
  });

  test('errors with a body: 403, 413 and 503 carry status and body', async () => {
    const answers: Record<string, [number, string]> = {
      '/publisher/forbidden': [403, 'publishing from 10.0.0.9 is not allowed\n'],
      '/publisher/large': [413, 'message body is larger than maxBodySize (10 bytes)'],
      '/publisher/busy': [
        503,
        'store unavailable: Redis at redis://127.0.0.1:6379 is unreachable; nothing was stored, retry later',
      ],
    };
    daemon = await new FakeDaemon((request, socket) => {
      const [status, body] = answers[request.head.split(' ')[1]];
      socket.write(
        `HTTP/1.1 ${status} X\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    }).start();
    publisher = publisherFor(daemon.port);
    for (const [path, [status, body]] of Object.entries(answers)) {
      const channel = path.slice('/publisher/'.length);
      await assert.rejects(publisher.sendUpdate(channel, 1), {
        name: 'PublishError',
        status,
        body,
        message: `pushserver: publishing to http://127.0.0.1:${daemon.port}${path} failed: the daemon answered ${status}: ${body.split('\n')[0]}`,
      });
    }
    // An error answer may come before the daemon read the body: each closes its connection.
    assert.equal(daemon.sockets.length, 3);
  });

  test('a timed-out call closes its connection; the next call gets a fresh one', async () => {
    daemon = await new FakeDaemon((request, socket) => {
      if (request.index > 0 || request.connection > 0) socket.write(ANSWER_202);
    }).start();
    publisher = publisherFor(daemon.port);
    await assert.rejects(publisher.sendUpdate('c', 1, { timeout: 30 }), {
      message: /failed: no answer within 30 ms$/,
    });
    assert.equal((await publisher.sendUpdate('c', 2)).status, 202);
    assert.deepEqual(
      daemon.received.map((r) => r.connection),
      [0, 1],
    );
  });

  test('the daemon stops between calls: connection refused, with what to do', async () => {
    daemon = await new FakeDaemon().start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 1);
    daemon.stop();
    await nextPoll();
    await assert.rejects(publisher.sendUpdate('c', 2), {
      message: `pushserver: publishing to http://127.0.0.1:${daemon.port}/publisher/c failed: connection refused (127.0.0.1:${daemon.port}); is the push daemon running? Start one with: npx runpushserver`,
    });
  });

  test('a Content-Type that is not plain ASCII goes through node:http', async () => {
    daemon = await new FakeDaemon().start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 'x', {
      alreadySerialized: true,
      contentType: 'text/plain; x=é',
    });
    await publisher.sendUpdate('c', 'y', { alreadySerialized: true });
    // node:http's own spelling: Host after the given headers, then Connection.
    assert.match(daemon.received[0].head, /\r\nHost: [^\r]+\r\nConnection: keep-alive$/);
    assert.doesNotMatch(daemon.received[1].head, /Connection/);
  });

  test('close() drops idle connections; the publisher still works after it', async () => {
    daemon = await new FakeDaemon().start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 1);
    const closed = new Promise((resolve) => daemon.sockets[0].once('close', resolve));
    publisher.close();
    await closed;
    assert.equal((await publisher.sendUpdate('c', 2)).status, 202);
    assert.equal(daemon.sockets.length, 2);
  });

  test('signals: one pre and one post for a publish sent twice, headers as node:http has them', async (t) => {
    daemon = await new FakeDaemon(
      (_, socket) =>
        socket.write(
          ANSWER_202.replace(
            '\r\n\r\n',
            '\r\nX-Seen: a\r\nx-seen: b\r\nSet-Cookie: s=1\r\nSet-Cookie: t=2\r\n\r\n',
          ),
        ),
      (connection, index) => connection === 0 && index === 1,
    ).start();
    publisher = publisherFor(daemon.port);
    await publisher.sendUpdate('c', 1);
    const seen: string[] = [];
    let post: PostSendUpdateEvent | undefined;
    const onPre = () => seen.push('pre');
    const onPost = (event: PostSendUpdateEvent) => {
      seen.push('post');
      post = event;
    };
    signals.on('preSendUpdate', onPre);
    signals.on('postSendUpdate', onPost);
    t.after(() => {
      signals.off('preSendUpdate', onPre);
      signals.off('postSendUpdate', onPost);
    });
    assert.equal((await publisher.sendUpdate('c', 2)).status, 202);
    assert.deepEqual(seen, ['pre', 'post']);
    assert.equal(daemon.received.length, 2);
    assert.deepEqual(post?.response?.headers, {
      'content-type': 'text/json',
      'content-length': '86',
      'x-seen': 'a, b',
      'set-cookie': ['s=1', 't=2'],
    });
  });

  test('https goes through node:https (a TLS handshake opens the connection)', async () => {
    const firstBytes: Buffer[] = [];
    const server = createServer((socket) =>
      socket.once('data', (chunk: Buffer) => {
        firstBytes.push(chunk);
        socket.destroy();
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    publisher = createPublisher({ publisherHost: { location: `127.0.0.1:${port}`, secure: true } });
    try {
      await assert.rejects(publisher.sendUpdate('c', 1), {
        name: 'PublishError',
        message: new RegExp(
          `^pushserver: publishing to https://127\\.0\\.0\\.1:${port}/publisher/c failed: `,
        ),
      });
      // 0x16: a TLS handshake record, the ClientHello.
      assert.equal(firstBytes[0]?.[0], 0x16);
    } finally {
      server.close();
    }
  });

  test('a preSendUpdate listener that adds a header: it goes out, still on the own client', async (t) => {
    daemon = await new FakeDaemon().start();
    publisher = publisherFor(daemon.port);
    const addAuth = (event: PreSendUpdateEvent) => {
      event.request.headers.Authorization = 'Bearer s3cret';
    };
    signals.on('preSendUpdate', addAuth);
    t.after(() => signals.off('preSendUpdate', addAuth));
    await publisher.sendUpdate('c', 1);
    await publisher.sendUpdate('c', 2);
    const [first, second] = daemon.received;
    assert.match(first.head, /\r\nAuthorization: Bearer s3cret(\r\n|$)/);
    assert.match(second.head, /\r\nAuthorization: Bearer s3cret(\r\n|$)/);
    assert.doesNotMatch(first.head, /Connection: keep-alive/);
    assert.equal(daemon.sockets.length, 1);
  });

  test('idle connections do not keep the process alive', async () => {
    daemon = await new FakeDaemon().start();
    const publish = new URL('../../src/publish/index.ts', import.meta.url).href;
    const script = `const { createPublisher } = await import(${JSON.stringify(publish)});
const publisher = createPublisher({ publisherHost: { location: '127.0.0.1:${daemon.port}' } });
console.log((await publisher.sendUpdate('c', 1)).status);`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { cwd: fileURLToPath(new URL('..', import.meta.url)), timeout: 20_000 },
        (error, stdout) => (error ? reject(error) : resolve(stdout)),
      ),
    );
    assert.equal(out.trim(), '202');
  });
});

describe('against the real daemon', () => {
  let daemon: DaemonProcess;
  before(async () => {
    daemon = await startDaemonProcess({
      locations: [
        { type: 'publisher', prefix: '/publisher/', maxBodySize: 1024 * 1024 },
        { type: 'subscriber', prefix: '/subscriber/' },
      ],
    });
  });
  after(() => daemon?.stop());

  test('publish after publish on a kept-alive connection, each answered', async () => {
    const publisher = publisherFor(daemon.port);
    try {
      for (let i = 1; i <= 20; i++) {
        const result = await publisher.sendUpdate('ka', { i });
        assert.equal(result.status, 202);
        assert.equal(result.channel?.subscribers, 0);
      }
    } finally {
      publisher.close();
    }
  });

  test('the daemon restarts between publishes: the next one goes out on a new connection', async () => {
    const publisher = publisherFor(daemon.port);
    try {
      assert.equal((await publisher.sendUpdate('restart', 1)).status, 202);
      await daemon.stop();
      await nextPoll();
      await assert.rejects(publisher.sendUpdate('restart', 2), { message: /connection refused/ });
      await daemon.start();
      assert.equal((await publisher.sendUpdate('restart', 3)).status, 202);
    } finally {
      publisher.close();
    }
  });

  test('a body over maxBodySize: 413 with the reason, and the next publish works', async () => {
    const publisher = publisherFor(daemon.port);
    try {
      const huge = 'x'.repeat(3 * 1024 * 1024);
      await assert.rejects(publisher.sendUpdate('big', huge, { alreadySerialized: true }), {
        name: 'PublishError',
        status: 413,
        body: 'message body is larger than maxBodySize (1048576 bytes)',
      });
      assert.equal((await publisher.sendUpdate('big', 'small')).status, 202);
    } finally {
      publisher.close();
    }
  });

  test('a body just under maxBodySize goes through', async () => {
    const publisher = publisherFor(daemon.port);
    try {
      const data = { text: 'é'.repeat(400_000) };
      const result = await publisher.sendUpdate('large', data);
      assert.equal(result.status, 202);
    } finally {
      publisher.close();
    }
  });
});

describe('huge bodies through real Nchan', { skip: needs(NCHAN) }, () => {
  let nchan: Nchan;
  before(async () => {
    nchan = await startNchan();
  });
  after(() => nchan?.stop());

  test('2 MB is delivered byte for byte; 9 MB is refused with 413 and its page', async () => {
    const publisher = publisherFor(nchan.port);
    try {
      const channel = 'huge-1';
      // Over the config's client_body_buffer_size (128k): nginx spools it to a file.
      const body = Buffer.alloc(2 * 1024 * 1024, 'y');
      assert.equal(
        (await publisher.sendUpdate(channel, body, { alreadySerialized: true })).status,
        202,
      );
      const got = await new Promise<Buffer>((resolve, reject) =>
        http
          .get(
            `${nchan.origin}/subscriber/${channel}`,
            { headers: { 'If-Modified-Since': 'Thu, 01 Jan 1970 00:00:00 GMT' } },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (chunk) => chunks.push(chunk));
              res.on('end', () => resolve(Buffer.concat(chunks)));
            },
          )
          .on('error', reject),
      );
      assert.ok(got.equals(body), `got ${got.length} bytes`);
      await assert.rejects(
        publisher.sendUpdate(channel, Buffer.alloc(9 * 1024 * 1024, 'z'), {
          alreadySerialized: true,
        }),
        (error: PublishError) => {
          assert.equal(error.status, 413);
          assert.match(error.body ?? '', /413 Request Entity Too Large/);
          return true;
        },
      );
      assert.equal((await publisher.sendUpdate(channel, 1)).status, 202);
    } finally {
      publisher.close();
    }
  });
});
