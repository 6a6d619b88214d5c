import { after, before } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../support/chromium.js';
import { DAEMON_KINDS, type Daemon, type DaemonKind, startDaemon } from './daemons.js';
import { type PageServer, startPageServer } from './pages.js';

/** What a test file shares between its tests; filled in by its `before` hook. */
export interface SharedSetup {
  browser: Browser;
  pages: PageServer;
  /** One daemon of each kind, when asked for. */
  daemons: Map<DaemonKind, Daemon>;
}

/**
 * Call inside a `describe`: one Chromium and one page server for the whole file (and,
 * with `daemons: true`, one daemon of each kind), stopped after its last test.
 *
 * @example const setup = sharedSetup(); ... await openPage(setup.browser);
 */
export function sharedSetup({ daemons = false } = {}): SharedSetup {
  const setup = { daemons: new Map() } as SharedSetup;
  before(async () => {
    setup.browser = await launchChromium();
    setup.pages = await startPageServer();
    if (!daemons) return;
    for (const kind of DAEMON_KINDS) {
      setup.daemons.set(kind, await startDaemon(kind, { allowOrigin: setup.pages.origin }));
    }
  });
  after(async () => {
    await setup.browser?.close();
    await setup.pages?.close();
    for (const daemon of setup.daemons.values()) await daemon.stop();
  });
  return setup;
}
