import assert from 'node:assert/strict';
import http from 'node:http';
import { after, afterEach, before, describe, test } from 'node:test';
import { PublishError } from '../../src/errors.ts';
import {
  createPublisher,
  type PostSendUpdateEvent,
  type PreSendUpdateEvent,
  type Publisher,
} from '../../src/publish/index.ts';
import type { PushServerSettings } from '../../src/settings/index.ts';
import { signals } from '../../src/signals.ts';
import { type Nchan, startNchan } from '../support/nchan.ts';
import { freePort } from '../support/ports.ts';
import { NCHAN, needs } from '../support/system.ts';
import { waitUntil } from '../support/wait.ts';

function publisherFor(port: number, extra: PushServerSettings = {}): Publisher {
  return createPublisher({ publisherHost: { location: `127.0.0.1:${port}` }, ...extra });
}

/** Start a long-poll GET on Nchan's subscriber location and resolve with its answer. */
function longPoll(
  nchan: Nchan,
  channel: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${nchan.origin}/subscriber/${encodeURIComponent(channel)}`, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      })
      .on('error', reject);
  });
}

async function subscribers(nchan: Nchan, channel: string): Promise<number> {
  const res = await fetch(`${nchan.origin}/publisher/${encodeURIComponent(channel)}`, {
    headers: { Accept: 'application/json' },
  });
  return res.status === 200 ? (await res.json()).subscribers : 0;
}

describe('sendUpdate against real Nchan', { skip: needs(NCHAN) }, () => {
  let nchan: Nchan;
  let publisher: Publisher;
  before(async () => {
    nchan = await startNchan();
    publisher = publisherFor(nchan.port);
  });
  after(async () => {
    publisher?.close();
    await nchan?.stop();
  });

  test('202 queued when nobody waits, with the channel info Nchan sends', async () => {
    const result = await publisher.sendUpdate('queued-1', { type: 'x' });
    assert.equal(result.status, 202);
    assert.equal(result.ok, true);
    assert.equal(result.queued, true);
    assert.equal(result.delivered, false);
    assert.equal(result.url, `http://127.0.0.1:${nchan.port}/publisher/queued-1`);
    assert.equal(result.channel?.messages, 1);
    assert.equal(result.channel?.subscribers, 0);
    assert.equal(result.channel?.requested, -1);
    assert.match(result.channel?.lastMessageId ?? '', /^\d{10}:0$/);
  });

  test('201 delivered to a waiting long-poll, body byte-identical with its Content-Type', async () => {
    const channel = 'café/room 1';
    const answer = longPoll(nchan, channel);
    await waitUntil(
      'the long-poll to wait on Nchan',
      async () => (await subscribers(nchan, channel)) === 1,
    );
    const data = { type: 'chat', text: 'héllo </script> \u2028 😀', n: [1, 2.5, null] };
    const result = await publisher.sendUpdate(channel, data);
    assert.equal(result.status, 201);
    assert.equal(result.delivered, true);
    assert.equal(result.channel?.subscribers, 1);
    const got = await answer;
    assert.equal(got.status, 200);
    assert.equal(got.headers['content-type'], 'application/json; charset=utf-8');
    assert.deepEqual(got.body, Buffer.from(JSON.stringify(data), 'utf8'));
  });

  test('alreadySerialized sends the string as is; contentType is passed through', async () => {
    const channel = 'raw-1';
    const answer = longPoll(nchan, channel);
    await waitUntil(
      'the long-poll to wait on Nchan',
      async () => (await subscribers(nchan, channel)) === 1,
    );
    await publisher.sendUpdate(channel, '{"a":  1}', {
      alreadySerialized: true,
      contentType: 'text/plain',
    });
    const got = await answer;
    assert.equal(got.headers['content-type'], 'text/plain');
    assert.equal(got.body.toString(), '{"a":  1}');
  });

  test('a 4xx answer is a PublishError naming the URL and status', async () => {
    // Publishing to Nchan's subscriber location: it answers 403.
    const wrong = publisherFor(nchan.port, {
      locations: [
        { type: 'publisher', prefix: '/subscriber/' },
        { type: 'subscriber', prefix: '/subscriber/' },
      ],
    });
    try {
      // Nchan answers 403 before reading the body, then answers the unread body with a
      // 400 on the same connection: the 403 stands, and that connection is not reused.
      await assert.rejects(wrong.sendUpdate('c', 1), { status: 403 });
      await assert.rejects(wrong.sendUpdate('c', 1), (error: PublishError) => {
        assert.ok(error instanceof PublishError);
        assert.equal(error.status, 403);
        assert.equal(error.url, `http://127.0.0.1:${nchan.port}/subscriber/c`);
        assert.equal(
          error.message,
          `pushserver: publishing to http://127.0.0.1:${nchan.port}/subscriber/c failed: the daemon answered 403`,
        );
        return true;
      });
    } finally {
      wrong.close();
    }
  });
});

