/**
 * The conformance suite: HTTP-level cases run unchanged against real Nchan and
 * against this daemon. Where the daemon deliberately differs, a case asserts each
 * side's behaviour (`t.kind === 'nchan' ? ... : ...`) and says why.
 *
 * Run it against another store (e.g. Redis) from a test file of your own:
 *
 *   import { runConformance } from '../conformance/suite.js';
 *   import { conformanceSettings, pushServerTarget } from '../conformance/targets.js';
 *   const redis = await startRedis();           // test/support/redis.ts
 *   after(() => redis.destroy());
 *   runConformance('pushserver, redis store', pushServerTarget(conformanceSettings({
 *     default: { type: 'redis', url: redis.url, keyPrefix: 'c:', maxMessages: 100, messageTimeout: 60 },
 *     short: { type: 'redis', url: redis.url, keyPrefix: 's:', maxMessages: 3, messageTimeout: 2 },
 *   })));
 *
 * The target must serve the locations of test/conformance/nginx.conf (see
 * `conformanceSettings()`): `/publisher/` and `/subscriber/` on a store of 100
 * messages / 60 s, `/pubshort/` and `/subshort/` on one of 3 messages / 2 s,
 * `/subcors/` (allowOrigin http://127.0.0.1:8000), `/subinterval/` (interval polling),
 * `/subtimeout/` (1 s subscriberTimeout), `/sublp/` (long-poll only), `/subes/`
 * (EventSource only) and `/multi/`
 * (channels split at `,`); the EventSource, WebSocket and multiplexed cases are in
 * `streams.ts`. Every case uses its own channel ids.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Answer, type RequestOptions, request } from './http-client.js';
import { describeStreams } from './streams.js';
import type { StartTarget, Target } from './targets.js';

const VARY = 'If-None-Match, If-Modified-Since';
const FIRST_POLL = { 'If-Modified-Since': 'Thu, 1 Jan 1970 00:00:00 GMT', 'If-None-Match': '0' };
const ALLOWED = 'http://127.0.0.1:8000';
/** Headers every HTTP server adds its own way. */
const HOP = ['server', 'date', 'connection', 'keep-alive'];

interface Id {
  time: number;
  tag: number;
}

/**
 * Register the suite under `describe(name)`.
 *
 * @param name shown in the test report
 * @param startTarget starts the server under test (once for the whole suite)
 * @param options `skip` as for `describe` (e.g. `needs(NCHAN)`)
 */
