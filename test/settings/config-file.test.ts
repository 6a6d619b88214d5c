import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { SettingsError } from '../../src/errors.ts';
import { mergeSettings, readConfigFile } from '../../src/settings/index.ts';

describe('readConfigFile', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'pushserver-settings-'));
    dirs.push(dir);
    return dir;
  }

  for (const [file, text] of [
    ['pushserver.config.json', '{"port": 9001}'],
    ['pushserver.config.cjs', 'module.exports = { port: 9001 };'],
    ['pushserver.config.mjs', 'export default { port: 9001 };'],
    ['pushserver.config.js', 'export default { port: 9001 };'],
  ]) {
    test(`reads ${file} from the working directory`, () => {
      const dir = tempDir();
      // .js is an ES module only with "type": "module" beside it, as in an ESM app.
      if (file.endsWith('.js')) writeFileSync(join(dir, 'package.json'), '{"type": "module"}');
      writeFileSync(join(dir, file), text);
      const loaded = readConfigFile(dir, {});
      assert.deepEqual(loaded, { settings: { port: 9001 }, source: join(dir, file) });
    });
  }

  test('no config file: empty settings from the defaults', () => {
    assert.deepEqual(readConfigFile(tempDir(), {}), { settings: {}, source: 'defaults' });
  });

  test('PUSHSERVER_CONFIG names the file; a missing one is an error', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'other.json'), '{"servername": "x"}');
    assert.deepEqual(readConfigFile(dir, { PUSHSERVER_CONFIG: 'other.json' }).settings, {
      servername: 'x',
    });
    assert.throws(
      () => readConfigFile(dir, { PUSHSERVER_CONFIG: 'nope.json' }),
      new SettingsError(
        '',
        `config file ${join(dir, 'nope.json')} (from PUSHSERVER_CONFIG) does not exist`,
      ),
    );
  });

  test('a file named otherwise (runpushserver --config) wins over PUSHSERVER_CONFIG; a missing one names where it came from', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'flag.json'), '{"servername": "from-flag"}');
    writeFileSync(join(dir, 'env.json'), '{"servername": "from-env"}');
    const env = { PUSHSERVER_CONFIG: 'env.json' };
    assert.deepEqual(readConfigFile(dir, env, { path: 'flag.json', from: '--config' }), {
      settings: { servername: 'from-flag' },
      source: join(dir, 'flag.json'),
    });
    assert.throws(
      () => readConfigFile(dir, env, { path: 'nope.json', from: '--config' }),
      new SettingsError('', `config file ${join(dir, 'nope.json')} (from --config) does not exist`),
    );
  });

  test('a config file that does not parse is a SettingsError naming the file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'pushserver.config.json'), '{port: 1}');
    assert.throws(
      () => readConfigFile(dir, {}),
      (error: Error) => {
        assert.ok(error instanceof SettingsError);
        assert.match(
          error.message,
          new RegExp(`config file ${join(dir, 'pushserver.config.json')} could not be loaded: `),
        );
        return true;
      },
    );
  });
});

describe('mergeSettings', () => {
  test('hosts merge key by key; arrays and stores are replaced; undefined keeps the base', () => {
    const base = {
      port: 9000,
      subscriberHost: { location: 'push.example.com' },
      store: { type: 'redis' as const, url: 'redis://10.0.0.1' },
      publisherAllow: ['10.0.0.0/8'],
    };
    const merged = mergeSettings(base, {
      port: undefined,
      subscriberHost: { location: 'push.example.com', secure: true },
      store: { type: 'memory' },
      publisherAllow: ['::1'],
    });
    assert.deepEqual(merged, {
      port: 9000,
      subscriberHost: { location: 'push.example.com', secure: true },
      store: { type: 'memory' },
      publisherAllow: ['::1'],
    });
    assert.deepEqual(base.subscriberHost, { location: 'push.example.com' });
  });
});
