// The status location: Nchan's nchan_stub_status text, compared with real Nchan under
// the same traffic (Nchan runs the config `runpushserver nginx-config` generates from the
// same settings); Prometheus text read by a real parser; the publisher ACL; the banner;
// one labelled scrape per worker under --workers.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { createPushServer } from '../../../src/server/daemon.js';
import type { PushServerSettings } from '../../../src/settings/index.js';
import { answered, request } from '../../conformance/http-client.js';
import { startCommand } from '../../support/daemon-process.js';
import { startGeneratedNchan } from '../../support/generated-nchan.js';
import { startRedis } from '../../support/redis.js';
import { NCHAN, needs, REDIS } from '../../support/system.js';
import { waitUntil } from '../../support/wait.js';

const SETTINGS: PushServerSettings = {
  store: { type: 'memory', maxMessages: 100, messageTimeout: 600 },
};

/** `name: value` lines of a stub status text, as a map. */
function fields(text: string): Map<string, string> {
  return new Map(
    text
      .trim()
      .split('\n')
      .map((line) => {
        const at = line.indexOf(': ');
        return [line.slice(0, at), line.slice(at + 2)] as [string, string];
      }),
  );
}

/**
 * The same traffic on a server: 5 messages on 3 channels, 3 long-polls parked on 2 new
 * channels. No DELETE: Nchan counts a deleted channel until its garbage collector frees
 * it, seconds later. Returns a function that answers the parked polls.
 */
async function traffic(origin: string, tag: string) {
  const publish = (id: string, body: string) =>
    answered(origin, 'POST', `/publisher/${tag}-${id}`, { 'Content-Type': 'text/plain' }, body);
  for (const [id, body] of [
    ['a', 'a1'],
    ['a', 'a2'],
    ['a', 'a3'],
    ['b', 'b1'],
    ['c', 'c1'],
  ])
    assert.equal((await publish(id, body)).status, 202);
  // First polls of channels with no message: they wait for the next one (no deadline
  // here: the caller's publishes answer them).
  const parked = ['d', 'd', 'e'].map((id) => request(origin, 'GET', `/subscriber/${tag}-${id}`));
  for (const [id, count] of [
    ['d', 2],
    ['e', 1],
  ] as const) {
    await waitUntil(`${count} subscribers on ${id}`, async () => {
      // Nchan sometimes closes the connection of an info request that races the
      // subscriber creating the channel: ask again.
      const info = await request(origin, 'GET', `/publisher/${tag}-${id}`, {
        headers: { Accept: 'application/json' },
      }).catch(() => undefined);
      return info?.status === 200 && JSON.parse(info.text).subscribers === count;
    });
  }
  return async () => {
    await publish('d', 'end');
    await publish('e', 'end');
    await Promise.all(parked);
  };
}

