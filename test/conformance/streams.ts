/**
 * The conformance cases of the streaming transports and of multiplexed channels, run
 * by `suite.ts` against Nchan and against the daemon: EventSource bytes after the head
 * (compared exactly, from the ids the publishes report), resume, CORS, the ends of a
 * stream; multiplexed ids on EventSource and long-poll; WebSocket frames and closes.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { type Answer, type RequestOptions, request } from './http-client.js';
import { openStream, type RawStream } from './stream-client.js';
import type { Target } from './targets.js';

const ES = { Accept: 'text/event-stream' };
const ALLOWED = 'http://127.0.0.1:8000';
const HELLO = ': hi\n\n';
/** Headers every HTTP server adds its own way. */
const HOP = ['server', 'date', 'connection', 'keep-alive'];

interface Id {
  time: number;
  tag: number;
}

/** What the streaming cases use of the suite. */
export interface SuiteHelpers {
  target(): Target;
  channel(label: string): string;
  call(method: string, path: string, opts?: RequestOptions): Promise<Answer>;
  publish(id: string, body: string | Buffer, headers?: Record<string, string>): Promise<Answer>;
  lastId(answer: Answer): Id;
  untilSubscribers(id: string, count: number): Promise<void>;
}

/** An EventSource event as Nchan writes it. */
function frame(id: string, body: string, event?: string): string {
  const data = body
    .split('\n')
    .map((line) => `data: ${line}\n`)
    .join('');
  return `${event === undefined ? '' : `event: ${event}\n`}id: ${id}\n${data}\n`;
}

