// The README's passthrough section runs as written: its config and its app.js under
// `runpushserver --allrequests`, with the package imports pointed at the source.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Child } from '../../support/child.ts';
import { runpushserver } from '../../support/daemon-process.ts';
import { freePort } from '../../support/ports.ts';

const README = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const SECTION = README.slice(
  README.indexOf('<!-- section: passthrough -->'),
  README.indexOf('<!-- /section: passthrough -->'),
);
const IMPORTS: Record<string, string> = {
  pushserver: new URL('../../../src/index.ts', import.meta.url).href,
  'pushserver/express': new URL('../../../src/express/index.ts', import.meta.url).href,
  express: import.meta.resolve('express'),
  'express-session': import.meta.resolve('express-session'),
};

function codeBlock(language: string): string {
  const found = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(SECTION);
  assert.ok(found, `no ${language} block in the passthrough section`);
  return found[1];
}

/** A GET that stays open until answered; resolves with status and body. */
function get(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

test('the README app: login, a waiting poll, the signal and presence, under --allrequests', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-readme-passthrough-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let app = codeBlock('js');
  for (const [name, target] of Object.entries(IMPORTS)) {
    app = app.replace(`from '${name}';`, `from ${JSON.stringify(target)};`);
  }
  writeFileSync(join(dir, 'app.mjs'), app);
  // The config names the daemon's port (its passthrough URL): a free port, tried again
  // if another process takes it first.
  let port = 0;
  let child: Child | undefined;
  for (let tries = 1; !child; tries++) {
    port = await freePort();
    writeFileSync(
      join(dir, 'pushserver.config.json'),
      codeBlock('json').replace('8000', String(port)),
    );
    const started = runpushserver(['--allrequests', '--app', 'app.mjs', String(port)], {
      cwd: dir,
      env: { ...process.env, PUSHSERVER_CONFIG: '' },
    });
    t.after(() => started.stop('SIGKILL'));
    try {
      await started.printed('CONTROL-C');
      child = started;
    } catch (error) {
      if (tries === 3 || !/already in use/.test(started.stderr())) throw error;
    }
  }
  const origin = `http://127.0.0.1:${port}`;
  const { stdout, stderr } = child;
  const printed = (text: string) => child.printed(text);
  assert.match(stdout(), /using settings from .*pushserver\.config\.json/);

  const login = await fetch(`${origin}/login?user=alice`);
  assert.equal(await login.text(), 'hello alice');
  const cookie = login.headers.get('set-cookie')!.split(';')[0];
  const poll = get(`${origin}/subscriber/room-1`, { cookie });
  await printed('alice waits on room-1\n');
  await printed('alice joined room-1\n');
  assert.deepEqual(await (await fetch(`${origin}/who/room-1`)).json(), ['alice']);

  const publish = await fetch(`${origin}/publisher/room-1`, { method: 'POST', body: 'hi' });
  assert.equal(publish.status, 201);
  assert.deepEqual(await poll, { status: 200, body: 'hi' });
  assert.equal(await child.stop('SIGTERM'), 0);
  assert.equal(stderr(), '');
});
