// The counting TCP proxy of test/support/tcp-proxy.ts, against plain node:http servers:
// it forwards both ways, counts what it accepted and holds, follows a retarget, and a
// drop ends every connection on both sides.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { after, describe, test } from 'node:test';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { waitUntil, withDeadline } from './support/wait.js';

/** A server answering `<name> <method> <url> <body>`; `/hold` waits until released. */
async function startServer(name: string) {
  const held = new EventEmitter();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      if (req.url === '/hold') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('held ');
        held.emit('held', res);
        return;
      }
      res
        .writeHead(200, { 'Content-Type': 'text/plain' })
        .end(`${name} ${req.method} ${req.url} ${body}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    /** The next `/hold` response, once its request arrived. */
    held: () =>
      withDeadline(once(held, 'held'), 10_000, `a /hold request on ${name}`).then(
        ([res]) => res as ServerResponse,
      ),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One request on a connection of its own (no agent pooling), its status and body. */
function get(origin: string, path: string, body = ''): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${origin}${path}`,
      { method: body ? 'POST' : 'GET', agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('tcp proxy', { timeout: 60_000 }, () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });
  const setUp = async () => {
    const first = await startServer('first');
    const second = await startServer('second');
    const proxy: TcpProxy = await startTcpProxy(first.port);
    closers.push(first.close, second.close, proxy.close);
    return { first, second, proxy };
  };

  test('forwards both ways and counts connections', async () => {
    const { proxy } = await setUp();
    assert.equal(proxy.origin, `http://127.0.0.1:${proxy.port}`);
    const big = 'x'.repeat(300_000);
    const answer = await get(proxy.origin, '/echo', big);
    assert.equal(answer.status, 200);
    assert.equal(answer.text, `first POST /echo ${big}`);
    await proxy.waitForOpen(0, 10_000);
    await Promise.all([get(proxy.origin, '/a'), get(proxy.origin, '/b'), get(proxy.origin, '/c')]);
    assert.equal(proxy.accepted, 4);
    assert.ok(proxy.maxOpen >= 1 && proxy.maxOpen <= 3, `maxOpen ${proxy.maxOpen}`);
    await proxy.waitForOpen(0, 10_000);
    proxy.resetCounts();
    assert.equal(proxy.accepted, 0);
    assert.equal(proxy.maxOpen, 0);
  });

  test('a connection counts as open once its client sends a byte (not a spare one)', async () => {
    const { proxy } = await setUp();
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    assert.equal(proxy.accepted, 1);
    assert.equal(proxy.open(), 0);
    socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    await proxy.waitForOpen(1, 10_000);
    assert.equal(proxy.maxOpen, 1);
    socket.destroy();
    await proxy.waitForOpen(0, 10_000);
  });

  test('a connection awaits while its request has no answer; an idle kept-alive one does not', async () => {
    const { first, proxy } = await setUp();
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    const held = first.held();
    socket.write('GET /hold HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = await held;
    // The head and `held ` came back: answered, though the body goes on.
    await proxy.waitForAwaiting(0, 10_000);
    res.end();
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk) => {
      text += chunk;
    });
    socket.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitUntil('the answer to /next', () => text.includes('first GET /next'));
    await proxy.waitForAwaiting(0, 10_000);
    assert.equal(proxy.open(), 1, 'kept alive, idle');
    assert.equal(proxy.maxAwaiting, 1);
    // Half a head: the server waits for the rest, the connection awaits.
    socket.write('GET /last HTTP/1.1\r\nHo');
    await waitUntil('the half-sent request awaiting', () => proxy.awaiting() === 1);
    socket.write('st: x\r\n\r\n');
    await proxy.waitForAwaiting(0, 10_000);
    assert.equal(proxy.maxAwaiting, 1);
    socket.destroy();
    await proxy.waitForOpen(0, 10_000);
  });

  test('a half-close reaches the other side and the answer still comes back', async () => {
    const { proxy } = await setUp();
    const socket = connect(proxy.port, '127.0.0.1');
    await once(socket, 'connect');
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk) => {
      text += chunk;
    });
    // Request, then FIN at once: the server answers after it read the whole request.
    socket.end(
      'POST /half HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi',
    );
    await withDeadline(once(socket, 'end'), 10_000, 'the answer to end');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(text.includes('\r\n\r\n13\r\nfirst POST /half hi\r\n0\r\n\r\n'), text);
    await proxy.waitForOpen(0, 10_000);
  });

  test('retarget: new connections go to the other port, open ones stay', async () => {
    const { first, second, proxy } = await setUp();
    const held = first.held();
    const holding = get(proxy.origin, '/hold');
    const response = await held;
    proxy.retarget(second.port);
    assert.equal((await get(proxy.origin, '/after')).text, 'second GET /after ');
    // The held request was still on the first server, which ends it now.
    response.end('done');
    assert.equal((await holding).text, 'held done');
    assert.equal(proxy.accepted, 2);
  });

  test('dropAll destroys both sides; the target refusing closes the client', async () => {
    const { first, proxy } = await setUp();
    const held = first.held();
    const holding = get(proxy.origin, '/hold');
    await held;
    await proxy.dropAll();
    assert.equal(proxy.open(), 0);
    await assert.rejects(withDeadline(holding, 10_000, 'the held request to fail'));
    // Nothing listens on the target any more: the connection is accepted, then closed.
    await first.close();
    await assert.rejects(withDeadline(get(proxy.origin, '/refused'), 10_000, 'a refusal'));
    await proxy.waitForOpen(0, 10_000);
    assert.equal(proxy.accepted, 2);
  });
});