describe('the status location', () => {
  test('same traffic as real Nchan: the same fields in the same order, and the counts agree', {
    skip: needs(NCHAN),
  }, async (t) => {
    const { nchan } = await startGeneratedNchan(SETTINGS);
    t.after(() => nchan.stop());
    const push = createPushServer({ ...SETTINGS, port: 0 });
    t.after(() => push.close());
    const { port } = await push.listen(0, '127.0.0.1');
    const daemon = `http://127.0.0.1:${port}`;
    const answers = [];
    for (const origin of [nchan.origin, daemon]) {
      const finish = await traffic(origin, 'st');
      answers.push(await answered(origin, 'GET', '/nchan_status'));
      await finish();
    }
    const [theirs, ours] = answers;
    assert.equal(ours.status, 200);
    assert.equal(ours.headers['content-type'], theirs.headers['content-type']);
    const nchanFields = fields(theirs.text);
    const ourFields = fields(ours.text);
    assert.deepEqual([...ourFields.keys()], [...nchanFields.keys()]);
    for (const name of ['total published messages', 'stored messages', 'channels', 'subscribers']) {
      assert.equal(ourFields.get(name), nchanFields.get(name), name);
    }
    // 5 published and stored; a, b, c, d, e; 3 parked polls.
    assert.deepEqual(
      ['total published messages', 'stored messages', 'channels', 'subscribers'].map((name) =>
        ourFields.get(name),
      ),
      ['5', '5', '5', '3'],
    );
    assert.equal(ourFields.get('nchan version'), nchanFields.get('nchan version'));
    assert.match(ourFields.get('shared memory used') ?? '', /^\d+K$/);
    // The same text for POST and an Accept Nchan ignores.
    const post = await answered(daemon, 'POST', '/nchan_status', { Accept: 'application/json' });
    assert.equal(post.status, 200);
    assert.equal(post.headers['content-type'], 'text/plain');
  });

  test('Prometheus text on request: every metric with HELP and TYPE, read by a real parser', async (t) => {
    const push = createPushServer({ ...SETTINGS, port: 0 }, { statsLabels: { worker: '3' } });
    t.after(() => push.close());
    const { port } = await push.listen(0, '127.0.0.1');
    const origin = `http://127.0.0.1:${port}`;
    const finish = await traffic(origin, 'prom');
    // As Prometheus 2 asks for it.
    const scraped = await answered(origin, 'GET', '/nchan_status', {
      Accept:
        'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
    });
    assert.equal(scraped.status, 200);
    assert.equal(scraped.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const byQuery = await answered(origin, 'GET', '/nchan_status?format=prometheus');
    assert.equal(byQuery.text, scraped.text);
    const families = parsePrometheusTextFormat(scraped.text);
    const sample = (name: string) => {
      const family = families.find((f) => f.name === name);
      assert.ok(family, `${name} in ${scraped.text}`);
      assert.ok(family.help.length > 0, `${name} has HELP`);
      assert.equal(family.metrics.length, 1);
      assert.deepEqual(family.metrics[0].labels, { worker: '3' });
      return { type: family.type, value: Number(family.metrics[0].value) };
    };
    assert.deepEqual(sample('pushserver_published_messages_total'), { type: 'COUNTER', value: 5 });
    assert.deepEqual(sample('pushserver_stored_messages'), { type: 'GAUGE', value: 5 });
    assert.deepEqual(sample('pushserver_channels'), { type: 'GAUGE', value: 5 });
    assert.deepEqual(sample('pushserver_subscribers'), { type: 'GAUGE', value: 3 });
    assert.deepEqual(sample('pushserver_redis_connected_servers'), { type: 'GAUGE', value: 0 });
    assert.equal(sample('pushserver_stored_bytes').value, 10);
    assert.deepEqual(push.stats().published, 5);
    await finish();
  });

  test('only publisherAllow may read it, on the daemon and on the generated config', {
    skip: needs(NCHAN),
  }, async (t) => {
    const settings = { ...SETTINGS, publisherAllow: ['10.0.0.0/8'] };
    const push = createPushServer({ ...settings, port: 0 });
    t.after(() => push.close());
    const { port } = await push.listen(0, '127.0.0.1');
    const ours = await answered(`http://127.0.0.1:${port}`, 'GET', '/nchan_status');
    assert.equal(ours.status, 403);
    assert.match(ours.text, /publisherAllow/);
    const { nchan } = await startGeneratedNchan(settings);
    t.after(() => nchan.stop());
    assert.equal((await answered(nchan.origin, 'GET', '/nchan_status')).status, 403);
  });

  test('--workers 2 on Redis: the banner names the status location; one scrape has a labelled sample per worker, the stub status their sums', {
    skip: needs(REDIS),
  }, async (t) => {
    const redis = await startRedis();
    t.after(() => redis.destroy());
    const dir = mkdtempSync(join(tmpdir(), 'pushserver-status-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'pushserver.config.json');
    writeFileSync(config, JSON.stringify({ store: { type: 'redis', url: redis.url } }));
    const daemon = await startCommand(['--config', config, '--workers', '2']);
    t.after(() => daemon.stop());
    assert.match(daemon.stdout(), new RegExp(`status +${daemon.url}/nchan_status `));
    // Two polls parked on fresh connections (on either worker), two messages published.
    const parked = ['w-a', 'w-b'].map((id) => request(daemon.url, 'GET', `/subscriber/${id}`));
    await waitUntil('2 subscribers in the stub status', async () => {
      const stub = await answered(daemon.url, 'GET', '/nchan_status', { Connection: 'close' });
      return fields(stub.text).get('subscribers') === '2';
    });
    for (const id of ['w-a', 'w-b']) {
      const published = await answered(daemon.url, 'POST', `/publisher/${id}`, {}, 'm');
      assert.equal(published.status, 201);
    }
    await Promise.all(parked);
    // Whichever worker answers, it answers for both.
    for (let scrape = 0; scrape < 4; scrape++) {
      const answer = await answered(daemon.url, 'GET', '/nchan_status?format=prometheus', {
        Connection: 'close',
      });
      const families = parsePrometheusTextFormat(answer.text);
      const samples = (name: string) => {
        const family = families.find((f) => f.name === name);
        assert.ok(family, `${name} in ${answer.text}`);
        return family.metrics.map((metric) => ({
          worker: metric.labels?.worker,
          value: Number(metric.value),
        }));
      };
      assert.deepEqual(samples('pushserver_redis_connected_servers'), [
        { worker: '1', value: 1 },
        { worker: '2', value: 1 },
      ]);
      const published = samples('pushserver_published_messages_total');
      assert.equal(published[0].value + published[1].value, 2);
      assert.ok(samples('pushserver_redis_commands_sent_total').every((s) => s.value > 0));
      const stub = await answered(daemon.url, 'GET', '/nchan_status', { Connection: 'close' });
      assert.equal(fields(stub.text).get('total published messages'), '2');
      assert.equal(fields(stub.text).get('redis connected servers'), '2');
    }
  });
});
