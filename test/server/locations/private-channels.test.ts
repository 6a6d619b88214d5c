// Private channels on the daemon (issue 18): signed ids and the authorize hook, with a
// memory store and with Redis, on long-poll, EventSource and WebSocket (the cases are in
// test/support/private-channels.ts, shared with the run against Nchan).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPushServer, type PushServer } from '../../../src/server/daemon.ts';
import { resolveSettings } from '../../../src/settings/index.ts';
import { request } from '../../conformance/http-client.ts';
import {
  type PrivateTarget,
  privateChannelCases,
  privateSettings,
  startApp,
  twoLongPolls,
} from '../../support/private-channels.ts';
import { type Redis, startRedis } from '../../support/redis.ts';
import { needs, REDIS } from '../../support/system.ts';
import { waitUntil } from '../../support/wait.ts';

/** Start the app and a daemon with `store` before the cases of `describe` run. */
function daemonTarget(store: () => Parameters<typeof privateSettings>[1]) {
  let target: PrivateTarget | undefined;
  let push: PushServer | undefined;
  let app: Awaited<ReturnType<typeof startApp>> | undefined;
  before(async () => {
    app = await startApp();
    const settings = privateSettings(app.origin, store());
    app.use(settings);
    push = createPushServer(settings);
    const { port } = await push.listen(0, '127.0.0.1');
    target = { origin: `http://127.0.0.1:${port}`, settings, app };
  });
  after(async () => {
    await push?.close();
    await app?.stop();
  });
  return () => target as PrivateTarget;
}

describe('private channels on the daemon, memory store', () => {
  const target = daemonTarget(() => ({ type: 'memory' }));
  privateChannelCases('daemon (memory)', target);

  test('an app that does not answer in time: 503, and the daemon goes on serving', async () => {
    const { origin, app } = target();
    const cookie = await app.login('carol');
    const answer = await request(origin, 'GET', '/session/slow', {
      headers: { Cookie: cookie },
      timeout: 10_000,
    });
    assert.equal(answer?.status, 503);
    assert.match(answer?.text ?? '', /timed out/);
    const refused = await request(origin, 'GET', '/session/user-nobody', { timeout: 10_000 });
    assert.equal(refused?.status, 403);
  });

  test('a subscriber that leaves while the app is asked is not let in afterwards', async () => {
    const { origin, app } = target();
    for (const accept of ['*/*', 'text/event-stream']) {
      const before = app.calls.length;
      const gone = new AbortController();
      const poll = request(origin, 'GET', '/session/late', {
        headers: { Accept: accept },
        signal: gone.signal,
      });
      await waitUntil('the app to be asked', () => app.calls.length > before);
      gone.abort();
      assert.equal(await poll, undefined);
      // The app says yes after the subscriber left: nothing is parked or counted.
      app.release();
      const check = await request(origin, 'GET', '/session/user-nobody', { timeout: 10_000 });
      assert.equal(check?.status, 403);
      assert.equal(await channelInfo(origin, 'late'), undefined, accept);
    }
  });

  test('long-poll: each poll is authorized (as Nchan), a stream once', async () => {
    const { origin, app } = target();
    const cookie = await app.login('dave');
    const before = app.calls.length;
    for (let i = 0; i < 2; i++) {
      await fetch(`${origin}/publisher/user-dave`, { method: 'POST', body: `m${i}` });
    }
    // Two polls: the first gets m0, the next (after it) m1.
    assert.deepEqual(await twoLongPolls(origin, '/session/user-dave', cookie), ['m0', 'm1']);
    assert.equal(app.calls.length - before, 2);
  });
});

describe('private channels on the daemon, Redis store', { skip: needs(REDIS) }, () => {
  let redis: Redis | undefined;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis?.destroy());
  privateChannelCases(
    'daemon (Redis)',
    daemonTarget(() => ({ type: 'redis', url: (redis as Redis).url })),
  );
});

describe('private channel settings', () => {
  test('a signed location without a secret does not start, and says how to fix it', () => {
    assert.throws(
      () =>
        resolveSettings({
          locations: [
            { type: 'publisher', prefix: '/p/' },
            { type: 'subscriber', prefix: '/s/', signed: true },
          ],
        }),
      /locations\[1\]\.signed is true but the settings have no secret.*PUSHSERVER_SECRET/,
    );
  });

  test('a short secret is refused without showing it; the resolved secrets are not enumerable', () => {
    assert.throws(
      () => resolveSettings({ secret: 'hunter2' }),
      (error: Error) =>
        /secret is 7 characters long; use at least 32/.test(error.message) &&
        !error.message.includes('hunter2'),
    );
    const settings = resolveSettings({ secret: ['a'.repeat(32), 'b'.repeat(32)] });
    assert.deepEqual(settings.secrets, ['a'.repeat(32), 'b'.repeat(32)]);
    assert.ok(!JSON.stringify(settings).includes('aaaa'));
  });
});

async function channelInfo(origin: string, channel: string) {
  const answer = await request(origin, 'GET', `/publisher/${channel}`, {
    headers: { Accept: 'text/json' },
    timeout: 10_000,
  });
  return answer?.status === 200 ? (JSON.parse(answer.text) as { subscribers: number }) : undefined;
}
