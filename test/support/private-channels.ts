// The private-channel cases (issue 18), written once and run against the daemon (memory
// and Redis stores) and against real Nchan with README's config: signed channel ids on
// every transport and on a multiplexed location, and the authorize hook with a session.
// A refused subscriber gets 403 (or the app's status) and no message, creates no
// channel, is not counted, and causes no passthrough notification.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type express from 'express';
import WebSocket from 'ws';
import { signedChannelQuery } from '../../src/channel/signature.ts';
import { channelUrl } from '../../src/channel/urls.ts';
import { authorize } from '../../src/express/authorize.ts';
import { trackPresence } from '../../src/presence.ts';
import {
  type PushServerSettings,
  type ResolvedSettings,
  resolveSettings,
} from '../../src/settings/index.ts';
import { request } from '../conformance/http-client.ts';
import { openStream } from '../conformance/stream-client.ts';
import { listen, recordSignals, sessionApp } from './passthrough.ts';
import { waitUntil, withDeadline } from './wait.ts';

export const SECRET = 'new-secret-0123456789abcdefghijklmnopqrstuv';
export const OLD_SECRET = 'old-secret-0123456789abcdefghijklmnopqrstuv';

/** The settings the app and the daemon share; `authorizeUrl` is the app's endpoint. */
export function privateSettings(
  appOrigin: string,
  store: PushServerSettings['store'] = { type: 'memory' },
): PushServerSettings {
  const passthrough = `${appOrigin}/passthrough`;
  return {
    secret: [SECRET, OLD_SECRET],
    store,
    locations: [
      { type: 'publisher', prefix: '/publisher/' },
      { type: 'subscriber', prefix: '/private/', signed: true, passthrough },
      {
        type: 'subscriber',
        prefix: '/private-multi/',
        signed: true,
        splitDelimiter: ',',
        passthrough,
      },
      {
        type: 'subscriber',
        prefix: '/session/',
        authorize: `${appOrigin}/push/authorize`,
        authorizeTimeout: 1,
        passthrough,
      },
    ],
  };
}

/** The app: sessions, /login, /passthrough, and the two authorize endpoints. */
export async function startApp() {
  let settings: ResolvedSettings | undefined;
  const calls: string[] = [];
  /** Answers held back (paths with "late"), let go by `release()`. */
  const held: Array<() => void> = [];
  const app = sessionApp((app: express.Express) => {
    app.use('/push', (req, _res, next) => {
      calls.push(String(req.headers['x-original-uri']));
      next();
    });
    app.use('/push/authorize-signed', (req, res, next) =>
      authorize(undefined, { settings })(req, res, next),
    );
    app.use('/push/authorize', (req, res, next) => {
      const target = String(req.headers['x-original-uri']);
      // The app's own refusal, to show its status and body reach the subscriber.
      if (target.includes('teapot')) return res.status(418).type('text/plain').send('no tea\n');
      // An app that never answers in time: the subscriber gets 503.
      if (target.includes('slow')) return;
      // An app that lets the subscriber in once the test says so.
      if (target.includes('late')) return void held.push(() => res.status(200).end());
      authorize<express.Request>((req, channel) => channel === `user-${req.session.user}`, {
        settings,
      })(req, res, next);
    });
  });
  const server = await listen(app);
  const origin = `http://127.0.0.1:${server.port}`;
  return {
    origin,
    port: server.port,
    /** Authorize requests seen: each one's X-Original-URI. */
    calls,
    /** Let the held "late" answers go (200). */
    release() {
      for (const answer of held.splice(0)) answer();
    },
    /** Give the app the settings the daemon runs with. */
    use(given: PushServerSettings) {
      settings = resolveSettings(given);
    },
    async login(user: string): Promise<string> {
      const res = await fetch(`${origin}/login?user=${user}`);
      return (res.headers.get('set-cookie') ?? '').split(';')[0];
    },
    stop: server.stop,
  };
}

/** A push server under test: where subscribers go, how to publish, channel info. */
/**
 * Two long-polls of `path` with the session `cookie`, the second resuming after the
 * first's message: the bodies they got (the app is asked once per poll, as Nchan asks).
 */
export async function twoLongPolls(origin: string, path: string, cookie: string) {
  const first = await request(origin, 'GET', path, {
    headers: { Cookie: cookie },
    timeout: 10_000,
  });
  const second = await request(origin, 'GET', path, {
    headers: {
      Cookie: cookie,
      'If-Modified-Since': first?.headers['last-modified'] ?? '',
      'If-None-Match': first?.headers.etag ?? '',
    },
    timeout: 10_000,
  });
  return [first?.text, second?.text];
}

export interface PrivateTarget {
  origin: string;
  settings: PushServerSettings;
  app: Awaited<ReturnType<typeof startApp>>;
}

type Transport = 'longpoll' | 'eventsource' | 'websocket';
const TRANSPORTS: Transport[] = ['longpoll', 'eventsource', 'websocket'];

