import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
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
import { startRedis } from '../test/support/redis.js';
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
  /**
   * The server's processes by role, for servers of several processes: `workers`
   * (the processes that serve connections; their balance is reported), and e.g.
   * `redis` or `primary`, whose share of the CPU is reported apart.
   */
  roles?(): Record<string, number[]>;
  /** Said under every result of this server (what its figures include). */
  note?: string;
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
 * Start Nchan (nginx, one worker or `workers`) with bench/nginx.conf in a private
 * prefix. Its workers share channels through nginx's shared memory.
 *
 * @param workers nginx `worker_processes` @default 1
 * @returns the running target; `stop()` ends nginx and removes its prefix
 * @example const nchan = await startNchanTarget(); await nchan.stop();
 */
export async function startNchanTarget(workers = 1): Promise<Target> {
  const config = readFileSync(new URL('./nginx.conf', import.meta.url), 'utf8')
    .replace(/^worker_processes 1;$/m, `worker_processes ${workers};`)
    .replaceAll('__BUFFER__', String(BUFFER.messages))
    .replaceAll('__TIMEOUT__', String(BUFFER.timeoutSeconds));
  const nchan = await startNchan({ config });
  const master = await readPidFile(join(nchan.prefix, 'nginx.pid'));
  // nginx forks its workers after it opens the port.
  const deadline = Date.now() + 5000;
  while (processTree(master).length < 1 + workers && Date.now() < deadline) await sleep(20);
  return {
    name: 'nchan',
    port: nchan.port,
    publisherPath: '/publisher/{channel}',
    subscriberPath: '/subscriber/{channel}',
    pids: () => processTree(master),
    roles:
      workers > 1 ? () => ({ master: [master], workers: processTree(master).slice(1) }) : undefined,
    note:
      workers > 1
        ? `nginx with ${workers} worker processes sharing channels in shared memory`
        : undefined,
    stop: () => nchan.stop(),
  };
}

/**
 * Start bench/node-floor.mjs, the least a Node server on public APIs does for the
 * long-poll fan-out and publish scenarios: what Node itself costs, apart from the daemon.
 *
 * @returns the running target; `stop()` ends it
 * @example const floor = await startNodeFloorTarget(); await floor.stop();
 */