const text = (id: Id) => `${id.time}:${id.tag}`;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Register the cases under `describe('streams')`. */
export function describeStreams(h: SuiteHelpers): void {
  const origin = () => h.target().origin;
  const stream = (path: string, headers: Record<string, string> = {}) =>
    openStream(origin(), path, { ...ES, ...headers });

  /** Publish `bodies` to `ids` (one each, in order) within one second; retries when a second boundary splits them. */
  const sameSecond = async (label: string, count: number, bodies: string[], to: number[]) => {
    for (let attempt = 0; attempt < 4; attempt++) {
      const channels = Array.from({ length: count }, (_, i) => h.channel(`${label}${i}`));
      const ids: Id[] = [];
      for (let i = 0; i < bodies.length; i++) {
        ids.push(h.lastId(await h.publish(channels[to[i]], bodies[i])));
      }
      if (ids.every((id) => id.time === ids[0].time)) return { channels, time: ids[0].time, ids };
    }
    assert.fail('could not publish within one second');
  };

  describe('EventSource', () => {
    test('200 text/event-stream without a length, ": hi" before anything', async () => {
      const id = h.channel('es-head');
      const s = await stream(`/subscriber/${id}`);
      try {
        assert.equal(s.status, 200);
        assert.equal(s.headers['content-type'], 'text/event-stream; charset=utf-8');
        assert.equal(s.headers['content-length'], undefined);
        assert.equal(s.headers['transfer-encoding'], undefined);
        assert.equal(s.headers.connection, 'keep-alive');
        const names = s.names.map((n) => n.toLowerCase()).filter((n) => !HOP.includes(n));
        assert.deepEqual(names, ['content-type']);
        assert.equal(await s.until((body) => body.length >= HELLO.length), HELLO);
      } finally {
        s.close();
      }
    });

    test('each message is an event: event:, id:, one data: per line of the body', async () => {
      const id = h.channel('es-frames');
      const s = await stream(`/subscriber/${id}`);
      try {
        await h.untilSubscribers(id, 1);
        const cases: Array<[string, Record<string, string>]> = [
          ['hello', {}],
          ['with event', { 'X-EventSource-Event': 'myevent' }],
          ['{"a":1}', { 'Content-Type': 'application/json' }],
          ['line1\r\nline2\nline3', {}],
          ['', {}],
          ['trailing\n', {}],
          ['two blank\n\nlines', {}],
          ['cr only\rx', {}],
        ];
        let expected = HELLO;
        for (const [body, headers] of cases) {
          const published = await h.publish(id, body, headers);
          assert.equal(published.status, 201);
          expected += frame(text(h.lastId(published)), body, headers['X-EventSource-Event']);
        }
        assert.equal(await s.until((got) => got.length >= expected.length), expected);
      } finally {
        s.close();
      }
    });

    test('resume: Last-Event-ID over ?last_event_id=, nothing lost or repeated', async () => {
      const id = h.channel('es-resume');
      const ids: Id[] = [];
      for (const body of ['m1', 'm2', 'm3']) ids.push(h.lastId(await h.publish(id, body)));
      const events = ['m1', 'm2', 'm3'].map((body, i) => frame(text(ids[i]), body));
      const cases: Array<[string, Record<string, string>, string[]]> = [
        ['', { 'Last-Event-ID': text(ids[0]) }, events.slice(1)],
        [`?last_event_id=${encodeURIComponent(text(ids[1]))}`, {}, events.slice(2)],
        [
          `?last_event_id=${encodeURIComponent(text(ids[1]))}`,
          { 'Last-Event-ID': text(ids[0]) },
          events.slice(1),
        ],
        ['', { 'Last-Event-ID': 'garbage' }, events],
        ['?last_event_id=garbage', {}, events],
        ['', { 'Last-Event-ID': `${ids[0].time - 100}:0` }, events],
      ];
      await Promise.all(
        cases.map(async ([query, headers, wanted]) => {
          const s = await stream(`/subscriber/${id}${query}`, headers);
          try {
            const expected = HELLO + wanted.join('');
            const got = await s.until((body) => body.length >= expected.length);
            assert.equal(got, expected, `${query} ${JSON.stringify(headers)}`);
          } finally {
            s.close();
          }
        }),
      );
      // At or after the newest: nothing yet, the stream waits.
      const waiting = await Promise.all([
        stream(`/subscriber/${id}`, { 'Last-Event-ID': text(ids[2]) }),
        stream(`/subscriber/${id}`, { 'Last-Event-ID': `${ids[2].time + 1000}:0` }),
      ]);
      await sleep(300);
      for (const s of waiting) {
        assert.equal(s.body(), HELLO);
        s.close();
      }
    });

    test('CORS as on long-poll; a refused Origin gets an empty 403', async () => {
      const id = h.channel('es-cors');
      const ok = await stream(`/subcors/${id}`, { Origin: ALLOWED });
      ok.close();
      assert.equal(ok.status, 200);
      assert.equal(ok.headers['access-control-allow-origin'], ALLOWED);
      assert.equal(ok.headers['access-control-allow-credentials'], 'true');
      assert.equal(ok.headers['access-control-expose-headers'], undefined);
      const refused = await stream(`/subcors/${id}`, { Origin: 'http://evil.example' });
      refused.close();
      assert.equal(refused.status, 403);
      assert.equal(refused.headers['content-length'], '0');
      assert.equal(refused.headers['access-control-allow-origin'], 'http://evil.example');
    });

    test('a deleted channel ends the stream with ":410: 410 Gone"', async () => {
      const id = h.channel('es-gone');
      const s = await stream(`/subscriber/${id}`);
      await h.untilSubscribers(id, 1);
      assert.equal((await h.call('DELETE', `/publisher/${id}`)).status, 200);
      assert.equal(await s.closed(), `${HELLO}:410: 410 Gone\n\n`);
    });

    test('the subscriber timeout ends the stream with ":408: 408 Request Timeout"', async () => {
      // The ending names the timeout: no clock is read (a loaded machine delays the head).
      const s = await stream(`/subtimeout/${h.channel('es-timeout')}`);
      assert.equal(await s.closed(4000), `${HELLO}:408: 408 Request Timeout\n\n`);
    });

    test('an EventSource-only location: a plain GET gets an empty 403, EventSource streams', async () => {
      const id = h.channel('es-only');
      const refused = await h.call('GET', `/subes/${id}`);
      assert.equal(refused.status, 403);
      assert.equal(refused.headers['content-length'], '0');
      const s = await stream(`/subes/${id}`);
      s.close();
      assert.equal(s.status, 200);
      assert.equal(s.headers['content-type'], 'text/event-stream; charset=utf-8');
    });

    test('where EventSource is not enabled the request is a long-poll (as Nchan)', async () => {
      const id = h.channel('es-off');
      await h.publish(id, 'polled');
      const got = await h.call('GET', `/sublp/${id}`, { headers: ES });
      assert.equal(got.status, 200);
      assert.equal(got.headers['content-type'], 'text/plain');
      assert.equal(got.text, 'polled');
    });
  });

  describe('multiplexed channels', () => {
    test('EventSource ids name every channel, the source in brackets', async () => {
      const { channels, time } = await sameSecond(
        'mx-es',
        2,
        ['a1', 'b1', 'a2', 'b2'],
        [0, 1, 0, 1],
      );
      const s = await stream(`/multi/${channels.join(',')}`);
      try {
        const expected =
          HELLO +
          frame(`${time}:[0],-`, 'a1') +
          frame(`${time}:0,[0]`, 'b1') +
          frame(`${time}:[1],0`, 'a2') +
          frame(`${time}:1,[1]`, 'b2');
        assert.equal(await s.until((got) => got.length >= expected.length), expected);
      } finally {
        s.close();
      }
      const resumed = await stream(`/multi/${channels.join(',')}`, {
        'Last-Event-ID': `${time}:[0],-`,
      });
      try {
        const expected =
          HELLO +
          frame(`${time}:0,[0]`, 'b1') +
          frame(`${time}:[1],0`, 'a2') +
          frame(`${time}:1,[1]`, 'b2');
        assert.equal(await resumed.until((got) => got.length >= expected.length), expected);
      } finally {
        resumed.close();
      }
    });

    test('long-poll: Etag is the tags, Last-Modified the second; sent back, they give the next', async () => {
      const { channels, time } = await sameSecond(
        'mx-lp',
        2,
        ['a1', 'b1', 'a2', 'b2'],
        [0, 1, 0, 1],
      );
      const path = `/multi/${channels.join(',')}`;
      let headers: Record<string, string> = {};
      for (const [body, etag] of [
        ['a1', '[0],-'],
        ['b1', '0,[0]'],
        ['a2', '[1],0'],
        ['b2', '1,[1]'],
      ]) {
        const got = await h.call('GET', path, { headers });
        assert.equal(got.status, 200);
        assert.equal(got.text, body);
        assert.equal(got.headers.etag, etag);
        assert.equal(got.headers['last-modified'], new Date(time * 1000).toUTCString());
        headers = { 'If-Modified-Since': got.headers['last-modified'], 'If-None-Match': etag };
      }
      assert.equal(await request(origin(), 'GET', path, { headers, timeout: 300 }), undefined);
      const byQuery = await h.call(
        'GET',
        `${path}?last_event_id=${encodeURIComponent(`${time}:[0],-`)}`,
      );
      assert.equal(byQuery.text, 'b1');
      assert.equal(byQuery.headers.etag, '0,[0]');
      const dateOnly = await h.call('GET', path, {
        headers: { 'If-Modified-Since': headers['If-Modified-Since'] },
      });
      assert.equal(dateOnly.status, 400);
      assert.equal(dateOnly.text, 'Message ID invalid');
    });

    test('odd lists: an empty slot never fires (a,,b); a channel named twice comes twice (a,a)', async () => {
      const { channels, time } = await sameSecond('mx-odd', 2, ['a1', 'b1'], [0, 1]);
      const [a, b] = channels;
      const gap = await stream(`/multi/${a},,${b}`);
      const twice = await stream(`/multi/${a},${a}`);
      try {
        const gapExpected = HELLO + frame(`${time}:[0],-,-`, 'a1') + frame(`${time}:0,-,[0]`, 'b1');
        assert.equal(await gap.until((got) => got.length >= gapExpected.length), gapExpected);
        const twiceExpected = HELLO + frame(`${time}:[0],-`, 'a1') + frame(`${time}:0,[0]`, 'a1');
        assert.equal(await twice.until((got) => got.length >= twiceExpected.length), twiceExpected);
      } finally {
        gap.close();
        twice.close();
      }
    });

    test('255 channels are served; 256 get an empty 403', async () => {
      const ids = (count: number) =>
        Array.from({ length: count }, (_, i) => i.toString(36).padStart(3, '0')).join(',');
      const many = await request(origin(), 'GET', `/multi/${ids(255)}`, { timeout: 300 });
      assert.equal(many, undefined, '255 channels: the poll waits');
      const tooMany = await h.call('GET', `/multi/${ids(256)}`);
      assert.equal(tooMany.status, 403);
      assert.equal(tooMany.headers['content-length'], '0');
    });
  });

  describe('WebSocket', () => {
    const wsUrl = (path: string) => `${origin().replace(/^http/, 'ws')}${path}`;
    /** Open a WebSocket and collect its frames; resolves once open (or with the refusal's status). */
    const socket = (path: string, protocol?: string, headers: Record<string, string> = {}) =>
      new Promise<{
        ws: WebSocket;
        frames: Array<{ data: Buffer; binary: boolean }>;
        upgrade: Record<string, string>;
        closed: Promise<{ code: number; reason: string }>;
        until(count: number): Promise<void>;
      }>((resolve, reject) => {
        const ws = new WebSocket(wsUrl(path), protocol, { headers });
        const frames: Array<{ data: Buffer; binary: boolean }> = [];
        let upgrade: Record<string, string> = {};
        const waiters = new Set<() => void>();
        ws.on('upgrade', (res) => {
          upgrade = res.headers as Record<string, string>;
        });
        ws.on('message', (data: Buffer, binary) => {
          frames.push({ data, binary });
          for (const waiter of [...waiters]) waiter();
        });
        const closed = new Promise<{ code: number; reason: string }>((done) =>
          ws.on('close', (code, reason) => done({ code, reason: reason.toString() })),
        );
        ws.on('unexpected-response', (_req, res) =>
          reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode })),
        );
        ws.on('error', reject);
        ws.on('open', () =>
          resolve({
            ws,
            frames,
            upgrade,
            closed,
            until: (count) =>
              new Promise<void>((done, fail) => {
                if (frames.length >= count) return done();
                const timer = setTimeout(
                  () => fail(new Error(`${frames.length}/${count} frames`)),
                  5000,
                );
                const check = () => {
                  if (frames.length < count) return;
                  clearTimeout(timer);
                  waiters.delete(check);
                  done();
                };
                waiters.add(check);
              }),
          }),
        );
      });

    test('plain frames carry the body; ws+meta.nchan adds id and content-type', async () => {
      const id = h.channel('ws-frames');
      const plain = await socket(`/subscriber/${id}`);
      const meta = await socket(`/subscriber/${id}`, 'ws+meta.nchan');
      try {
        assert.equal(plain.upgrade['sec-websocket-protocol'], undefined);
        assert.equal(meta.upgrade['sec-websocket-protocol'], 'ws+meta.nchan');
        await h.untilSubscribers(id, 2);
        const sent: Array<[string | Buffer, Record<string, string>]> = [
          ['hello', {}],
          ['{"a":1}', { 'Content-Type': 'application/json' }],
          [Buffer.from([0xff, 0x00, 0x41]), { 'Content-Type': 'application/octet-stream' }],
          ['', {}],
        ];
        const ids: string[] = [];
        for (const [body, headers] of sent) {
          ids.push(text(h.lastId(await h.publish(id, body, headers))));
        }
        await plain.until(sent.length);
        await meta.until(sent.length);
        sent.forEach(([body, headers], i) => {
          const type = headers['Content-Type'] ?? 'text/plain';
          const binary = type === 'application/octet-stream';
          assert.deepEqual(plain.frames[i], { data: Buffer.from(body), binary });
          const head = `id: ${ids[i]}\ncontent-type: ${type}\n\n`;
          assert.deepEqual(meta.frames[i], {
            data: Buffer.concat([Buffer.from(head), Buffer.from(body)]),
            binary,
          });
        });
      } finally {
        plain.ws.terminate();
        meta.ws.terminate();
      }
    });

    test('resume by ?last_event_id=; a deleted channel closes with 1001 "410 Gone"', async () => {
      const id = h.channel('ws-resume');
      const ids: Id[] = [];
      for (const body of ['m1', 'm2', 'm3']) ids.push(h.lastId(await h.publish(id, body)));
      const ws = await socket(
        `/subscriber/${id}?last_event_id=${encodeURIComponent(text(ids[0]))}`,
      );
      await ws.until(2);
      assert.deepEqual(
        ws.frames.map((f) => f.data.toString()),
        ['m2', 'm3'],
      );
      await h.call('DELETE', `/publisher/${id}`);
      assert.deepEqual(await ws.closed, { code: 1001, reason: '410 Gone' });
    });

    test('a frame from the client closes with 1008 "Publish" and publishes nothing', async () => {
      const id = h.channel('ws-publish');
      const ws = await socket(`/subscriber/${id}`);
      ws.ws.send('from client');
      assert.deepEqual(await ws.closed, { code: 1008, reason: 'Publish' });
      const info = await h.call('GET', `/publisher/${id}`, {
        headers: { Accept: 'application/json' },
      });
      assert.ok(info.status === 404 || JSON.parse(info.text).messages === 0);
    });

    test('the subscriber timeout closes with 1000 "408 408 Request Timeout"', async () => {
      const ws = await socket(`/subtimeout/${h.channel('ws-timeout')}`);
      assert.deepEqual(await ws.closed, { code: 1000, reason: '408 408 Request Timeout' });
    });

    test('multiplexed meta frames carry the multi id', async () => {
      const { channels, time } = await sameSecond('mx-ws', 2, ['a1', 'b1'], [0, 1]);
      const ws = await socket(`/multi/${channels.join(',')}`, 'ws+meta.nchan');
      await ws.until(2);
      assert.deepEqual(
        ws.frames.map((f) => f.data.toString()),
        [
          `id: ${time}:[0],-\ncontent-type: text/plain\n\na1`,
          `id: ${time}:0,[0]\ncontent-type: text/plain\n\nb1`,
        ],
      );
      ws.ws.terminate();
    });

    test('where WebSocket is not enabled: 403', async () => {
      const refused = await socket(`/sublp/${h.channel('ws-off')}`).catch((error) => error);
      assert.equal(refused.status, 403);
    });
  });
}

export type { RawStream };
