import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { channelUrl } from '../../../src/channel/urls.js';
import { createPublisher, type Publisher } from '../../../src/publish/index.js';
import { type ResolvedSettings, resolveSettings } from '../../../src/settings/index.js';
import { type Child, spawnChild } from '../../support/child.js';
import { startNchan } from '../../support/nchan.js';
import { waitForPort } from '../../support/ports.js';
import { nginxBinary } from '../../support/system.js';
import { waitUntil } from '../../support/wait.js';

/** The two daemons every browser test runs against. */
export type DaemonKind = 'pushserver' | 'nchan';
export const DAEMON_KINDS: DaemonKind[] = ['pushserver', 'nchan'];

export interface DaemonOptions {
  /**
   * Origin allowed to subscribe: Nchan's config needs one (`$http_origin` echoes any);
   * this daemon echoes any unless `strictOrigin` is set.
   */
  allowOrigin: string;
  /** Make this daemon refuse other origins too (403), as Nchan does. @default false */
  strictOrigin?: boolean;
  /** Seconds a waiting poll lasts before 408. @default 0 (forever) */
  subscriberTimeout?: number;
}

/** A push daemon started for a test, on a free port, with the default locations. */
export interface Daemon {
  kind: DaemonKind;
  port: number;
  settings: ResolvedSettings;
  /** Publishes to this daemon through the real `sendUpdate` code. */
  publisher: Publisher;
  /** `channelUrl(id)` for this daemon. */
  subscriberUrl(channelId: string): string;
  /** Cookie headers the daemon has seen on subscriber requests so far. */
  cookiesSeen(): string[];
  /** Kill the daemon (connections drop, the port refuses). */
  kill(): Promise<void>;
  /** Start it again on the same port, empty (memory store). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Start a daemon of `kind` on a free port.
 *
 * @example const daemon = await startDaemon('nchan', { allowOrigin: app.origin });
 */
export async function startDaemon(kind: DaemonKind, options: DaemonOptions): Promise<Daemon> {
  return kind === 'nchan' ? startNchanDaemon(options) : startPushserverDaemon(options);
}

function daemonParts(port: number) {
  const settings = resolveSettings({ port }, 'e2e test');
  return {
    port,
    settings,
    publisher: createPublisher(settings),
    subscriberUrl: (channelId: string) => channelUrl(channelId, settings),
  };
}

const NCHAN_CONFIG = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'support',
  'nchan',
  'nginx.conf',
);

/**
 * Real Nchan from test/support/nchan. Its config is the project's, plus an access log of
 * the Cookie header (Nchan sends long-poll subscribers to no hook, so the log is how a
 * test sees the cookie arrive). kill/restart stop nginx and start it again on the same
 * port with the same config and prefix.
 */
async function startNchanDaemon(options: DaemonOptions): Promise<Daemon> {
  const config = readFileSync(NCHAN_CONFIG, 'utf8')
    .replace(
      'access_log logs/access.log;',
      "log_format cookies '$request_method $http_cookie';\n    access_log logs/cookies.log cookies;",
    )
    .replace(
      'nchan_subscriber_timeout 0;',
      `nchan_subscriber_timeout ${options.subscriberTimeout ?? 0};`,
    );
  const nchan = await startNchan({ config, allowOrigin: options.allowOrigin });
  const parts = daemonParts(nchan.port);
  const pidFile = join(nchan.prefix, 'nginx.pid');
  let restarted: ChildProcess | undefined;
  let restartedExit: Promise<void> = Promise.resolve();

  // SIGKILL to the master and the worker, as a crash: connections drop without an
  // answer. (A graceful stop is different: Nchan answers waiting long-polls 410 Gone.)
  // The master first: killed after its worker, it could still start a new one, which
  // would go on accepting on the port until it noticed the master gone (a page then
  // saw its stream open and end once more during the outage).
  async function kill() {
    const master = Number(readFileSync(pidFile, 'utf8').trim());
    const workers = childPids(master);
    for (const pid of [master, ...workers]) process.kill(pid, 'SIGKILL');
    await waitUntil('nginx to exit', () => ![master, ...workers].some(alive));
    if (restarted) await restartedExit;
    restarted = undefined;
  }

  return {
    kind: 'nchan',
    ...parts,
    cookiesSeen() {
      return readFileSync(join(nchan.prefix, 'logs/cookies.log'), 'utf8')
        .split('\n')
        .filter((line) => line.startsWith('GET '))
        .map((line) => line.slice(4))
        .filter((cookie) => cookie !== '-');
    },
    kill,
    async restart() {
      const nginx = nginxBinary()!;
      const child = spawn(
        nginx,
        [
          '-c',
          join(nchan.prefix, 'nginx.conf'),
          '-p',
          `${nchan.prefix}/`,
          '-e',
          join(nchan.prefix, 'logs/error.log'),
          '-g',
          'daemon off;',
        ],
        { stdio: 'ignore' },
      );
      restarted = child;
      restartedExit = new Promise((resolve) => child.once('exit', () => resolve()));
      await waitForPort(nchan.port);
    },
    async stop() {
      parts.publisher.close();
      if (restarted && restarted.exitCode === null) {
        restarted.kill('SIGTERM');
        await restartedExit;
      }
      await nchan.stop();
    },
  };
}

function childPids(pid: number): number[] {
  const result = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return result.stdout.split('\n').filter(Boolean).map(Number);
}

/** Whether `pid` runs (a zombie nobody reaped yet counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

const DAEMON_FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'daemon.ts');

/**
 * This project's daemon (`createPushServer`) in a child process on a port the system
 * picks, with Nchan's test buffer (100 messages, 10 s). kill is SIGKILL; restart starts
 * a new process on the same port.
 */
async function startPushserverDaemon(options: DaemonOptions): Promise<Daemon> {
  const subscriber = {
    allowOrigin: options.strictOrigin ? options.allowOrigin : null,
    subscriberTimeout: options.subscriberTimeout ?? 0,
  };
  /** stdout of the processes before the current one. */
  const earlier: string[] = [];
  let child: Child | undefined;
  let port = 0;

  async function start() {
    for (let tries = 1; ; tries++) {
      if (child) earlier.push(child.stdout());
      const args = ['--import', 'tsx', DAEMON_FIXTURE, String(port), JSON.stringify(subscriber)];
      const started = spawnChild(process.execPath, args);
      child = started;
      try {
        const [, bound] = await started.printed(/^listening (\d+)$/m);
        port = Number(bound);
        return;
      } catch (error) {
        await started.stop('SIGKILL');
        // A restart's port was taken meanwhile: try it again a few times.
        if (tries === 5 || !/EADDRINUSE/.test(started.stderr())) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  async function kill() {
    await child?.stop('SIGKILL');
  }

  await start();
  const parts = daemonParts(port);
  return {
    kind: 'pushserver',
    ...parts,
    cookiesSeen: () =>
      [...earlier, child?.stdout() ?? '']
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('cookie '))
        .map((line) => JSON.parse(line.slice(7))),
    kill,
    restart: start,
    async stop() {
      parts.publisher.close();
      await kill();
    },
  };
}
