import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { nginxBinary } from './system.js';

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
 * Start nginx in the foreground (`daemon off`) on a free port with its own prefix
 * directory. The caller stops it with `stop()`; it is a child of the test process.
 */
export async function startNchan(options: NchanOptions = {}): Promise<Nchan> {
  const nginx = nginxBinary();
  if (!nginx)
    throw new Error('nginx is not installed: apt-get install -y nginx-light libnginx-mod-nchan');
  const port = await freePort();
  const prefix = mkdtempSync(join(tmpdir(), 'pushserver-nchan-'));
  // nginx's workers run as another user when the tests run as root: they must reach
  // the prefix to write request bodies larger than client_body_buffer_size to tmp/.
  chmodSync(prefix, 0o755);
  mkdirSync(join(prefix, 'logs'));
  mkdirSync(join(prefix, 'tmp'));
  const config = (options.config ?? readFileSync(DEFAULT_CONFIG, 'utf8'))
    .replaceAll('__PORT__', String(port))
    .replaceAll('__PASSTHROUGH_PORT__', String(options.passthroughPort ?? 9))
    .replaceAll('__ALLOW_ORIGIN__', options.allowOrigin ?? 'http://127.0.0.1:8000');
  const configPath = join(prefix, 'nginx.conf');
  writeFileSync(configPath, config);
  const child: ChildProcess = spawn(
    nginx,
    [
      '-c',
      configPath,
      '-p',
      `${prefix}/`,
      '-e',
      join(prefix, 'logs/error.log'),
      '-g',
      'daemon off;',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => {
        throw new Error(`nginx exited at start: ${stderr || readLog(prefix)}`);
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    prefix,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function readLog(prefix: string): string {
  try {
    return readFileSync(join(prefix, 'logs/error.log'), 'utf8');
  } catch {
    return '(no error log)';
  }
}
