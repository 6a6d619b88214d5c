/**
 * A pushserver daemon in a child process of its own (`createPushServer(settings)`),
 * so tests can run several daemons, kill one, or restart it, as on real machines.
 *
 * This file is also the child's entry point: run with PUSHSERVER_TEST_DAEMON set to
 * the settings as JSON, it starts the daemon, prints `listening <port>` and stops
 * cleanly on SIGTERM. A daemon that cannot start prints the error and exits with 2.
 *
 * Daemons listen on port 0 and report the port they got: a port picked free beforehand
 * can be taken by another test's process before the child binds it.
 */
import { fileURLToPath } from 'node:url';
import type { PushServerSettings } from '../../src/settings/index.js';
import { type Answer as HttpAnswer, request } from '../conformance/http-client.js';
import { type Child, spawnChild } from './child.js';

const CHILD_ENV = 'PUSHSERVER_TEST_DAEMON';
const CLI = fileURLToPath(new URL('../../src/server/cli/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** A daemon process started by a test. */
export interface DaemonProcess {
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Everything the process wrote to stdout since it was first started. */
  stdout(): string;
  /** Everything the process wrote to stderr since it was first started. */
  stderr(): string;
  /** Whether the process is running. */
  running(): boolean;
  /** Start it again on the same port with the same settings. */
  start(): Promise<void>;
  /** SIGTERM and wait for the exit (the daemon closes its stores). */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit, as a crash. */
  kill(): Promise<void>;
}

/**
 * Start a daemon in a child process on a port the system picks (or `settings.port`).
 *
 * @param settings the daemon's settings
 * @returns the running daemon; stop it in `after`
 * @example const daemon = await startDaemonProcess({ store: { type: 'redis', url: redis.url } });
 */
export async function startDaemonProcess(settings: PushServerSettings): Promise<DaemonProcess> {
  const entry = fileURLToPath(import.meta.url);
  return startProcess(settings.port ?? 0, (port) => ({
    args: [entry],
    env: { ...process.env, [CHILD_ENV]: JSON.stringify({ ...settings, port }) },
  }));
}

/**
 * Run the real command, `runpushserver 127.0.0.1:0 ...args` (src/server/cli/main.ts
 * through tsx), and wait for its banner, which names the port.
 *
 * @param args arguments after the address, e.g. `['--config', file]`
 * @param env extra environment variables
 * @example const daemon = await startCommand(['--config', 'pushserver.config.mjs'], { REDIS_URL: redis.url });
 */
export async function startCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<DaemonProcess> {
  return startProcess(0, (port) => ({
    args: [CLI, `127.0.0.1:${port}`, ...args],
    env: { ...process.env, ...env },
  }));
}

/**
 * Start `runpushserver ...args` (src/server/cli/main.ts through tsx) and collect its
 * output; give it `127.0.0.1:0` and read the port with {@link listeningPort}.
 *
 * @param args the command line after `runpushserver`
 * @param options `cwd` and `env` of the process
 * @returns the running command; stop it in `after`
 * @example const cli = runpushserver(['127.0.0.1:0', '--quiet']);
 */
export function runpushserver(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Child {
  return spawnChild(process.execPath, ['--import', TSX, CLI, ...args], options);
}

/**
 * The port in `runpushserver`'s banner (`Starting push server at http://ADDR:PORT/`),
 * once printed: the one the system gave for port 0.
 *
 * @example const port = await listeningPort(runpushserver(['127.0.0.1:0']));
 */
export async function listeningPort(command: Child): Promise<number> {
  const [, port] = await command.printed(/Starting push server at http:\/\/\S+:(\d+)\/\n/);
  return Number(port);
}

/**
 * Run `runpushserver ...args` to its exit (for commands that must fail at start).
 *
 * @returns the exit code and what it printed
 */
export async function runCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const command = runpushserver(args, { env: { ...process.env, ...env } });
  const code = await command.ended();
  return {
    code: typeof code === 'number' ? code : null,
    stdout: command.stdout(),
    stderr: command.stderr(),
  };
}

/** Printed by the test entry point and the command once they listen: the port. */
const READY = /(?:^listening |Starting push server at http:\/\/\S+:)(\d+)/m;

/** How many times a restart on a port someone took meanwhile is tried again. */
const RESTART_TRIES = 5;

async function startProcess(
  requested: number,
  command: (port: number) => { args: string[]; env: NodeJS.ProcessEnv },
): Promise<DaemonProcess> {
  // Output of the processes before the current one.
  let before = { stdout: '', stderr: '' };
  let child: Child | undefined;
  let port = requested;

  const running = () => !!child?.running();
  const signal = async (name: NodeJS.Signals) => {
    await child?.stop(name);
  };

  /** One start; resolves false when the port is in use (a restart's port was taken). */
  const startOnce = async (): Promise<boolean> => {
    const { args, env } = command(port);
    if (child)
      before = { stdout: before.stdout + child.stdout(), stderr: before.stderr + child.stderr() };
    const current = spawnChild(process.execPath, ['--import', TSX, ...args], { env });
    child = current;
    try {
      const [, bound] = await current.printed(READY);
      port = Number(bound);
      return true;
    } catch (error) {
      await current.stop('SIGKILL');
      if (/EADDRINUSE|already in use/.test(current.stderr())) return false;
      throw new Error(`the daemon did not start: ${(error as Error).message}`);
    }
  };

  const start = async () => {
    for (let tries = 1; !(await startOnce()); tries++) {
      if (tries === RESTART_TRIES)
        throw new Error(`port ${port} stayed in use through ${tries} starts:\n${child?.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  await start();
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    stdout: () => before.stdout + (child?.stdout() ?? ''),
    stderr: () => before.stderr + (child?.stderr() ?? ''),
    running,
    start,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
  };
}

/** Where a subscriber is: the `Last-Modified` and `Etag` of the last message it got. */
export interface Cursor {
  lastModified: string;
  etag: string;
}

/** An answer of the daemon: status, body text, and the cursor headers it carried. */
export interface Answer {
  status: number;
  body: string;
  cursor: Cursor;
}

/**
 * One subscriber GET on `/subscriber/<channel>` with a cursor (none for a first poll).
 *
 * @example const { status, body, cursor } = await poll(daemon, 'room', previous?.cursor);
 */
export async function poll(
  daemon: DaemonProcess,
  channel: string,
  cursor?: Cursor,
): Promise<Answer> {
  const headers: Record<string, string> = cursor
    ? { 'If-Modified-Since': cursor.lastModified, 'If-None-Match': cursor.etag }
    : {};
  return answer(await request(daemon.url, 'GET', `/subscriber/${channel}`, { headers }));
}

/**
 * POST `body` (text/plain) to `/publisher/<channel>`.
 *
 * @example assert.equal((await publish(daemon, 'room', 'hi')).status, 202);
 */
export async function publish(
  daemon: DaemonProcess,
  channel: string,
  body: string,
): Promise<Answer> {
  const headers = { 'Content-Type': 'text/plain' };
  return answer(await request(daemon.url, 'POST', `/publisher/${channel}`, { headers, body }));
}

/** The channel info of `/publisher/<channel>` (JSON), or undefined on 404. */
export async function channelInfo(
  daemon: DaemonProcess,
  channel: string,
): Promise<
  { messages: number; requested: number; subscribers: number; last_message_id: string } | undefined
> {
  const headers = { Accept: 'application/json' };
  const { status, body } = answer(
    await request(daemon.url, 'GET', `/publisher/${channel}`, { headers }),
  );
  if (status === 404) return undefined;
  if (status !== 200) throw new Error(`GET /publisher/${channel}: ${status} ${body}`);
  return JSON.parse(body);
}

function answer(response: HttpAnswer | undefined): Answer {
  if (!response) throw new Error('no answer');
  return {
    status: response.status,
    body: response.text,
    cursor: {
      lastModified: response.headers['last-modified'] ?? '',
      etag: response.headers.etag ?? '',
    },
  };
}

async function runChild(json: string): Promise<void> {
  const { createPushServer } = await import('../../src/server/daemon.js');
  const push = createPushServer(JSON.parse(json) as PushServerSettings);
  try {
    const address = await push.listen();
    process.stdout.write(`listening ${address.port}\n`);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  }
  process.once('SIGTERM', () => {
    push.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

if (process.env[CHILD_ENV]) await runChild(process.env[CHILD_ENV]);