describe('sendUpdate failures', () => {
  let server: http.Server;
  let port: number;
  let silent: http.Server;
  let silentPort: number;
  before(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('store exploded\nsecond line');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
    // Accepts the request and never answers.
    silent = http.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  after(() => {
    server.close();
    silent.closeAllConnections();
    silent.close();
  });

  test('a 5xx answer: the message carries the first line of the body', async () => {
    const publisher = publisherFor(port);
    await assert.rejects(publisher.sendUpdate('c', 1), {
      name: 'PublishError',
      status: 500,
      body: 'store exploded\nsecond line',
      message: `pushserver: publishing to http://127.0.0.1:${port}/publisher/c failed: the daemon answered 500: store exploded`,
    });
    publisher.close();
  });

  test('connection refused says to start the daemon', async () => {
    const closedPort = await freePort();
    const publisher = publisherFor(closedPort);
    await assert.rejects(publisher.sendUpdate('c', 1), {
      name: 'PublishError',
      message: `pushserver: publishing to http://127.0.0.1:${closedPort}/publisher/c failed: connection refused (127.0.0.1:${closedPort}); is the push daemon running? Start one with: npx runpushserver`,
    });
    publisher.close();
  });

  test('timeout: per call, and from settings', async () => {
    const publisher = publisherFor(silentPort, { publishTimeout: 150 });
    await assert.rejects(publisher.sendUpdate('c', 1), {
      message: `pushserver: publishing to http://127.0.0.1:${silentPort}/publisher/c failed: no answer within 150 ms`,
    });
    await assert.rejects(publisher.sendUpdate('c', 1, { timeout: 50 }), {
      message: `pushserver: publishing to http://127.0.0.1:${silentPort}/publisher/c failed: no answer within 50 ms`,
    });
    publisher.close();
  });

  test('an AbortSignal aborts the request', async () => {
    const publisher = publisherFor(silentPort);
    const controller = new AbortController();
    const pending = publisher.sendUpdate('c', 1, { signal: controller.signal });
    controller.abort();
    await assert.rejects(pending, { name: 'PublishError', message: /failed: aborted$/ });
    await assert.rejects(publisher.sendUpdate('c', 1, { signal: controller.signal }), {
      message: /failed: aborted before it was sent$/,
    });
    publisher.close();
  });

  test('ignoreErrors per call resolves with the error', async () => {
    const publisher = publisherFor(port);
    const result = await publisher.sendUpdate('c', 1, { ignoreErrors: true });
    assert.equal(result.ok, false);
    assert.equal(result.delivered, false);
    assert.equal(result.queued, false);
    assert.equal(result.status, 500);
    assert.ok(result.error instanceof PublishError);
    publisher.close();
  });

  test('ignoreErrors from settings, and a call can turn it off again', async () => {
    const publisher = publisherFor(port, { ignoreErrors: true });
    assert.equal((await publisher.sendUpdate('c', 1)).ok, false);
    await assert.rejects(publisher.sendUpdate('c', 1, { ignoreErrors: false }), { status: 500 });
    publisher.close();
  });

  test('a bad channel id throws before anything is sent, even with ignoreErrors', async () => {
    const publisher = publisherFor(port, { ignoreErrors: true });
    await assert.rejects(publisher.sendUpdate('', 1), { name: 'ChannelIdError' });
    publisher.close();
  });

  test('data that is not JSON-serializable is a TypeError', async () => {
    const publisher = publisherFor(port);
    await assert.rejects(publisher.sendUpdate('c', undefined), {
      name: 'TypeError',
      message: 'sendUpdate: undefined cannot be serialized to JSON',
    });
    publisher.close();
  });
});

describe('signals', { skip: needs(NCHAN) }, () => {
  let nchan: Nchan;
  before(async () => {
    nchan = await startNchan();
  });
  after(() => nchan?.stop());
  afterEach(() => {
    signals.removeAllListeners('preSendUpdate');
    signals.removeAllListeners('postSendUpdate');
  });

  test('preSendUpdate then postSendUpdate, with request and response', async () => {
    const seen: Array<[string, PreSendUpdateEvent | PostSendUpdateEvent]> = [];
    signals.on('preSendUpdate', (event) => seen.push(['pre', structuredClone(event)]));
    signals.on('postSendUpdate', (event) => seen.push(['post', event]));
    const publisher = publisherFor(nchan.port);
    const result = await publisher.sendUpdate('hooks-1', { a: 1 });
    publisher.close();
    assert.deepEqual(
      seen.map(([name]) => name),
      ['pre', 'post'],
    );
    const pre = seen[0][1];
    assert.equal(pre.channelId, 'hooks-1');
    assert.deepEqual(pre.data, { a: 1 });
    assert.equal(pre.alreadySerialized, false);
    assert.equal(pre.request.method, 'POST');
    assert.equal(pre.request.url, `http://127.0.0.1:${nchan.port}/publisher/hooks-1`);
    assert.deepEqual(pre.request.headers, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': '7',
      Accept: 'application/json',
    });
    assert.equal(Buffer.from(pre.request.body).toString(), '{"a":1}');
    const post = seen[1][1] as PostSendUpdateEvent;
    assert.equal(post.response?.status, 202);
    assert.equal(post.response?.headers['content-type'], 'text/json');
    assert.equal(post.error, undefined);
    assert.equal(post.result, result);
  });

  test('failed calls emit both too, postSendUpdate with the error', async () => {
    const order: string[] = [];
    let postEvent: PostSendUpdateEvent | undefined;
    signals.on('preSendUpdate', () => order.push('pre'));
    signals.on('postSendUpdate', (event: PostSendUpdateEvent) => {
      order.push('post');
      postEvent = event;
    });
    const publisher = publisherFor(await freePort());
    await assert.rejects(publisher.sendUpdate('c', 1));
    publisher.close();
    assert.deepEqual(order, ['pre', 'post']);
    assert.ok(postEvent?.error instanceof PublishError);
    assert.equal(postEvent?.response, undefined);
  });

  test('a throwing listener does not stop the others or the publish', async (t) => {
    const errors = t.mock.method(console, 'error', () => {});
    const calls: string[] = [];
    signals.on('preSendUpdate', () => {
      throw new Error('listener bug');
    });
    signals.on('preSendUpdate', () => calls.push('second'));
    const publisher = publisherFor(nchan.port);
    const result = await publisher.sendUpdate('hooks-2', 1);
    publisher.close();
    assert.equal(result.status, 202);
    assert.deepEqual(calls, ['second']);
    assert.equal(errors.mock.callCount(), 1);
    assert.match(
      String(errors.mock.calls[0].arguments[0]),
      /^pushserver: a "preSendUpdate" listener failed: Error: listener bug/,
    );
  });
});
