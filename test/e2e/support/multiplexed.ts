/**
 * Helpers of test/e2e/one-connection.test.ts: a daemon of each kind with the
 * multiplexed location (`/multi/a,b,...`), a page that loads only the browser client and
 * records what it reports, and the channel descriptors a page subscribes with, built
 * here from the push origin (the proxy in front of the daemon).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { createPublisher } from '../../../src/publish/index.js';
import { resolveSettings } from '../../../src/settings/index.js';
import { type DaemonProcess, startCommand } from '../../support/daemon-process.js';
import { type Nchan, startNchan } from '../../support/nchan.js';
import type { DaemonKind } from './daemons.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * How long a message stays buffered, on both daemons: longer than Nchan's shared 10 s,
 * so a channel subscribed late on a loaded machine still finds the messages published
 * before it (the behaviour under test is the client's, not the buffer's expiry).
 */
const MESSAGE_TIMEOUT_S = 120;

/** A push daemon with `/publisher/`, `/subscriber/` and `/multi/` (delimiter `,`). */
export interface MultiplexDaemon {
  kind: DaemonKind;
  /** The port it listens on now (a pushserver restarted by `replace` has a new one). */
  port: number;
  /** Publish `data` as JSON to `channelId`, straight to the daemon (not through a proxy). */
  publish(channelId: string, data: unknown): Promise<void>;
  /** The Nchan behind it (kind 'nchan'): `reload()`, `restart()` on the same port. */
  nchan?: Nchan;
  /**
   * pushserver: SIGKILL it (a crash) and start a new process with the same settings on
   * a new port (port 0); `port` is then the new one.
   */
  replace(): Promise<void>;
  stop(): Promise<void>;
}

/** Options of {@link startMultiplexDaemon}. */
export interface MultiplexDaemonOptions {
  /** The page's origin: Nchan's config allows one (this daemon echoes any). */
  allowOrigin: string;
  /** pushserver's store, e.g. `{type: 'redis', url}`. @default memory, 100 messages */
  store?: Record<string, unknown>;
}

/**
 * Start a daemon of `kind`: Nchan with the shared test config (its `/multi/` location),
 * or `runpushserver 127.0.0.1:0 --config <file>` with the default locations.
 *
 * @example const daemon = await startMultiplexDaemon('nchan', { allowOrigin: pages.origin });
 */
export async function startMultiplexDaemon(
  kind: DaemonKind,
  options: MultiplexDaemonOptions,
): Promise<MultiplexDaemon> {
  return kind === 'nchan' ? startNchanDaemon(options) : startPushserverDaemon(options);
}

/** Publish through the real `sendUpdate`, on a publisher of its own (a restart closes pooled sockets). */
async function publishTo(port: number, channelId: string, data: unknown): Promise<void> {
  const publisher = createPublisher(resolveSettings({ port }, 'e2e test'));
  try {
    await publisher.sendUpdate(channelId, data);
  } finally {
    publisher.close();
  }
}

async function startNchanDaemon(options: MultiplexDaemonOptions): Promise<MultiplexDaemon> {
  const config = readFileSync(join(ROOT, 'test', 'support', 'nchan', 'nginx.conf'), 'utf8').replace(
    'nchan_message_timeout 10s;',
    `nchan_message_timeout ${MESSAGE_TIMEOUT_S}s;`,
  );
  const nchan = await startNchan({ config, allowOrigin: options.allowOrigin });
  const refuse = (what: string) => () =>
    Promise.reject(new Error(`${what} is for the pushserver daemon; Nchan has reload/restart`));
  return {
    kind: 'nchan',
    port: nchan.port,
    nchan,
    publish: (channelId, data) => publishTo(nchan.port, channelId, data),
    replace: refuse('replace'),
    stop: () => nchan.stop(),
  };
}

