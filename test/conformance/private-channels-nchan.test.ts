// Private channels behind real Nchan with README's config (test/support/nchan/
// private-channels.conf): nchan_authorize_request sends every subscriber request to the
// app's authorize() middleware, which verifies signed ids and asks the session. The
// same cases as the daemon's (test/support/private-channels.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Nchan, startNchan } from '../support/nchan.ts';
import {
  type PrivateTarget,
  privateChannelCases,
  privateSettings,
  startApp,
  twoLongPolls,
} from '../support/private-channels.ts';
import { NCHAN, needs } from '../support/system.ts';

const CONFIG = readFileSync(
  new URL('../support/nchan/private-channels.conf', import.meta.url),
  'utf8',
);

describe('private channels behind Nchan', { skip: needs(NCHAN) }, () => {
  let nchan: Nchan | undefined;
  let app: Awaited<ReturnType<typeof startApp>> | undefined;
  let target: PrivateTarget | undefined;
  before(async () => {
    app = await startApp();
    nchan = await startNchan({ config: CONFIG, passthroughPort: app.port });
    const settings = privateSettings(app.origin);
    app.use(settings);
    target = { origin: nchan.origin, settings, app };
  });
  after(async () => {
    await nchan?.stop();
    await app?.stop();
  });
  privateChannelCases('Nchan', () => target as PrivateTarget);

  test('Nchan asks the app again for each long-poll (each re-poll)', async () => {
    const { origin } = target as PrivateTarget;
    const cookie = await (app as NonNullable<typeof app>).login('erin');
    for (let i = 0; i < 2; i++) {
      await fetch(`${origin}/publisher/user-erin`, { method: 'POST', body: `m${i}` });
    }
    const calls = (app as NonNullable<typeof app>).calls;
    const before = calls.length;
    assert.deepEqual(await twoLongPolls(origin, '/session/user-erin', cookie), ['m0', 'm1']);
    assert.deepEqual(calls.slice(before), ['/session/user-erin', '/session/user-erin']);
  });
});

test("README's Nchan config for private channels is the one tested here", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(
    readme.indexOf('<!-- section: private-channels -->'),
    readme.indexOf('<!-- /section: private-channels -->'),
  );
  const shown = /```nginx\n([\s\S]*?)```/.exec(section)?.[1];
  const tested = /# README:private-begin\n([\s\S]*?)\s*# README:private-end/.exec(CONFIG)?.[1];
  const dedent = (text = '') =>
    text
      .split('\n')
      .map((line) => line.replace(/^ {8}/, ''))
      .join('\n')
      .trim();
  assert.ok(shown && tested);
  assert.equal(dedent(shown), dedent(tested));
});
