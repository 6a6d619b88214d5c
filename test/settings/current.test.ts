import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { SettingsError } from '../../src/errors.ts';
import { configure, getSettings, resetSettings } from '../../src/settings/index.ts';

describe('settings in effect: defaults, config file, configure()', () => {
  const dirs: string[] = [];
  const cwd = process.cwd();
  afterEach(() => {
    process.chdir(cwd);
    delete process.env.PUSHSERVER_CONFIG;
    resetSettings();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  /** A fresh working directory holding `pushserver.config.json` with `text`. */
  function inDirWithConfig(text: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'pushserver-settings-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'pushserver.config.json'), text);
    process.chdir(dir);
    resetSettings();
    return dir;
  }

  test('later wins: defaults < config file < configure(); configure() calls merge', () => {
    const dir = inDirWithConfig(
      JSON.stringify({
        port: 9001,
        servername: 'from-file',
        subscriberHost: { location: 'push.example.com' },
      }),
    );
    assert.equal(getSettings().port, 9001);
    assert.equal(getSettings().source, join(dir, 'pushserver.config.json'));
    configure({ servername: 'from-code' });
    configure({ subscriberHost: { location: 'push.example.com', secure: true } });
    const settings = getSettings();
    assert.equal(settings.port, 9001);
    assert.equal(settings.servername, 'from-code');
    assert.deepEqual(settings.subscriberHost, { location: 'push.example.com', secure: true });
    assert.equal(settings.source, `${join(dir, 'pushserver.config.json')} + configure()`);
  });

  test('configure() validates at once and keeps the previous settings on error', () => {
    configure({ port: 9100 });
    assert.throws(() => configure({ port: 99999 }), /port is 99999/);
    assert.equal(getSettings().port, 9100);
  });

  test('errors in a config file name the file', () => {
    const dir = inDirWithConfig('{"prot": 1}');
    assert.throws(
      () => getSettings(),
      new SettingsError(
        'prot',
        `is not a known setting; did you mean "port"? (in ${join(dir, 'pushserver.config.json')})`,
      ),
    );
  });
});
