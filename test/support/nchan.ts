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
import { START_MS, spawnChild } from './child.js';
import { freePort, waitForPort } from './ports.js';
import { nginxBinary } from './system.js';
import { waitUntil } from './wait.js';

/** A running Nchan (nginx + nchan module) started for a test. */
export interface Nchan {
  port: number;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  prefix: string;
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
  for (let tries = 1; ; tries++) {
    const port = await freePort();
    const config = (options.config ?? readFileSync(DEFAULT_CONFIG, 'utf8'))
      .replaceAll('__PORT__', String(port))
      .replaceAll('__PASSTHROUGH_PORT__', String(options.passthroughPort ?? 9))
      .replaceAll('__ALLOW_ORIGIN__', options.allowOrigin ?? 'http://127.0.0.1:8000');
    writeFileSync(configPath, config);
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
    } catch (error) {
      await child.stop('SIGKILL');
      if (tries < START_TRIES && /Address already in use/.test(child.stderr())) continue;
      rmSync(prefix, { recursive: true, force: true });
      throw error;
    }
    return {
      port,
      origin: `http://127.0.0.1:${port}`,
      prefix,
      async stop() {
        await child.stop('SIGTERM');
        rmSync(prefix, { recursive: true, force: true });
      },
    };
  }
}

function readLog(prefix: string): string {
  try {
    return readFileSync(join(prefix, 'logs/error.log'), 'utf8');
  } catch {
    return '(no error log)';
  }
}