async function startPushserverDaemon(options: MultiplexDaemonOptions): Promise<MultiplexDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-e2e-multi-'));
  const configFile = join(dir, 'pushserver.config.json');
  // The default locations include `/multi/` with delimiter ',', as the shared Nchan config.
  writeFileSync(
    configFile,
    JSON.stringify({
      store: options.store ?? {
        type: 'memory',
        maxMessages: 100,
        messageTimeout: MESSAGE_TIMEOUT_S,
      },
    }),
  );
  const start = () => startCommand(['--config', configFile]);
  let current: DaemonProcess = await start();
  const daemon: MultiplexDaemon = {
    kind: 'pushserver',
    port: current.port,
    publish: (channelId, data) => publishTo(daemon.port, channelId, data),
    async replace() {
      await current.kill();
      current = await start();
      daemon.port = current.port;
    },
    async stop() {
      await current.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return daemon;
}

/** A multiplexed channel as `updates.subscribe()` takes it. */
export interface ChannelDescriptor {
  url: string;
  multiplex: { prefix: string; suffix: string; delimiter: string; id: string };
}

/**
 * The descriptor of channel `channelId` on the daemon at `pushOrigin` (the proxy):
 * its own subscriber URL and its place on `/multi/`.
 *
 * @example descriptor(proxy.origin, 'room-1')
 */
export function descriptor(pushOrigin: string, channelId: string): ChannelDescriptor {
  const id = encodeURIComponent(channelId);
  return {
    url: `${pushOrigin}/subscriber/${id}`,
    multiplex: { prefix: `${pushOrigin}/multi/`, suffix: '', delimiter: ',', id },
  };
}

/** A page server: `/` loads the client and records its events; `?eventsource=0` hides EventSource. */
export interface ClientPages {
  origin: string;
  /** The page's URL; `eventSource: false` deletes `window.EventSource` before the client loads. */
  url(options?: { eventSource?: boolean }): string;
  close(): Promise<void>;
}

/**
 * The page records every `update` as `window.record.updates[channel]` (the data) and every
 * `state` event as `[channel, state, transport]` in `window.record.states`; the test
 * subscribes with `page.evaluate`.
 */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>one connection</title></head>
<body>
<script>
  if (new URLSearchParams(location.search).get('eventsource') === '0') delete window.EventSource;
</script>
<script src="/static/pushserver/updates.js"></script>
<script>
  window.record = { updates: {}, states: [] };
  pushserver.updates.on('update', function (event) {
    (window.record.updates[event.channel] = window.record.updates[event.channel] || []).push(event.data);
  });
  pushserver.updates.on('state', function (event) {
    window.record.states.push([event.channel, event.state, event.transport]);
  });
</script>
</body></html>
`;

/**
 * Start the page server (the repository's static/pushserver/ files and the page).
 *
 * @example const pages = await startClientPages(); await page.goto(pages.url());
 */
export async function startClientPages(): Promise<ClientPages> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (/^\/static\/pushserver\/[\w.-]+\.js$/.test(path)) {
      try {
        const body = readFileSync(join(ROOT, path.slice(1)));
        res.writeHead(200, {
          'Content-Type': 'text/javascript; charset=utf-8',
          'Cache-Control': 'no-store',
        });
        res.end(body);
      } catch {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      }
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    origin,
    url: ({ eventSource = true } = {}) => `${origin}/${eventSource ? '' : '?eventsource=0'}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the page recorded. */
export interface PageRecord {
  updates: Record<string, unknown[]>;
  states: [string, string, string | null][];
}

/**
 * The page's record right now.
 *
 * @example const { updates } = await readRecord(page); updates.ch1 // [{channel: 'ch1', n: 1}]
 */
export function readRecord(page: Page): Promise<PageRecord> {
  return page.evaluate(() => (window as unknown as { record: PageRecord }).record);
}

/**
 * Resolve once every channel of `counts` has at least that many updates; on the
 * deadline, reject naming what each channel has.
 *
 * @param counts `{name: updates}` to wait for
 * @param timeout the deadline in milliseconds
 * @example await waitForUpdates(page, { ch1: 5, ch2: 5 }, 60_000);
 */
export async function waitForUpdates(
  page: Page,
  counts: Record<string, number>,
  timeout: number,
): Promise<void> {
  try {
    await page.waitForFunction(
      (wanted) => {
        const { updates } = (window as unknown as { record: PageRecord }).record;
        return Object.entries(wanted).every(([name, n]) => (updates[name]?.length ?? 0) >= n);
      },
      counts,
      { timeout, polling: 100 },
    );
  } catch (error) {
    const { updates } = await readRecord(page).catch(() => ({ updates: {} }) as PageRecord);
    const have = Object.keys(counts).map((name) => `${name}: ${updates[name]?.length ?? 0}`);
    throw new Error(
      `updates did not all arrive in ${timeout} ms (wanted ${JSON.stringify(counts)}; have ${have.join(', ')}): ${(error as Error).message.split('\n')[0]}`,
    );
  }
}

/**
 * Resolve once every channel in `names` is in `state` (and, when given, read by
 * `transport`), as `updates.state()` / `updates.transport()` say; on the deadline,
 * reject naming each channel's state and transport.
 *
 * @example await waitForState(page, ['ch1', 'ch2'], 'open', 60_000, 'eventsource');
 */
export async function waitForState(
  page: Page,
  names: string[],
  state: string,
  timeout: number,
  transport?: string,
): Promise<void> {
  try {
    await page.waitForFunction(
      ([wanted, want, how]) => {
        const { updates } = (window as unknown as { pushserver: { updates: UpdatesApi } })
          .pushserver;
        return wanted.every(
          (name) => updates.state(name) === want && (!how || updates.transport(name) === how),
        );
      },
      [names, state, transport ?? ''] as const,
      { timeout, polling: 100 },
    );
  } catch (error) {
    const now = await page
      .evaluate((wanted) => {
        const { updates } = (window as unknown as { pushserver: { updates: UpdatesApi } })
          .pushserver;
        return wanted.map((name) => `${name}: ${updates.state(name)}/${updates.transport(name)}`);
      }, names)
      .catch(() => ['(page gone)']);
    throw new Error(
      `channels not all ${state}${transport ? ` over ${transport}` : ''} in ${timeout} ms (${now.join(', ')}): ${(error as Error).message.split('\n')[0]}`,
    );
  }
}

/** The part of `window.pushserver.updates` the helpers call. */
interface UpdatesApi {
  state(name: string): string | undefined;
  transport(name: string): string | null;
}