/** A subscriber's refusal as it saw it. */
interface Refusal {
  status: number;
  body: string;
}

/** Subscribe and expect a refusal: its status and body. */
async function refused(
  origin: string,
  transport: Transport,
  path: string,
  headers: Record<string, string> = {},
): Promise<Refusal> {
  if (transport === 'websocket') {
    const ws = new WebSocket(origin.replace(/^http/, 'ws') + path, { headers });
    return withDeadline(
      new Promise<Refusal>((resolve, reject) => {
        ws.on('open', () => {
          ws.close();
          reject(new Error(`${path}: the WebSocket was accepted`));
        });
        ws.on('unexpected-response', (_req, res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
        });
        ws.on('error', () => {});
      }),
      10_000,
      `the WebSocket refusal of ${path}`,
    );
  }
  const answer = await request(origin, 'GET', path, {
    headers: transport === 'eventsource' ? { Accept: 'text/event-stream', ...headers } : headers,
    timeout: 10_000,
  });
  assert.ok(answer, `${transport} ${path}: no answer within 10 s (it was let in)`);
  return { status: answer.status, body: answer.text };
}

/** Subscribe, publish `message`, and resolve once the subscriber received it. */
async function receives(
  target: PrivateTarget,
  transport: Transport,
  path: string,
  channel: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const message = `hello ${channel} ${transport}`;
  const publish = () =>
    fetch(`${target.origin}/publisher/${encodeURIComponent(channel)}`, {
      method: 'POST',
      body: message,
    });
  const subscribers = async () => (await channelInfo(target.origin, channel))?.subscribers ?? 0;
  if (transport === 'longpoll') {
    const poll = request(target.origin, 'GET', path, { headers, timeout: 10_000 });
    await waitUntil(`the long-poll on ${channel} to be counted`, subscribers);
    await publish();
    const answer = await poll;
    assert.equal(answer?.status, 200, `${path}: ${answer?.status} ${answer?.text}`);
    assert.equal(answer?.text, message);
    return;
  }
  if (transport === 'eventsource') {
    const stream = await openStream(target.origin, path, {
      Accept: 'text/event-stream',
      ...headers,
    });
    try {
      assert.equal(stream.status, 200, `${path}: ${stream.status} ${stream.body()}`);
      await waitUntil(`the EventSource on ${channel} to be counted`, subscribers);
      await publish();
      await stream.until((body) => body.includes(`data: ${message}`), 10_000);
    } finally {
      stream.close();
    }
    return;
  }
  const ws = new WebSocket(target.origin.replace(/^http/, 'ws') + path, { headers });
  try {
    const received = new Promise<string>((resolve, reject) => {
      ws.on('message', (data) => resolve(String(data)));
      ws.on('unexpected-response', (_req, res) =>
        reject(new Error(`${path}: WebSocket refused with ${res.statusCode}`)),
      );
      ws.on('error', reject);
    });
    await withDeadline(
      new Promise((resolve) => ws.once('open', resolve)),
      10_000,
      `the WebSocket on ${path} to open`,
    );
    await waitUntil(`the WebSocket on ${channel} to be counted`, subscribers);
    await publish();
    assert.equal(await withDeadline(received, 10_000, `the message on ${path}`), message);
  } finally {
    ws.close();
  }
}

/** The channel's info from the publisher location, undefined when there is no such channel. */
async function channelInfo(origin: string, channel: string) {
  const answer = await request(origin, 'GET', `/publisher/${encodeURIComponent(channel)}`, {
    headers: { Accept: 'text/json' },
    timeout: 10_000,
  });
  if (answer?.status === 404) return undefined;
  assert.equal(answer?.status, 200, `channel info of ${channel}: ${answer?.status}`);
  return JSON.parse(answer.text) as { subscribers: number };
}

/** Path and query of a signed URL built by channelUrl. */
function signedPath(id: string | string[], settings: PushServerSettings, expiresIn?: number) {
  const url = new URL(
    channelUrl(id, { signed: true, expiresIn, settings: resolveSettings(settings) }),
  );
  return url.pathname + url.search;
}

/** A unique channel id per case, so that "no channel was created" means something. */
let counter = 0;
const fresh = (name: string) => `${name}-${process.pid}-${++counter}`;

/**
 * Register the cases. `target()` gives the started push server; `via` names it in the
 * test titles; `signedPrefix` / `multiPrefix` are its signed locations.
 */
