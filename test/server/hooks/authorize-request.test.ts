// The daemon's authorize requests (issue 18): what the app receives, and the bounds on
// time and concurrency, against a plain node:http app.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { Authorizer } from '../../../src/server/hooks/authorize-request.ts';
import { waitUntil } from '../../support/wait.ts';

const servers: http.Server[] = [];
after(() => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
});

async function app(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = http.createServer(handle);
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/push/authorize`;
}

test("the app gets the subscriber's request: query, headers, X-Original-URI and -Method", async () => {
  let seen: IncomingMessage | undefined;
  const url = await app((req, res) => {
    seen = req;
    res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer' });
    res.end('log in first\n');
  });
  const authorizer = new Authorizer({ url, timeoutMs: 5000, concurrency: 2 });
  const answer = await authorizer.ask('GET', '/private/a,b?sig=x&exp=1', {
    host: 'push.example.com',
    cookie: 'sid=1',
    authorization: 'Bearer t',
    origin: 'https://www.example.com',
    connection: 'upgrade',
    upgrade: 'websocket',
    'sec-websocket-key': 'k',
  });
  assert.equal(seen?.method, 'GET');
  assert.equal(seen?.url, '/push/authorize?sig=x&exp=1');
  assert.equal(seen?.headers['x-original-uri'], '/private/a,b?sig=x&exp=1');
  assert.equal(seen?.headers['x-original-method'], 'GET');
  assert.equal(seen?.headers.cookie, 'sid=1');
  assert.equal(seen?.headers.authorization, 'Bearer t');
  assert.equal(seen?.headers.origin, 'https://www.example.com');
  assert.notEqual(seen?.headers.host, 'push.example.com');
  assert.equal(seen?.headers.upgrade, undefined);
  assert.equal(seen?.headers['sec-websocket-key'], undefined);
  assert.equal(answer.allowed, false);
  assert.equal(answer.status, 401);
  assert.deepEqual(answer.headers, ['Content-Type', 'text/plain', 'WWW-Authenticate', 'Bearer']);
  assert.equal(String(answer.body), 'log in first\n');
  authorizer.close();
});

test('an app that does not answer in time, or cannot be reached: 503', async () => {
  const url = await app(() => {});
  const slow = new Authorizer({ url, timeoutMs: 100, concurrency: 1 });
  const answer = await slow.ask('GET', '/s/a', {});
  assert.equal(answer.status, 503);
  assert.match(String(answer.body), /timed out/);
  slow.close();
  const gone = new Authorizer({ url: 'http://127.0.0.1:9/a', timeoutMs: 5000, concurrency: 1 });
  assert.match(String((await gone.ask('GET', '/s/a', {})).body), /ECONNREFUSED/);
  gone.close();
});

test('at most `concurrency` requests in flight; the others wait their turn, a full line gets 503', async () => {
  const held: ServerResponse[] = [];
  let inFlight = 0;
  let most = 0;
  const url = await app((_req, res) => {
    inFlight++;
    most = Math.max(most, inFlight);
    res.on('finish', () => inFlight--);
    held.push(res);
  });
  const authorizer = new Authorizer({ url, timeoutMs: 10_000, concurrency: 2 });
  const answers = Array.from({ length: 5 }, (_, i) => authorizer.ask('GET', `/s/${i}`, {}));
  await waitUntil('two requests at the app', () => held.length === 2);
  // The line holds 64 per slot: beyond it, a refusal at once.
  const waiting = Array.from({ length: 2 * 64 - 3 }, () => authorizer.ask('GET', '/s/x', {}));
  const overflow = await authorizer.ask('GET', '/s/overflow', {});
  assert.equal(overflow.status, 503);
  assert.match(String(overflow.body), /too many/);
  for (let answered = 0; answered < 5; answered++) {
    await waitUntil(`request ${answered + 1} at the app`, () => held.length > answered);
    held[answered].end();
  }
  for (const answer of await Promise.all(answers)) assert.equal(answer.allowed, true);
  assert.equal(most, 2);
  authorizer.close();
  // Closing answers the line at once (its 10 s timeout would otherwise), and aborts the
  // two requests at the app.
  const closed = await Promise.all(waiting);
  for (const answer of closed) assert.equal(answer.status, 503);
  assert.equal(
    closed.filter((answer) => /shutting down/.test(String(answer.body))).length,
    closed.length - 2,
  );
});
