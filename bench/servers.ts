import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { startNchan } from '../test/support/nchan.js';
import { freePort, waitForPort } from '../test/support/ports.js';
import { processTree } from './proc.js';

/**
 * A server under test, reached through URL templates so that any server speaking
 * the protocol can be measured: `{channel}` is replaced by the channel id.
 */
export interface Target {
  name: string;
  port: number;
  /** e.g. `/publisher/{channel}` */
  publisherPath: string;
  /** e.g. `/subscriber/{channel}` */
  subscriberPath: string;
  /** The processes whose CPU and memory count as the server's. */
  pids(): number[];
  stop(): Promise<void>;
}

/** Message buffer both servers keep, large enough for every scenario's messages. */
export const BUFFER = { messages: 1000, timeoutSeconds: 600 };

const ROOT = new URL('..', import.meta.url).pathname;

/**
 * Fill a URL template for one channel.
 *
 * @param template path with `{channel}`
 * @param channel the channel id (percent-encoded into the path)
 * @returns the path
 * @example channelPath('/subscriber/{channel}', 'a b') // '/subscriber/a%20b'
 */
export function channelPath(template: string, channel: string): string {
  return template.replaceAll('{channel}', encodeURIComponent(channel));
}

/**
 * Start Nchan (nginx, one worker) with bench/nginx.conf in a private prefix.
 *
 * @returns the running target; `stop()` ends nginx and removes its prefix
 * @example const nchan = await startNchanTarget(); await nchan.stop();
 */
export async function startNchanTarget(): Promise<Target> {
  const config = readFileSync(new URL('./nginx.conf', import.meta.url), 'utf8')
    .replaceAll('__BUFFER__', String(BUFFER.messages))
    .replaceAll('__TIMEOUT__', String(BUFFER.timeoutSeconds));
  const nchan = await startNchan({ config });
  const master = await readPidFile(join(nchan.prefix, 'nginx.pid'));
  return {
    name: 'nchan',
    port: nchan.port,
    publisherPath: '/publisher/{channel}',
    subscriberPath: '/subscriber/{channel}',
    pids: () => processTree(master),
    stop: () => nchan.stop(),
  };
}

/** How the daemon is started for a run. */
export interface DaemonOptions {
  /** The daemon's built CLI module (from {@link snapshotDaemon}). */
  cli: string;
  /** Write a V8 CPU profile (`node --cpu-prof`) into this directory when it exits. */
  cpuProfileDir?: string;
}

/**
 * Freeze the daemon's code for one run: copy `dist/` when it is newer than `src/`,
 * otherwise transpile `src/` into the copy. Others may edit
 * and rebuild the checkout during a run; every scenario must measure the same code.
 *
 * @returns path of the snapshot's `server/cli.js`
 * @example const cli = snapshotDaemon(); await startPushserverTarget({ cli });
 */
export function snapshotDaemon(): string {
  // Under node_modules so the snapshot resolves the project's dependencies, and ignored by git.
  const dir = join(ROOT, 'node_modules/.cache/pushserver-bench/dist');
  rmSync(dir, { recursive: true, force: true });
  const dist = join(ROOT, 'dist');
  const cli = join(dist, 'server/cli.js');
  if (existsSync(cli) && statSync(cli).mtimeMs >= newestMtime(join(ROOT, 'src'))) {
    cpSync(dist, dir, { recursive: true });
  } else {
    // Transpile only (esbuild, which tsx already brings): a tsc build type-checks the
    // whole project and takes longer than the quick run may. Same JavaScript out.
    const sources = (readdirSync(join(ROOT, 'src'), { recursive: true }) as string[])
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
      .map((name) => join(ROOT, 'src', name));
    const esbuild = join(ROOT, 'node_modules/esbuild/bin/esbuild');
    const build = existsSync(esbuild)
      ? spawnSync(
          esbuild,
          [
            ...sources,
            `--outdir=${dir}`,
            `--outbase=${join(ROOT, 'src')}`,
            '--format=esm',
            '--platform=node',
            '--target=node20',
            '--log-level=error',
          ],
          { encoding: 'utf8' },
        )
      : // Without esbuild: tsc, which emits even when some file has type errors.
        spawnSync(
          process.execPath,
          [
            join(ROOT, 'node_modules/typescript/bin/tsc'),
            '-p',
            join(ROOT, 'tsconfig.build.json'),
            '--outDir',
            dir,
          ],
          { encoding: 'utf8' },
        );
    if (!existsSync(join(dir, 'server/cli.js'))) {
      throw new Error(
        `building the daemon from src/ gave no server/cli.js:\n${build.stdout}${build.stderr}`,
      );
    }
  }
  return join(dir, 'server/cli.js');
}

