// Real Nchan with the project's nginx.conf: its EventSource hooks become the same
// passthrough POST this daemon sends, and the Express receiver turns them into signals.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { createPushServer } from '../../src/server/daemon.ts';
import { startNchan } from '../support/nchan.ts';
import {
  eventSource,
  listen,
  nchanConfigWithStableId,
  recordSignals,
  sessionApp,
} from '../support/passthrough.ts';
import { freePort } from '../support/ports.ts';
import { NCHAN, needs } from '../support/system.ts';
import { waitUntil } from '../support/wait.ts';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const publish = (origin: string, id: string, body: string) =>
  fetch(`${origin}/publisher/${encodeURIComponent(id)}`, { method: 'POST', body });

describe('passthrough from real Nchan', { skip: needs(NCHAN) }, () => {
  test('EventSource subscribers with the session cookie: the signals carry the user and the exact id', async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const app = await listen(sessionApp());
    cleanups.push(() => app.stop());
    const nchan = await startNchan({
      passthroughPort: app.port,
      config: nchanConfigWithStableId(),
    });
    cleanups.push(() => nchan.stop());
    const login = await fetch(`http://127.0.0.1:${app.port}/login?user=carol`);
    const cookie = login.headers.get('set-cookie')!.split(';')[0];

    const ids = ['a&b=c', 'a+b', '%', '100%', 'café ☕', 'x y', '🎉'];
    for (const [i, id] of ids.entries()) {
      const stream = await eventSource(`${nchan.origin}/subscriber/${encodeURIComponent(id)}`, {
        cookie,
      });
      assert.equal(stream.status, 200);
      await signals.until(2 * i + 1);
      // Nchan sends no unsubscribe for a client that leaves before the app answered
      // the subscribe hook. Wait for the answer, then for a message to go through
      // Nchan (a round trip after the answer) before leaving.
      await signals.answered[2 * i];
      await waitUntil('Nchan to count the subscriber', async () => {
        return (await publish(nchan.origin, id, `m${i}`)).status === 201;
      });
      await stream.received(`data: m${i}\n`);
      stream.close();
      await signals.until(2 * i + 2);
    }
    assert.deepEqual(
      signals.seen.map((s) => `${s.event} ${s.user} ${s.channelId}`),
      ids.flatMap((id) => [`subscribe carol ${id}`, `unsubscribe carol ${id}`]),
    );
  });

  test('a multiplexed EventSource (/multi/a,b): Nchan hooks once with channel_id=a,b, the app gets one signal per channel, as from this daemon', async () => {
    const signals = recordSignals();
    cleanups.push(() => signals.stop());
    const app = await listen(sessionApp());
    cleanups.push(() => app.stop());
    const nchan = await startNchan({
      passthroughPort: app.port,
      config: nchanConfigWithStableId(),
    });
    cleanups.push(() => nchan.stop());
    const daemon = createPushServer({
      locations: [
        { type: 'publisher', prefix: '/publisher/' },
        {
          type: 'subscriber',
          prefix: '/multi/',
          splitDelimiter: ',',
          passthrough: `http://127.0.0.1:${app.port}/passthrough`,
        },
      ],
    });
    const { port } = await daemon.listen(0, '127.0.0.1');
    cleanups.push(() => daemon.close());
    for (const origin of [nchan.origin, `http://127.0.0.1:${port}`]) {
      const before = signals.seen.length;
      const stream = await eventSource(`${origin}/multi/mx-a,mx-b`);
      assert.equal(stream.status, 200);
      await signals.until(before + 2);
      // As above: Nchan drops the unsubscribe of a client that leaves too early.
      await Promise.all(signals.answered.slice(before));
      await waitUntil('a subscriber on the stream', async () => {
        return (await publish(origin, 'mx-a', 'm')).status === 201;
      });
      await stream.received('data: m\n');
      stream.close();
      await signals.until(before + 4);
      assert.deepEqual(
        signals.seen.slice(before).map((s) => `${s.event} ${s.channelId}`),
        ['subscribe mx-a', 'subscribe mx-b', 'unsubscribe mx-a', 'unsubscribe mx-b'],
        origin,
      );
    }
  });

  test('the app down: the EventSource subscriber still gets its messages', async () => {
    const nchan = await startNchan({
      passthroughPort: await freePort(),
      config: nchanConfigWithStableId(),
    });
    cleanups.push(() => nchan.stop());
    const stream = await eventSource(`${nchan.origin}/subscriber/down`);
    cleanups.push(() => stream.close());
    assert.equal(stream.status, 200);
    assert.equal((await publish(nchan.origin, 'down', 'still here')).status, 201);
    await stream.received('data: still here\n');
  });
});
