import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

/** A redis-server started for a test, on a free port, in its own directory. */
export interface Redis {
  port: number;
  url: string;
  dir: string;
  /** Stop the server (SIGTERM; with persistence on, it saves first). */
  stop(): Promise<void>;
  /** Start it again on the same port and directory. */
  start(): Promise<void>;
  /** Stop it and remove its directory. */
  destroy(): Promise<void>;
}

/**
 * Start `redis-server`. With `persistence: true` it appends every write to an AOF
 * file (fsync always), so a restart keeps the data; by default nothing is saved.
 */
export async function startRedis(
  options: { persistence?: boolean; port?: number } = {},
): Promise<Redis> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--daemonize',
    'no',
  ];
  args.push(
    ...(options.persistence
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no']),
  );
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const redis: Redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async start() {
      child = spawn('redis-server', args, { stdio: 'ignore' });
      const current = child;
      exited = new Promise((resolve) => current.once('exit', () => resolve()));
      await waitForPort(port);
    },
    async stop() {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
    async destroy() {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await redis.start();
  return redis;
}