/**
 * Start `runpushserver` (the snapshot's CLI, as `bin/runpushserver.js` runs it) on a
 * free port with the same buffer as Nchan, `--quiet`.
 *
 * @param options the snapshot, profiling
 * @returns the running target; `stop()` sends SIGTERM and waits
 * @example const daemon = await startPushserverTarget({ cli: snapshotDaemon() });
 */
export async function startPushserverTarget(options: DaemonOptions): Promise<Target> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-bench-'));
  const configPath = join(dir, 'pushserver.config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      address: '127.0.0.1',
      port,
      store: {
        type: 'memory',
        maxMessages: BUFFER.messages,
        messageTimeout: BUFFER.timeoutSeconds,
      },
    }),
  );
  const nodeArgs = options.cpuProfileDir
    ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir]
    : [];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...nodeArgs,
      '--input-type=module',
      '-e',
      launcher(options.cli, [`127.0.0.1:${port}`, '--config', configPath, '--quiet']),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir },
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
        throw new Error(`runpushserver exited at start: ${stderr.trim()}`);
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const pid = child.pid as number;
  return {
    name: 'pushserver',
    port,
    publisherPath: '/publisher/{channel}',
    subscriberPath: '/subscriber/{channel}',
    pids: () => processTree(pid),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A server the runner did not start: templates are full URLs on 127.0.0.1,
 * e.g. `http://127.0.0.1:8001/publisher/{channel}`; `pid` is its main process.
 *
 * @param name label in the report
 * @param publisherUrl publisher URL template
 * @param subscriberUrl subscriber URL template
 * @param pid process to measure (its descendants count too)
 * @returns a target whose `stop()` does nothing
 * @example externalTarget('other', 'http://127.0.0.1:9000/pub/{channel}', 'http://127.0.0.1:9000/sub/{channel}', 1234)
 */
export function externalTarget(
  name: string,
  publisherUrl: string,
  subscriberUrl: string,
  pid: number,
): Target {
  const publisher = new URL(publisherUrl.replaceAll('{channel}', '__CHANNEL__'));
  const subscriber = new URL(subscriberUrl.replaceAll('{channel}', '__CHANNEL__'));
  if (publisher.port !== subscriber.port)
    throw new Error('--target: publisher and subscriber must share one port');
  const path = (url: URL) => `${url.pathname}${url.search}`.replaceAll('__CHANNEL__', '{channel}');
  return {
    name,
    port: Number(publisher.port || 80),
    publisherPath: path(publisher),
    subscriberPath: path(subscriber),
    pids: () => processTree(pid),
    stop: async () => {},
  };
}

async function readPidFile(path: string): Promise<number> {
  // nginx may accept connections a moment before it writes its pid file.
  for (let i = 0; i < 100; i++) {
    try {
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (pid > 0) return pid;
    } catch {
      // not written yet
    }
    await sleep(20);
  }
  throw new Error(`nginx wrote no pid file at ${path}`);
}

function launcher(cli: string, argv: string[]): string {
  return `import(${JSON.stringify(pathToFileURL(cli).href)}).then((m) => m.main(${JSON.stringify(argv)}));`;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const stat = statSync(join(dir, name));
    if (stat.isFile() && stat.mtimeMs > newest) newest = stat.mtimeMs;
  }
  return newest;
}