export function privateChannelCases(via: string, target: () => PrivateTarget): void {
  for (const transport of TRANSPORTS) {
    test(`${via}, ${transport}: forged, tampered, expired and missing signatures get 403 and nothing else`, async () => {
      const { origin, settings } = target();
      const signals = recordSignals();
      // Presence counts whoever the notifications name: every subscriber is "visitor".
      const presence = trackPresence({ identify: () => 'visitor', graceMs: 60_000 });
      try {
        const expired = fresh('expired');
        const expiredQuery = signedChannelQuery([expired], SECRET, {
          expiresIn: 60,
          now: Date.now() - 3_600_000,
        });
        const longLived = fresh('tampered-exp');
        const longQuery = signedChannelQuery([longLived], SECRET, { expiresIn: 60 });
        const otherKey = fresh('other-key');
        const cases: Array<[string, string]> = [
          [fresh('missing'), ''],
          [fresh('forged'), `?sig=${randomBytes(32).toString('base64url')}`],
          // Another channel's valid signature.
          [fresh('tampered'), `?${signedChannelQuery(['someone-else'], SECRET)}`],
          // A valid signature with a later expiry written over its own.
          [
            longLived,
            `?${longQuery.replace(/exp=(\d+)/, (_, exp) => `exp=${Number(exp) + 3600}`)}`,
          ],
          [expired, `?${expiredQuery}`],
          // A secret the settings do not list.
          [otherKey, `?${signedChannelQuery([otherKey], 'x'.repeat(40))}`],
        ];
        for (const [channel, query] of cases) {
          const answer = await refused(origin, transport, `/private/${channel}${query}`);
          assert.equal(answer.status, 403, `${channel}: ${answer.status} ${answer.body}`);
          const expected = signedChannelQuery([channel], SECRET).split('=')[1];
          for (const secret of [SECRET, OLD_SECRET, expected]) {
            assert.ok(!answer.body.includes(secret), `${channel}: the answer shows a secret`);
          }
          assert.equal(await channelInfo(origin, channel), undefined, `${channel} was created`);
        }
        // A subscriber let in afterwards is the first and only notification.
        const allowed = fresh('allowed');
        await receives(target(), transport, signedPath(allowed, settings), allowed);
        // Nchan sends no hook for a long-poll (README), allowed or not.
        if (transport !== 'longpoll' || !via.includes('Nchan')) {
          await signals.until(1, (s) => s.channelId === allowed);
          const refusedIds = cases.map(([channel]) => channel);
          assert.deepEqual(
            signals.seen.filter((s) => refusedIds.includes(s.channelId)),
            [],
            'a refused subscriber was notified',
          );
          assert.deepEqual(presence.present(allowed), ['visitor']);
          for (const id of refusedIds) assert.deepEqual(presence.present(id), [], id);
        }
      } finally {
        presence.stop();
        signals.stop();
      }
    });

    test(`${via}, ${transport}: a valid signed URL receives, also one signed with the old secret`, async () => {
      const { settings } = target();
      const channel = fresh('valid');
      await receives(target(), transport, signedPath(channel, settings, 3600), channel);
      const old = fresh('rotated');
      await receives(
        target(),
        transport,
        `/private/${old}?${signedChannelQuery([old], OLD_SECRET)}`,
        old,
      );
    });

    test(`${via}, ${transport}: a multiplexed URL needs every channel signed`, async () => {
      const { origin, settings } = target();
      const a = fresh('ma');
      const b = fresh('mb');
      const onlyA = `/private-multi/${a},${b}?${signedChannelQuery([a], SECRET)}`;
      const answer = await refused(origin, transport, onlyA);
      assert.equal(answer.status, 403, answer.body);
      assert.equal(await channelInfo(origin, a), undefined);
      assert.equal(await channelInfo(origin, b), undefined);
      // Signed as the helpers sign a page's channels: any subset, any order.
      const url = new URL(
        channelUrl([b, a], { signed: true, settings: resolveSettings(settings) }),
      );
      await receives(target(), transport, url.pathname + url.search, b);
    });

    test(`${via}, ${transport}: the authorize hook lets the session's user in, refuses others with the app's status`, async () => {
      const { origin, app } = target();
      const user = fresh('alice');
      const alice = await app.login(user);
      const bob = await app.login(fresh('bob'));
      const channel = `user-${user}`;
      const before = app.calls.length;
      for (const [cookie, status] of [
        ['', 403],
        [bob, 403],
      ] as const) {
        const headers: Record<string, string> = cookie ? { Cookie: cookie } : {};
        const answer = await refused(origin, transport, `/session/${fresh(channel)}`, headers);
        assert.equal(answer.status, status, answer.body);
      }
      const own = `/session/${channel}`;
      const refusedBob = await refused(origin, transport, own, { Cookie: bob });
      assert.equal(refusedBob.status, 403);
      const teapot = await refused(origin, transport, `/session/teapot`, { Cookie: alice });
      assert.deepEqual(teapot, { status: 418, body: 'no tea\n' });
      assert.equal(await channelInfo(origin, 'teapot'), undefined);
      assert.equal(await channelInfo(origin, channel), undefined, 'refused subscribers created it');
      await receives(target(), transport, own, channel, { Cookie: alice });
      assert.ok(app.calls.length > before);
      assert.ok(app.calls.slice(before).every((uri) => uri.startsWith('/session/')));
    });
  }
}
