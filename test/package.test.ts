// The published package: built with tsc, installed into an app that has none of the
// optional peer dependencies (no nunjucks, handlebars, eta, express, ioredis). If
// importing any entry point loaded one of them, resolution would fail here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stagePackage } from './support/packed-package.js';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const entryPoints = Object.keys(pkg.exports)
  .filter((key) => !key.includes('*') && key !== './package.json')
  .map((key) => key.replace(/^\./, 'pushserver'));

describe('the built package in an app without peer dependencies', () => {
  let app: string;
  before(() => {
    app = mkdtempSync(join(tmpdir(), 'pushserver-app-'));
    stagePackage(join(app, 'node_modules', 'pushserver'));
    // What npm installs with the package: its regular dependencies (ws, for the daemon).
    for (const dependency of Object.keys(pkg.dependencies ?? {})) {
      cpSync(join(root, 'node_modules', dependency), join(app, 'node_modules', dependency), {
        recursive: true,
      });
    }
  });
  after(() => rmSync(app, { recursive: true, force: true }));

  function run(file: string, source: string): string {
    writeFileSync(join(app, file), source);
    const result = spawnSync(process.execPath, [file], { cwd: app, encoding: 'utf8' });
    assert.equal(result.status, 0, `node ${file} failed:\n${result.stderr}`);
    return result.stdout.trim();
  }

  test('the export map holds the six entry points', () => {
    assert.deepEqual(entryPoints, [
      'pushserver',
      'pushserver/express',
      'pushserver/nunjucks',
      'pushserver/handlebars',
      'pushserver/eta',
      'pushserver/server',
    ]);
  });

  test('require() from a CommonJS app works for every entry point (Node 20.19+ require of ESM)', () => {
    const out = run(
      'app.cjs',
      `const names = ${JSON.stringify(entryPoints)};
for (const name of names) require(name);
const { channelUrl, sendUpdate } = require('pushserver');
console.log(typeof sendUpdate, channelUrl('room 1'));`,
    );
    assert.equal(out, 'function http://127.0.0.1:8001/subscriber/room%201');
  });

  test('import() from an ES module app works for every entry point', () => {
    const out = run(
      'app.mjs',
      `for (const name of ${JSON.stringify(entryPoints)}) await import(name);
const { publisherUrl } = await import('pushserver');
console.log(publisherUrl('a/b'));`,
    );
    assert.equal(out, 'http://127.0.0.1:8001/publisher/a%2Fb');
  });

  test('the runpushserver bin is declared and points at an existing file', () => {
    assert.equal(pkg.bin.runpushserver, './bin/runpushserver.js');
    assert.match(
      readFileSync(join(app, 'node_modules/pushserver/bin/runpushserver.js'), 'utf8'),
      /^#!\/usr\/bin\/env node/,
    );
  });

  test('peer dependencies are optional', () => {
    for (const name of ['express', 'nunjucks', 'handlebars', 'eta', 'ioredis']) {
      assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, name);
    }
  });
});
