// `runpushserver --allrequests` as a user runs it: the real command in a child process.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Child } from '../../support/child.ts';
import { listeningPort, runpushserver } from '../../support/daemon-process.ts';

describe('runpushserver --allrequests', { concurrency: true }, () => {
  const cwd = mkdtempSync(join(tmpdir(), 'pushserver-allrequests-'));
  writeFileSync(
    join(cwd, 'app.mjs'),
    "export default (req, res) => res.end('app saw ' + req.method + ' ' + req.url + ' host ' + req.headers.host);\n",
  );
  const children: Child[] = [];
  after(async () => {
    await Promise.all(children.map((child) => child.stop('SIGKILL')));
    rmSync(cwd, { recursive: true, force: true });
  });

  const run = (args: string[]) => {
    const child = runpushserver(args, { cwd, env: { ...process.env, PUSHSERVER_CONFIG: '' } });
    children.push(child);
    return child;
  };

  const get = (port: number, path: string, headers: Record<string, string> = {}, method = 'GET') =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
      (resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path, headers, method }, (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end(method === 'POST' ? 'message' : undefined);
      },
    );

  test('--app: one port for the daemon and the app', async () => {
    const server = run(['0', '--allrequests', '--app', 'app.mjs']);
    const port = await listeningPort(server);
    assert.match(
      server.stdout(),
      new RegExp(
        `Starting push server at http://127\\.0\\.0\\.1:${port}/\n {2}publisher {8}http://127\\.0\\.0\\.1:${port}/`,
      ),
    );
    assert.match(server.stdout(), /\n {2}everything else {2}the app from app\.mjs\n/);
    const page = await get(port, '/some/page?x=1');
    assert.equal(page.body, `app saw GET /some/page?x=1 host 127.0.0.1:${port}`);
    assert.equal(page.headers.server, 'pushserver');
    assert.equal((await get(port, '/publisher/c', {}, 'POST')).status, 202);
    assert.equal((await get(port, '/subscriber/c')).body, 'message');
    assert.equal(await server.stop('SIGTERM'), 0);
  });

  test('--upstream with --forcehost: other hosts are redirected, the named one proxied', async () => {
    const upstream = http.createServer((req, res) => res.end(`upstream ${req.url}`));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    after(() => upstream.close());
    const upstreamPort = (upstream.address() as { port: number }).port;
    const server = run([
      '127.0.0.1:0',
      '--allrequests',
      `--upstream=http://127.0.0.1:${upstreamPort}`,
      '--forcehost',
      'www.example.test',
    ]);
    const port = await listeningPort(server);
    assert.match(server.stdout(), /\n {2}other hosts {6}redirected to www\.example\.test\n/);
    const moved = await get(port, '/a?b=c', { host: 'example.test' });
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, 'http://www.example.test/a?b=c');
    const proxied = await get(port, '/a?b=c', { host: 'www.example.test' });
    assert.equal(proxied.body, 'upstream /a?b=c');
    assert.equal(await server.stop('SIGTERM'), 0);
  });

  const refusals: Array<[string, string[], RegExp]> = [
    [
      '--forcehost without --allrequests',
      ['--forcehost', 'example.test'],
      /^Error: --forcehost only works with --allrequests \(one port for the daemon and the app\): runpushserver --allrequests --app \.\/app\.js --forcehost HOST\n$/,
    ],
    [
      '--allrequests without an app',
      ['--allrequests'],
      /^Error: --allrequests needs the app: --app \.\/app\.js .* or --upstream http:\/\/127\.0\.0\.1:3000\n$/,
    ],
    [
      'an app module without a handler',
      ['--allrequests', '--app', 'nothing.mjs'],
      /^Error: --app nothing\.mjs: could not load .*nothing\.mjs/,
    ],
  ];
  for (const [label, args, message] of refusals) {
    test(`${label}: one line on stderr, exit 2`, async () => {
      const server = run([...args, '0']);
      assert.equal(await server.ended(), 2);
      assert.match(server.stderr(), message);
      assert.equal(server.stdout(), '');
    });
  }
});