export async function startNodeFloorTarget(): Promise<Target> {
  const child = fork(new URL('./node-floor.mjs', import.meta.url).pathname, [], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await Promise.race([
    new Promise<number>((resolve) =>
      child.once('message', (message) => resolve((message as { port: number }).port)),
    ),
    exited.then(() => {
      throw new Error('bench/node-floor.mjs exited at start');
    }),
    // Unreferenced: once the port has come, the deadline must not hold the run open.
    sleep(10_000, undefined, { ref: false }).then(() => {
      throw new Error('bench/node-floor.mjs sent no port within 10 s');
    }),
  ]).catch((error: Error) => {
    child.kill('SIGKILL');
    throw error;
  });
  const pid = child.pid as number;
  return {
    name: 'node-floor',
    port,
    publisherPath: '/publisher/{channel}',
    subscriberPath: '/subscriber/{channel}',
    pids: () => [pid],
    note: 'bench/node-floor.mjs: a minimal Node long-poll server (long-poll fan-out and publish scenarios only)',
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** How the daemon is started for a run. */
export interface DaemonOptions {
  /** The daemon's built CLI module (from {@link snapshotDaemon}). */
  cli: string;
  /** Write a V8 CPU profile (`node --cpu-prof`) into this directory when it exits. */
  cpuProfileDir?: string;
  /** `--workers N`: N cluster workers sharing a Redis store (a redis-server started here). @default 1 */
  workers?: number;
  /** The cluster's connection scheduling (`NODE_CLUSTER_SCHED_POLICY`). @default 'rr' */
  schedulingPolicy?: 'rr' | 'none';
  /** Name in the report. @default 'pushserver' */
  name?: string;
  /** More Node flags for the daemon (`--node-args`), e.g. `--max-semi-space-size=32`. */
  nodeArgs?: string[];
}

/**
 * Freeze the daemon's code for one run: copy `dist/` when it is newer than `src/`,
 * otherwise transpile `src/` into the copy. Others may edit
 * and rebuild the checkout during a run; every scenario must measure the same code.
 *
 * @returns path of the snapshot's `server/cli/main.js`
 * @example const cli = snapshotDaemon(); await startPushserverTarget({ cli });
 */
export function snapshotDaemon(): string {
  // Under node_modules so the snapshot resolves the project's dependencies, and ignored by
  // git; one per run, so that two runs at once (two checkouts' users) do not share it.
  const runDir = join(ROOT, `node_modules/.cache/pushserver-bench/${process.pid}`);
  const dir = join(runDir, 'dist');
  rmSync(runDir, { recursive: true, force: true });
  process.once('exit', () => rmSync(runDir, { recursive: true, force: true }));
  const dist = join(ROOT, 'dist');
  const cli = join(dist, 'server/cli/main.js');
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
    if (!existsSync(join(dir, 'server/cli/main.js'))) {
      throw new Error(
        `building the daemon from src/ gave no server/cli/main.js:\n${build.stdout}${build.stderr}`,
      );
    }
  }
  return join(dir, 'server/cli/main.js');
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
  const workers = options.workers ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-bench-'));
  const configPath = join(dir, 'pushserver.config.json');
  const redis = workers > 1 ? await startBenchRedis() : undefined;
  const buffer = { maxMessages: BUFFER.messages, messageTimeout: BUFFER.timeoutSeconds };
  writeFileSync(
    configPath,
    JSON.stringify({
      address: '127.0.0.1',
      port,
      store: redis
        ? { type: 'redis', url: `redis://127.0.0.1:${redis.port}`, ...buffer }
        : { type: 'memory', ...buffer },
    }),
  );
  const nodeArgs = [
    ...(options.nodeArgs ?? []),
    ...(options.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfileDir] : []),
  ];
  const argv = [`127.0.0.1:${port}`, '--config', configPath, '--quiet'];
  if (workers > 1) argv.push('--workers', String(workers));
  const child: ChildProcess = spawn(
    process.execPath,
    [...nodeArgs, '--input-type=module', '-e', launcher(options.cli, argv)],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir,
      env: { ...process.env, NODE_CLUSTER_SCHED_POLICY: options.schedulingPolicy ?? 'rr' },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      (async () => {
        await waitForPort(port);
        // Every worker opens its store (two Redis connections) just before it listens.
        if (redis) await redis.waitForClients(2 * workers);
      })(),
      exited.then(() => {
        throw new Error(`runpushserver exited at start: ${stderr.trim()}`);
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const pid = child.pid as number;
  return {
    name: options.name ?? 'pushserver',
    port,
    publisherPath: '/publisher/{channel}',
    subscriberPath: '/subscriber/{channel}',
    pids: () => [...processTree(pid), ...(redis ? [redis.pid] : [])],
    roles: redis
      ? () => ({ primary: [pid], workers: processTree(pid).slice(1), redis: [redis.pid] })
      : undefined,
    note: redis
      ? `--workers ${workers} (cluster, ${options.schedulingPolicy === 'none' ? 'shared listening socket' : 'round robin'}) with a Redis store: server CPU and memory include redis-server's`
      : undefined,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await redis?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A redis-server for one bench target (test/support's, no persistence) and its pid, to measure it. */
async function startBenchRedis() {
  const redis = await startRedis();
  const info = (section: string) =>
    spawnSync('redis-cli', ['-p', String(redis.port), 'info', section], { encoding: 'utf8' })
      .stdout;
  const pid = Number(/process_id:(\d+)/.exec(info('server'))?.[1]);
  if (!pid) throw new Error('redis-cli could not ask the bench redis-server for its pid');
  return {
    port: redis.port,
    pid,
    /** Resolve once `count` clients besides the probe are connected. */
    async waitForClients(count: number) {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        if (Number(/connected_clients:(\d+)/.exec(info('clients'))?.[1] ?? 0) >= count + 1) return;
        await sleep(50);
      }
      throw new Error('the workers did not all connect to Redis within 30 s');
    },
    stop: () => redis.destroy(),
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
