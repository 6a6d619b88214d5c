// Soak: 200 long-poll subscribers on 20 channels, 2,000 messages published in bursts.
// Every subscriber must receive every message of its channel exactly once, in order.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, test } from 'node:test';
import { createPushServer } from '../../src/server/daemon.js';
import { waitUntil, withDeadline } from '../support/wait.js';

const CHANNELS = 20;
const SUBSCRIBERS_PER_CHANNEL = 10;
const MESSAGES = 2000;
const BURST = 100;

test('200 subscribers, 20 channels, 2,000 messages in bursts: each exactly once, in order', {
  timeout: 60_000,
}, async () => {
  // The buffer holds every message of a channel, so a slow re-poll never finds its cursor evicted.
  const push = createPushServer({ store: { type: 'memory', maxMessages: MESSAGES } });
  const { port } = await push.listen(0, '127.0.0.1');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 400 });
  after(async () => {
    agent.destroy();
    await push.close();
  });

  const get = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
      },
    );
  const post = (path: string, body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          agent,
          headers: { 'Content-Type': 'text/plain' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const perChannel = MESSAGES / CHANNELS;
  const subscribe = async (channel: number): Promise<string[]> => {
    const received: string[] = [];
    let headers: Record<string, string> = {
      'If-Modified-Since': 'Thu, 1 Jan 1970 00:00:00 GMT',
      'If-None-Match': '0',
    };
    while (received.length < perChannel) {
      const answer = await get(`/subscriber/soak-${channel}`, headers);
      assert.equal(answer.status, 200);
      received.push(answer.body);
      headers = {
        'If-Modified-Since': String(answer.headers['last-modified']),
        'If-None-Match': String(answer.headers.etag),
      };
    }
    return received;
  };
  const subscribers = Array.from({ length: CHANNELS * SUBSCRIBERS_PER_CHANNEL }, (_, i) => ({
    channel: i % CHANNELS,
    done: subscribe(i % CHANNELS),
  }));
  await waitUntil('every subscriber to wait', () => push.waiting() >= subscribers.length, {
    intervalMs: 0,
  });

  // Bursts of 100 messages: every channel's share published back to back, channels in parallel.
  let sent = 0;
  while (sent < MESSAGES) {
    const burst = Array.from({ length: CHANNELS }, async (_, channel) => {
      for (let n = sent / CHANNELS; n < (sent + BURST) / CHANNELS; n++) {
        const status = await post(`/publisher/soak-${channel}`, `${channel}:${n}`);
        assert.ok(status === 201 || status === 202, `publish answered ${status}`);
      }
    });
    await Promise.all(burst);
    sent += BURST;
  }

  const expected = (channel: number) =>
    Array.from({ length: perChannel }, (_, n) => `${channel}:${n}`);
  for (const subscriber of subscribers) {
    const done = withDeadline(subscriber.done, 30_000, `channel ${subscriber.channel}'s messages`);
    assert.deepEqual(await done, expected(subscriber.channel));
  }
});
