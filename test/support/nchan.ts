import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Child, START_MS, spawnChild } from './child.js';
import { freePort, waitForPort } from './ports.js';
import { nginxBinary } from './system.js';
import { waitUntil } from './wait.js';

/** A running Nchan (nginx + nchan module) started for a test. */
export interface Nchan {
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  prefix: string;
  /**
   * `nginx -s reload`; resolves once the old worker has exited and a new one runs.
   * Nchan ends its streams (`:410: 410 Gone`) and forgets its buffered messages.
   */
  reload(): Promise<void>;
  /**
   * Stop nginx (SIGTERM: streams end with 410 Gone) and start it again on the same
   * port, prefix and config; messages are gone, as after any nginx restart.
   */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface NchanOptions {
  /** Full nginx.conf text with `__PORT__` (and optionally other) placeholders. @default the project's copy of ../shared/nchan/nginx.conf */
  config?: string;
  /** Where the passthrough hooks go. @default a port nothing listens on */
  passthroughPort?: number;
  /** The subscriber location's fixed `nchan_access_control_allow_origin`. @default 'http://127.0.0.1:8000' */
  allowOrigin?: string;
}

const DEFAULT_CONFIG = new URL('./nchan/nginx.conf', import.meta.url);

/**
 * How many free ports a start tries: nginx cannot listen on port 0 and say which port
 * it got, so another process can take the free port first.
 */
const START_TRIES = 5;

/**
 * Start nginx in the foreground (`daemon off`) on a free port with its own prefix
 * directory. The caller stops it with `stop()`; it is a child of the test process.
 * The config must keep `pid nginx.pid;`: nginx writes that file once its sockets are
 * bound, which tells a started nginx from another process answering on the port.
 */
export async function startNchan(options: NchanOptions = {}): Promise<Nchan> {
  const nginx = nginxBinary();
  if (!nginx)
    throw new Error('nginx is not installed: apt-get install -y nginx-light libnginx-mod-nchan');
  const prefix = mkdtempSync(join(tmpdir(), 'pushserver-nchan-'));
  // nginx's workers run as another user when the tests run as root: they must reach
  // the prefix to write request bodies larger than client_body_buffer_size to tmp/.
  chmodSync(prefix, 0o755);
  mkdirSync(join(prefix, 'logs'));
  mkdirSync(join(prefix, 'tmp'));
  const configPath = join(prefix, 'nginx.conf');
  const args = ['-c', configPath, '-p', `${prefix}/`, '-e', join(prefix, 'logs/error.log')];
  /** Start nginx (config already written); undefined when its port is in use. */
  const launch = async (port: number): Promise<Child | undefined> => {
    const child = spawnChild(nginx, [...args, '-g', 'daemon off;']);
    try {
      await waitUntil(
        `nginx to bind 127.0.0.1:${port} (its pid file)`,
        () => {
          if (existsSync(join(prefix, 'nginx.pid'))) return true;
          if (!child.running())
            throw new Error(`nginx exited at start: ${child.stderr() || readLog(prefix)}`);
          return false;
        },
        { timeoutMs: START_MS, intervalMs: 50 },
      );
      await waitForPort(port);
      return child;
    } catch (error) {
      await child.stop('SIGKILL');
      if (/Address already in use/.test(child.stderr())) return undefined;
      throw error;
    }
  };
  for (let tries = 1; ; tries++) {
    const port = await freePort();
    const config = (options.config ?? readFileSync(DEFAULT_CONFIG, 'utf8'))
      .replaceAll('__PORT__', String(port))
      .replaceAll('__PASSTHROUGH_PORT__', String(options.passthroughPort ?? 9))
      .replaceAll('__ALLOW_ORIGIN__', options.allowOrigin ?? 'http://127.0.0.1:8000');
    writeFileSync(configPath, config);
    let child: Child | undefined;
    try {
      child = await launch(port);
    } catch (error) {
      rmSync(prefix, { recursive: true, force: true });
      throw error;
    }
    if (!child) {
      if (tries < START_TRIES) continue;
      rmSync(prefix, { recursive: true, force: true });
      throw new Error(`nginx: port ${port} in use through ${tries} starts`);
    }
    let current: Child = child;
    return {
      port,
      origin: `http://127.0.0.1:${port}`,
      prefix,
      async reload() {
        const master = current.process.pid as number;
        const before = workerPids(master);
        const signal = spawnChild(nginx, [...args, '-s', 'reload']);
        const code = await signal.ended();
        if (code !== 0) throw new Error(`nginx -s reload exited ${code}: ${signal.stderr()}`);
        await waitUntil(
          'the old nginx worker to exit and a new one to run after the reload',
          () => {
            const now = workerPids(master);
            return now.length > 0 && !now.some((pid) => before.includes(pid));
          },
          { timeoutMs: START_MS, intervalMs: 50 },
        );
      },
      async restart() {
        await current.stop('SIGTERM', 20_000);
        // nginx removes its pid file at exit, unless it was killed: the next start's
        // file must be its own.
        rmSync(join(prefix, 'nginx.pid'), { force: true });
        // Another process may take the port while nginx is down: try a few times.
        for (let again = 1; ; again++) {
          const started = await launch(port);
          if (started) {
            current = started;
            return;
          }
          if (again === START_TRIES)
            throw new Error(`nginx: port ${port} stayed in use through ${again} restarts`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      },
      async stop() {
        await current.stop('SIGTERM');
        rmSync(prefix, { recursive: true, force: true });
      },
    };
  }
}

/** The worker processes of nginx's master `pid` (its children, zombies left out). */
function workerPids(pid: number): number[] {
  const result = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((child) => {
      try {
        const stat = readFileSync(`/proc/${child}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
      } catch {
        return false;
      }
    });
}

function readLog(prefix: string): string {
  try {
    return readFileSync(join(prefix, 'logs/error.log'), 'utf8');
  } catch {
    return '(no error log)';
  }
}
