import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Child, spawnChild } from './child.js';
import { freePort } from './ports.js';

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
 * How many times a start is tried when its port is in use: redis-server cannot listen
 * on port 0 and say which port it got, so another process can take the free port first.
 */
const START_TRIES = 5;

/**
 * Start `redis-server`. With `persistence: true` it appends every write to an AOF
 * file (fsync always), so a restart keeps the data; by default nothing is saved.
 */
export async function startRedis(
  options: { persistence?: boolean; port?: number } = {},
): Promise<Redis> {
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-redis-'));
  const persistence = options.persistence
    ? ['--appendonly', 'yes', '--appendfsync', 'always']
    : ['--appendonly', 'no'];
  let child: Child | undefined;

  /** Start on `port`: false when the port is in use. */
  const startOn = async (port: number): Promise<boolean> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir];
    child = spawnChild('redis-server', [
      ...args,
      '--save',
      '',
      '--daemonize',
      'no',
      ...persistence,
    ]);
    try {
      await child.printed(/Ready to accept connections/);
      return true;
    } catch (error) {
      await child.stop('SIGKILL');
      if (/Address already in use/.test(child.stdout())) return false;
      throw error;
    }
  };
  /** Start on `port`, or on a free one each try; resolves with the port. */
  const startTrying = async (port: number | undefined): Promise<number> => {
    for (let tries = 1; ; tries++) {
      const chosen = port ?? (await freePort());
      if (await startOn(chosen)) return chosen;
      if (tries === START_TRIES)
        throw new Error(`redis-server: port ${chosen} in use through ${tries} starts`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  const port = await startTrying(options.port);
  const stop = async () => {
    // With persistence on, redis-server writes its file before it exits.
    await child?.stop('SIGTERM', 20_000);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async start() {
      await startTrying(port);
    },
    stop,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