export function runConformance(
  name: string,
  startTarget: StartTarget,
  options: { skip?: string | false } = {},
): void {
  describe(name, { skip: options.skip, concurrency: true }, () => {
    let t: Target;
    let seq = 0;
    before(async () => {
      t = await startTarget();
    });
    after(() => t?.stop());

    const channel = (label: string) => `${label}-${process.pid}-${Date.now() % 1e6}-${++seq}`;
    const call = async (
      method: string,
      path: string,
      opts: RequestOptions = {},
    ): Promise<Answer> => {
      const answer = await request(t.origin, method, path, opts);
      assert.ok(answer, `${method} ${path}: no answer`);
      return answer;
    };
    const publish = (
      id: string,
      body: string | Buffer,
      headers: Record<string, string> = {},
      at = '/publisher/',
    ) =>
      call('POST', at + id, {
        body,
        headers: { Accept: 'application/json', 'Content-Type': 'text/plain', ...headers },
      });
    const poll = (id: string, headers: Record<string, string> = {}, at = '/subscriber/') =>
      call('GET', at + id, { headers });
    const cursor = (id: Id) => ({
      'If-Modified-Since': httpDate(id.time),
      'If-None-Match': String(id.tag),
    });
    const lastId = (answer: Answer): Id => {
      const found = /"last_message_id": "(\d+):(\d+)"/.exec(answer.text);
      assert.ok(found, `no last_message_id in ${answer.text}`);
      return { time: Number(found[1]), tag: Number(found[2]) };
    };
    /** Wait until the channel reports `count` waiting subscribers (Nchan has no other signal). */
    const untilSubscribers = async (id: string, count: number, at = '/publisher/') => {
      for (let i = 0; i < 200; i++) {
        const info = await call('GET', at + id, { headers: { Accept: 'application/json' } });
        if (info.status === 200 && JSON.parse(info.text).subscribers === count) return;
        await sleep(20);
      }
      assert.fail(`${id} never reported ${count} subscribers`);
    };

    describeStreams({
      target: () => t,
      channel,
      call,
      publish,
      lastId,
      untilSubscribers,
    });

    test('Server header names the server', async () => {
      const answer = await call('GET', `/publisher/${channel('server')}`);
      if (t.kind === 'nchan') assert.match(answer.headers.server, /^nginx\//);
      else assert.equal(answer.headers.server, 'pushserver');
    });

    test('POST with nobody waiting: 202 and the info body in text/plain', async () => {
      const answer = await call('POST', `/publisher/${channel('p202')}`, {
        body: 'x',
        headers: { 'Content-Type': 'text/plain' },
      });
      assert.equal(answer.status, 202);
      assert.equal(answer.headers['content-type'], 'text/plain');
      assert.match(
        answer.text,
        /^queued messages: 1\r\nlast requested: -1 sec\. ago\r\nactive subscribers: 0\r\nlast message id: \d+:0$/,
      );
      assert.equal(answer.headers.etag, undefined);
      assert.equal(answer.headers['last-modified'], undefined);
    });

    test('POST with a waiting subscriber: 201, JSON info as text/json, the subscriber gets it', async () => {
      const id = channel('p201');
      const waiting = poll(id, FIRST_POLL);
      await untilSubscribers(id, 1);
      const answer = await publish(id, '{"n":1}', {
        'Content-Type': 'application/json; charset=utf-8',
      });
      assert.equal(answer.status, 201);
      assert.equal(answer.headers['content-type'], 'text/json');
      assert.match(
        answer.text,
        /^\{"messages": 1, "requested": \d+, "subscribers": 1, "last_message_id": "\d+:0" \}$/,
      );
      const got = await waiting;
      assert.equal(got.status, 200);
      assert.equal(got.text, '{"n":1}');
      assert.equal(got.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(got.headers['content-length'], '7');
      assert.equal(got.headers.etag, '0');
      assert.equal(got.headers['last-modified'], httpDate(lastId(answer).time));
      assert.equal(got.headers.vary, VARY);
      // py-hbpush's Cache-Control: etag=<n> is an addition of ours, for old clients.
      assert.equal(got.headers['cache-control'], t.kind === 'nchan' ? undefined : 'etag=0');
      assert.equal(got.headers['access-control-allow-origin'], undefined);
      const names = got.names
        .map((name) => name.toLowerCase())
        .filter((name) => !HOP.includes(name));
      assert.deepEqual(
        names.sort(),
        [
          'content-length',
          'content-type',
          'etag',
          'last-modified',
          'vary',
          ...(t.kind === 'nchan' ? [] : ['cache-control']),
        ].sort(),
      );
    });

    test('a burst of three POSTs to one waiting poll: 201 202 202, the poll gets the first', async () => {
      const id = channel('burst');
      const waiting = poll(id);
      await untilSubscribers(id, 1);
      const statuses = [];
      for (const body of ['b1', 'b2', 'b3']) statuses.push((await publish(id, body)).status);
      assert.deepEqual(statuses, [201, 202, 202]);
      const got = await waiting;
      assert.equal(got.text, 'b1');
      assert.equal(got.headers.etag, '0');
    });

    test('info bodies in XML and YAML', async () => {
      const id = channel('formats');
      const xml = await publish(id, 'a', { Accept: 'text/xml' });
      assert.equal(xml.headers['content-type'], 'text/xml');
      assert.match(
        xml.text,
        /^<\?xml version="1\.0" encoding="UTF-8" \?>\r\n<channel>\r\n {2}<messages>1<\/messages>\r\n {2}<requested>-1<\/requested>\r\n {2}<subscribers>0<\/subscribers>\r\n {2}<last_message_id>\d+:0<\/last_message_id>\r\n<\/channel>$/,
      );
      const yaml = await publish(id, 'b', { Accept: 'text/yaml' });
      assert.equal(yaml.headers['content-type'], 'text/yaml');
      assert.match(
        yaml.text,
        /^---\r\nmessages: 2\r\nrequested: -1\r\nsubscribers: 0\r\nlast_message_id: "\d+:\d+"\r\n\r\n$/,
      );
      const json = await call('GET', `/publisher/${id}`, {
        headers: { Accept: 'application/xml' },
      });
      assert.equal(json.headers['content-type'], 'text/xml');
    });

    test('PUT publishes too, an empty message when there is no body', async () => {
      const id = channel('put');
      const first = await call('PUT', `/publisher/${id}`);
      assert.equal(first.status, 202);
      assert.match(first.text, /^queued messages: 1\r\n/);
      const second = await call('PUT', `/publisher/${id}`, {
        body: 'putbody',
        headers: { 'Content-Type': 'text/plain' },
      });
      assert.equal(second.status, 202);
      assert.match(second.text, /^queued messages: 2\r\n/);
      const oldest = await poll(id);
      assert.equal(oldest.status, 200);
      assert.equal(oldest.headers['content-length'], '0');
      assert.equal(oldest.headers['content-type'], undefined);
      const next = await poll(id, {
        'If-Modified-Since': oldest.headers['last-modified'],
        'If-None-Match': oldest.headers.etag,
      });
      assert.equal(next.text, 'putbody');
    });

    test('publisher GET and DELETE: info, or an empty 404 for an unknown channel', async () => {
      const id = channel('info');
      const unknown = await call('GET', `/publisher/${id}`);
      assert.equal(unknown.status, 404);
      assert.equal(unknown.headers['content-length'], '0');
      await publish(id, 'one');
      await publish(id, 'two');
      const info = await call('GET', `/publisher/${id}`);
      assert.equal(info.status, 200);
      assert.equal(info.headers['content-type'], 'text/plain');
      assert.match(
        info.text,
        /^queued messages: 2\r\nlast requested: -1 sec\. ago\r\nactive subscribers: 0\r\nlast message id: \d+:\d+$/,
      );
      const deleted = await call('DELETE', `/publisher/${id}`, {
        headers: { Accept: 'application/json' },
      });
      assert.equal(deleted.status, 200);
      assert.match(deleted.text, /^\{"messages": 2, "requested": -1, "subscribers": 0, /);
      const again = await call('DELETE', `/publisher/${channel('never')}`);
      assert.equal(again.status, 404);
      assert.equal(again.headers['content-length'], '0');
    });

    test('DELETE answers a waiting poll with 410 Gone', async () => {
      const id = channel('gone');
      await publish(id, 'before');
      const first = await poll(id);
      const waiting = poll(id, {
        'If-Modified-Since': first.headers['last-modified'],
        'If-None-Match': first.headers.etag,
      });
      await untilSubscribers(id, 1);
      const deleted = await call('DELETE', `/publisher/${id}`);
      assert.equal(deleted.status, 200);
      assert.match(
        deleted.text,
        /^queued messages: 1\r\nlast requested: \d+ sec\. ago\r\nactive subscribers: 1\r\n/,
      );
      const got = await waiting;
      assert.equal(got.status, 410);
      assert.equal(got.headers['content-length'], '0');
      assert.equal(got.headers.etag, '0');
      assert.equal(got.headers.vary, VARY);
    });

    describe('a chain of same-second messages, then a later second', () => {
      const id = channel('chain');
      let t1 = 0;
      let t2 = 0;
      let chainName = id;
      before(async () => {
        // Three messages in one second (retry when a second boundary splits them), then one two seconds later.
        for (let attempt = 0; ; attempt++) {
          const chainId = attempt === 0 ? id : `${id}-${attempt}`;
          const ids: Id[] = [];
          for (const body of ['r-a', 'r-b', 'r-c']) ids.push(lastId(await publish(chainId, body)));
          if (ids.every((one, i) => one.time === ids[0].time && one.tag === i)) {
            t1 = ids[0].time;
            chainName = chainId;
            break;
          }
          assert.ok(attempt < 3, 'could not publish three messages within one second');
        }
        await sleepUntil((t1 + 2) * 1000 + 20);
        t2 = lastId(await publish(chainName, 'r-d')).time;
        assert.ok(t2 >= t1 + 2);
      });
      const ask = (headers: Record<string, string>) => poll(chainName, headers);
      const expect = async (
        headers: Record<string, string>,
        body: string,
        etag: string,
        second: () => number,
      ) => {
        const got = await ask(headers);
        assert.equal(got.status, 200, `${JSON.stringify(headers)} -> ${got.status}`);
        assert.equal(got.text, body, JSON.stringify(headers));
        assert.equal(got.headers.etag, etag);
        assert.equal(got.headers['last-modified'], httpDate(second()));
      };

      test('no cache headers, or the 1970 first poll: the oldest message', async () => {
        await expect({}, 'r-a', '0', () => t1);
        await expect(FIRST_POLL, 'r-a', '0', () => t1);
      });
      test('each message is followed by the next, across the second boundary', async () => {
        await expect(cursor({ time: t1, tag: 0 }), 'r-b', '1', () => t1);
        await expect(cursor({ time: t1, tag: 1 }), 'r-c', '2', () => t1);
        await expect(cursor({ time: t1, tag: 2 }), 'r-d', '0', () => t2);
      });
      test('quoted and weak Etags are read as numbers', async () => {
        const ims = httpDate(t1);
        await expect({ 'If-Modified-Since': ims, 'If-None-Match': '"1"' }, 'r-c', '2', () => t1);
        await expect({ 'If-Modified-Since': ims, 'If-None-Match': 'W/"1"' }, 'r-c', '2', () => t1);
      });
      test('a garbage or empty If-None-Match reads as 0, -1 as before the first', async () => {
        const ims = httpDate(t1);
        await expect({ 'If-Modified-Since': ims, 'If-None-Match': 'abc' }, 'r-b', '1', () => t1);
        await expect({ 'If-Modified-Since': ims, 'If-None-Match': '' }, 'r-b', '1', () => t1);
        await expect({ 'If-Modified-Since': ims, 'If-None-Match': '-1' }, 'r-a', '0', () => t1);
      });
      test('an Etag beyond the second gives the first message of a later second', async () => {
        await expect(
          { 'If-Modified-Since': httpDate(t1), 'If-None-Match': '7' },
          'r-d',
          '0',
          () => t2,
        );
        await expect(
          { 'If-Modified-Since': httpDate(t1 + 1), 'If-None-Match': '0' },
          'r-d',
          '0',
          () => t2,
        );
        await expect(
          { 'If-Modified-Since': httpDate(t1 - 1), 'If-None-Match': '5' },
          'r-a',
          '0',
          () => t1,
        );
      });
      test('dates without a zone, with +0000, and in RFC 850 form', async () => {
        const bare = httpDate(t1).replace(' GMT', '');
        await expect({ 'If-Modified-Since': bare, 'If-None-Match': '1' }, 'r-c', '2', () => t1);
        await expect(
          { 'If-Modified-Since': `${bare} +0000`, 'If-None-Match': '1' },
          'r-c',
          '2',
          () => t1,
        );
        await expect(
          { 'If-Modified-Since': rfc850(t1), 'If-None-Match': '0' },
          'r-b',
          '1',
          () => t1,
        );
      });
      test('a garbage or 1970 date, or an Etag alone: from the oldest', async () => {
        const cases: Array<Record<string, string>> = [
          { 'If-Modified-Since': 'garbage', 'If-None-Match': '0' },
          { 'If-Modified-Since': 'garbage' },
          { 'If-Modified-Since': 'Thu, 1 Jan 1970 00:00:00 GMT' },
          { 'If-None-Match': '1' },
        ];
        for (const headers of cases) {
          await expect(headers, 'r-a', '0', () => t1);
        }
      });
      test('a valid date without If-None-Match: 400 Message ID invalid', async () => {
        const got = await ask({ 'If-Modified-Since': httpDate(t1) });
        assert.equal(got.status, 400);
        assert.equal(got.headers['content-type'], 'text/plain');
        assert.equal(got.text, 'Message ID invalid');
        assert.equal(got.headers.vary, undefined);
      });
      test('a date in the future waits (a DELETE ends the wait with 410)', async () => {
        const id = channel('future');
        await publish(id, 'now');
        const waiting = poll(id, {
          'If-Modified-Since': 'Fri, 01 Jan 2100 00:00:00 GMT',
          'If-None-Match': '0',
        });
        await untilSubscribers(id, 1);
        await publish(id, 'still-past');
        await call('DELETE', `/publisher/${id}`);
        assert.equal((await waiting).status, 410);
      });
    });

    test('evicted and expired messages: the oldest remaining one, or wait when none remains', async () => {
      // Messages expire 2 s after publication: the eviction checks count only when they
      // were all answered before the first message could expire. On a loaded machine
      // the round is tried again on a fresh channel (a bounded number of times).
      let id = '';
      let ids: Id[] = [];
      let answers: Array<{ text: string; etag: string | undefined }> = [];
      for (let attempt = 1; ; attempt++) {
        id = channel(`short${attempt}`);
        ids = [];
        for (const body of ['e1', 'e2', 'e3', 'e4', 'e5']) {
          ids.push(lastId(await publish(id, body, {}, '/pubshort/')));
        }
        answers = [];
        for (const from of [{}, cursor(ids[0]), cursor(ids[2])]) {
          const got = await poll(id, from, '/subshort/');
          answers.push({ text: got.text, etag: got.headers.etag });
        }
        if (Date.now() < ids[0].time * 1000 + 2000) break;
        assert.ok(attempt < 5, 'five rounds of 5 publishes and 3 polls each took over 2 s');
      }
      assert.deepEqual(answers, [
        { text: 'e3', etag: String(ids[2].tag) },
        { text: 'e3', etag: String(ids[2].tag) },
        { text: 'e4', etag: String(ids[3].tag) },
      ]);
      // All five expire 2 s after publication; then a poll waits for the next message.
      await sleepUntil((ids[4].time + 4) * 1000);
      const waiting = poll(id, {}, '/subshort/');
      await untilSubscribers(id, 1, '/pubshort/');
      const fresh = await publish(id, 'e6', {}, '/pubshort/');
      assert.equal(fresh.status, 201);
      assert.equal((await waiting).text, 'e6');
    });

    describe('CORS', () => {
      test('no Origin: no CORS headers', async () => {
        const id = channel('nocors');
        await publish(id, 'x');
        const got = await poll(id);
        assert.deepEqual(
          got.names.filter((name) => name.toLowerCase().startsWith('access-control')),
          [],
        );
      });
      test('default: any Origin is echoed, with credentials', async () => {
        const id = channel('cors');
        await publish(id, 'x');
        const got = await poll(id, { Origin: 'http://evil.example' });
        assert.equal(got.status, 200);
        assert.equal(got.headers['access-control-allow-origin'], 'http://evil.example');
        assert.equal(got.headers['access-control-allow-credentials'], 'true');
        // We also expose Cache-Control, which carries py-hbpush's etag.
        assert.equal(
          got.headers['access-control-expose-headers'],
          t.kind === 'nchan'
            ? 'Last-Modified, Etag, Content-Type'
            : 'Last-Modified, Etag, Content-Type, Cache-Control',
        );
      });
      test('fixed origin: the same origin is served, another gets 403', async () => {
        const id = channel('fixed');
        await publish(id, 'x');
        const ok = await poll(id, { Origin: ALLOWED }, '/subcors/');
        assert.equal(ok.status, 200);
        assert.equal(ok.headers['access-control-allow-origin'], ALLOWED);
        assert.equal(ok.headers['access-control-allow-credentials'], 'true');
        const refused = await poll(id, { Origin: 'http://evil.example' }, '/subcors/');
        assert.equal(refused.status, 403);
        assert.equal(refused.headers['content-length'], '0');
        assert.equal(refused.headers['access-control-allow-origin'], 'http://evil.example');
        assert.equal(refused.headers['access-control-allow-credentials'], 'true');
        const preflight = await call('OPTIONS', `/subcors/${id}`, {
          headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'GET' },
        });
        assert.equal(preflight.status, 403);
      });
      test('subscriber preflight', async () => {
        const id = channel('preflight');
        const got = await call('OPTIONS', `/subscriber/${id}`, {
          headers: {
            Origin: ALLOWED,
            'Access-Control-Request-Method': 'GET',
            'Access-Control-Request-Headers': 'if-modified-since,if-none-match',
          },
        });
        assert.equal(got.status, 200);
        assert.equal(got.headers.allow, 'GET');
        assert.equal(got.headers['access-control-allow-methods'], 'GET');
        // A fixed list (Last-Event-ID is not in it: browsers send it without a preflight).
        assert.equal(
          got.headers['access-control-allow-headers'],
          'If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event',
        );
        assert.equal(got.headers['access-control-allow-origin'], ALLOWED);
        assert.equal(got.headers['access-control-allow-credentials'], 'true');
        assert.equal(got.headers['access-control-max-age'], undefined);
        const plain = await call('OPTIONS', `/subscriber/${id}`);
        assert.equal(plain.status, 200);
        assert.equal(plain.headers.allow, 'GET');
        assert.equal(plain.headers['access-control-allow-methods'], undefined);
      });
      test('publisher preflight', async () => {
        const got = await call('OPTIONS', `/publisher/${channel('pubpre')}`, {
          headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'POST' },
        });
        assert.equal(got.status, 200);
        assert.equal(got.headers.allow, 'GET, POST, PUT, DELETE');
        assert.equal(got.headers['access-control-allow-headers'], 'Content-Type');
        assert.equal(got.headers['access-control-allow-methods'], 'GET, POST, PUT, DELETE');
        assert.equal(got.headers['access-control-allow-origin'], ALLOWED);
      });
    });

    describe('CORS on every kind of answer', () => {
      const origin = { Origin: 'http://o.example' };
      const ours = 'Last-Modified, Etag, Content-Type, Cache-Control';
      const expose = () => (t.kind === 'nchan' ? 'Last-Modified, Etag, Content-Type' : ours);
      const corsOf = (answer: Answer) => [
        answer.headers['access-control-expose-headers'],
        answer.headers['access-control-allow-credentials'],
        answer.headers['access-control-allow-origin'],
      ];
      test('410, 408 and 304 expose the cache headers too', async () => {
        const id = channel('cors-gone');
        const waiting = poll(id, origin);
        await untilSubscribers(id, 1);
        await call('DELETE', `/publisher/${id}`);
        const gone = await waiting;
        assert.equal(gone.status, 410);
        assert.equal(gone.headers.etag, undefined, 'no cursor, no Etag');
        assert.deepEqual(corsOf(gone), [expose(), 'true', 'http://o.example']);
        const timeout = await poll(channel('cors-408'), origin, '/subtimeout/');
        assert.equal(timeout.status, 408);
        assert.deepEqual(corsOf(timeout), [expose(), 'true', 'http://o.example']);
        const interval = await poll(channel('cors-304'), origin, '/subinterval/');
        assert.equal(interval.status, 304);
        assert.deepEqual(corsOf(interval), [expose(), 'true', 'http://o.example']);
      });
      test('400, 403 and 404 carry only the origin and credentials', async () => {
        const invalid = await poll(channel('cors-400'), {
          ...origin,
          'If-Modified-Since': httpDate(1795828879),
        });
        assert.equal(invalid.status, 400);
        assert.deepEqual(corsOf(invalid), [undefined, 'true', 'http://o.example']);
        const long = await poll('x'.repeat(1025), origin);
        assert.equal(long.status, 403);
        assert.deepEqual(corsOf(long), [undefined, 'true', 'http://o.example']);
        const post = await call('POST', `/subscriber/${channel('cors-post')}`, {
          body: 'x',
          headers: origin,
        });
        assert.deepEqual(corsOf(post), [undefined, 'true', 'http://o.example']);
        const unknown = await call('GET', `/publisher/${channel('cors-404')}`, { headers: origin });
        assert.equal(unknown.status, 404);
        assert.deepEqual(corsOf(unknown), [undefined, 'true', 'http://o.example']);
      });
      test('a publish with an Origin: origin and credentials, nothing exposed', async () => {
        const answer = await publish(channel('cors-pub'), 'x', origin);
        assert.equal(answer.status, 202);
        assert.deepEqual(corsOf(answer), [undefined, 'true', 'http://o.example']);
      });
    });

    test('410 echoes the Etag the poll asked after', async () => {
      const id = channel('gone-tag');
      const ids: Id[] = [];
      for (const body of ['a', 'b', 'c']) ids.push(lastId(await publish(id, body)));
      const waiting = poll(id, cursor(ids[2]));
      await untilSubscribers(id, 1);
      await call('DELETE', `/publisher/${id}`);
      const gone = await waiting;
      assert.equal(gone.status, 410);
      assert.equal(gone.headers.etag, String(ids[2].tag));
      assert.equal(gone.headers['last-modified'], undefined);
    });

    test('a channel with only a waiting subscriber: info says 0 messages and id 0:0', async () => {
      const id = channel('only-sub');
      const waiting = poll(id);
      await untilSubscribers(id, 1);
      const info = await call('GET', `/publisher/${id}`);
      assert.match(
        info.text,
        /^queued messages: 0\r\nlast requested: \d+ sec\. ago\r\nactive subscribers: 1\r\nlast message id: 0:0$/,
      );
      await publish(id, 'done');
      assert.equal((await waiting).text, 'done');
    });

    test('interval polling: 304 at once when nothing is newer', async () => {
      const unknown = await poll(channel('int-unknown'), {}, '/subinterval/');
      assert.equal(unknown.status, 304);
      assert.equal(unknown.headers.etag, undefined);
      assert.equal(unknown.headers['last-modified'], undefined);
      const id = channel('interval');
      const last = lastId(await publish(id, 'i1'));
      const first = await poll(id, {}, '/subinterval/');
      assert.equal(first.status, 200);
      assert.equal(first.text, 'i1');
      const none = await poll(id, cursor(last), '/subinterval/');
      assert.equal(none.status, 304);
      assert.equal(none.headers['last-modified'], httpDate(last.time));
      assert.equal(none.headers.etag, String(last.tag));
    });

    test('subscriberTimeout: a waiting poll ends with 408', async () => {
      const got = await poll(channel('timeout'), FIRST_POLL, '/subtimeout/');
      assert.equal(got.status, 408);
      assert.equal(got.headers['content-length'], '0');
      assert.equal(got.headers.vary, VARY);
      assert.equal(got.headers.etag, undefined);
    });

    test("the publisher's Content-Type is replayed verbatim; none when it had none", async () => {
      const id = channel('ctype');
      await publish(id, '<b>hi</b>', { 'Content-Type': 'text/html; charset=iso-8859-1' });
      const typed = await poll(id);
      assert.equal(typed.headers['content-type'], 'text/html; charset=iso-8859-1');
      const bare = channel('notype');
      await call('POST', `/publisher/${bare}`, { body: 'plain' });
      const untyped = await poll(bare);
      assert.equal(untyped.status, 200);
      assert.equal(untyped.text, 'plain');
      assert.equal(untyped.headers['content-type'], undefined);
    });

    test('a 2 MiB body arrives byte-identical', async () => {
      const id = channel('big');
      const body = randomBytes(2 * 1024 * 1024);
      const waiting = poll(id);
      await untilSubscribers(id, 1);
      const answer = await publish(id, body, { 'Content-Type': 'application/octet-stream' });
      assert.equal(answer.status, 201);
      const got = await waiting;
      assert.equal(got.headers['content-length'], String(body.length));
      assert.ok(got.body.equals(body), 'body differs');
      const later = await poll(id);
      assert.ok(later.body.equals(body), 'buffered body differs');
    });

    test('a body over the limit: 413, nothing stored', async () => {
      const id = channel('huge');
      const answer = await publish(id, randomBytes(4 * 1024 * 1024));
      assert.equal(answer.status, 413);
      // nginx answers with its HTML error page; we answer one plain-text line.
      assert.equal(answer.headers['content-type'], t.kind === 'nchan' ? 'text/html' : 'text/plain');
      assert.equal((await call('GET', `/publisher/${id}`)).status, 404);
    });

    test('an empty body is a message', async () => {
      const id = channel('empty');
      const answer = await call('POST', `/publisher/${id}`, {
        body: '',
        headers: { 'Content-Type': 'text/plain' },
      });
      assert.equal(answer.status, 202);
      const got = await poll(id);
      assert.equal(got.status, 200);
      assert.equal(got.headers['content-length'], '0');
      assert.equal(got.headers['content-type'], 'text/plain');
    });

    describe('channel ids', () => {
      for (const [label, encoded] of [
        ['space', 'sp%20ace'],
        ['UTF-8', 'caf%C3%A9'],
        ['a symbol', '%E2%9C%93'],
        ['a question mark', 'a%3Fb'],
      ]) {
        test(`${label} (${encoded})`, async () => {
          const id = `${channel('id')}-${encoded}`;
          assert.equal((await publish(id, label)).status, 202);
          const got = await poll(id);
          assert.equal(got.text, label);
        });
      }
      test('a plus stays a plus; the query string is not part of the id', async () => {
        const id = channel('plus');
        await publish(`${id}-a+b`, 'plus');
        assert.equal((await call('GET', `/publisher/${id}-a%20b`)).status, 404);
        const got = await poll(`${id}-a+b?_=1795829999999`, FIRST_POLL);
        assert.equal(got.text, 'plus');
      });
      test('%2F and / name the same channel', async () => {
        const id = channel('slash');
        await publish(`${id}-a%2Fb`, 'one');
        const second = await publish(`${id}-a/b`, 'two');
        assert.match(second.text, /"messages": 2/);
      });
      test('1024 bytes are fine; 1025 bytes get an empty 403', async () => {
        const base = channel('long');
        const ok = base + 'x'.repeat(1024 - base.length);
        assert.equal((await publish(ok, 'fits')).status, 202);
        assert.equal((await poll(ok)).text, 'fits');
        for (const long of [`${ok}y`, `${ok.slice(0, 1023)}%C3%A9`]) {
          const refused = await publish(long, 'too long');
          assert.equal(refused.status, 403);
          assert.equal(refused.headers['content-length'], '0');
          const sub = await poll(long);
          assert.equal(sub.status, 403);
          assert.equal(sub.headers['content-length'], '0');
        }
      });
    });

    test('POST to a subscriber location: empty 403', async () => {
      const got = await call('POST', `/subscriber/${channel('subpost')}`, { body: 'x' });
      assert.equal(got.status, 403);
      assert.equal(got.headers['content-length'], '0');
    });

    test('HEAD: Nchan never answers; we answer 405 with Allow', async () => {
      const path = `/publisher/${channel('head')}`;
      if (t.kind === 'nchan') {
        // No status line at all: the connection idles (keep-alive) or is closed (Connection: close).
        const got = await request(t.origin, 'HEAD', path, { timeout: 500 }).catch(
          (error: Error) => error,
        );
        assert.ok(
          got === undefined || got instanceof Error,
          `Nchan answered HEAD: ${JSON.stringify(got)}`,
        );
        return;
      }
      const got = await call('HEAD', path);
      assert.equal(got.status, 405);
      assert.equal(got.headers.allow, 'GET, POST, PUT, DELETE, OPTIONS');
      const sub = await call('HEAD', `/subscriber/${channel('head')}`);
      assert.equal(sub.status, 405);
    });
  });
}

function httpDate(seconds: number): string {
  return new Date(seconds * 1000).toUTCString();
}

/** `Saturday, 28-Nov-26 01:21:19 GMT` */
function rfc850(seconds: number): string {
  const date = new Date(seconds * 1000);
  const day = date.toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' });
  const [, dd, mon, yyyy, time] = date.toUTCString().split(' ');
  return `${day}, ${dd}-${mon}-${yyyy.slice(2)} ${time} GMT`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Message ids are whole seconds: some cases must let the clock reach a given time. */
async function sleepUntil(epochMs: number): Promise<void> {
  const wait = epochMs - Date.now();
  if (wait > 0) await sleep(wait);
}
