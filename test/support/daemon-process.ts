/**
 * A pushserver daemon in a child process of its own (`createPushServer(settings)`),
 * so tests can run several daemons, kill one, or restart it, as on real machines.
 *
 * This file is also the child's entry point: run with PUSHSERVER_TEST_DAEMON set to
 * the settings as JSON, it starts the daemon, prints `listening <port>` and stops
 * cleanly on SIGTERM. A daemon that cannot start prints the error and exits with 2.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PushServerSettings } from '../../src/settings/index.js';
import { type Answer as HttpAnswer, request } from '../conformance/http-client.js';
import { freePort } from './ports.js';

const CHILD_ENV = 'PUSHSERVER_TEST_DAEMON';

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
 * Start a daemon in a child process on a free port (or `settings.port`).
 *
 * @param settings the daemon's settings; `port` defaults to a free one
 * @returns the running daemon; stop it in `after`
 * @example const daemon = await startDaemonProcess({ store: { type: 'redis', url: redis.url } });
 */
export async function startDaemonProcess(settings: PushServerSettings): Promise<DaemonProcess> {
  const port = settings.port || (await freePort());
  const env = { ...process.env, [CHILD_ENV]: JSON.stringify({ ...settings, port }) };
  return spawnDaemon(port, [fileURLToPath(import.meta.url)], env, `listening ${port}\n`);
}

/**
 * Run the real command, `runpushserver 127.0.0.1:<port> ...args` (src/server/cli/main.ts
 * through tsx), and wait for its banner.
 *
 * @param args arguments after the address, e.g. `['--config', file]`
 * @param env extra environment variables
 * @example const daemon = await startCommand(['--config', 'pushserver.config.mjs'], { REDIS_URL: redis.url });
 */
export async function startCommand(
  args: string[],
  env: Record<string, string> = {},
): Promise<DaemonProcess> {
  const port = await freePort();
  return spawnDaemon(
    port,
    [CLI, `127.0.0.1:${port}`, ...args],
    { ...process.env, ...env },
    'Quit the server with CONTROL-C.',
  );
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
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) =>
    child.once('close', (exit) => resolve(exit)),
  );
  return { code, stdout, stderr };
}

const CLI = fileURLToPath(new URL('../../src/server/cli/main.ts', import.meta.url));

async function spawnDaemon(
  port: number,
  argv: string[],
  env: NodeJS.ProcessEnv,
  ready: string,
): Promise<DaemonProcess> {
  let stdout = '';
  let stderr = '';
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);

  const running = () => !!child && child.exitCode === null && child.signalCode === null;
  const signal = async (name: NodeJS.Signals) => {
    if (running()) child?.kill(name);
    await exited;
  };

  const daemon: DaemonProcess = {
    port,
    url: `http://127.0.0.1:${port}`,
    stdout: () => stdout,
    stderr: () => stderr,
    running,
    async start() {
      const current = spawn(process.execPath, ['--import', 'tsx', ...argv], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = current;
      current.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      exited = new Promise((resolve) => current.once('exit', (code) => resolve(code)));
      await new Promise<void>((resolve, reject) => {
        const from = stdout.length;
        current.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
          stdout += chunk;
          if (stdout.includes(ready, from)) resolve();
        });
        exited.then((code) =>
          reject(new Error(`daemon exited with ${code} before it was ready:\n${stderr}`)),
        );
      });
    },
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
  };
  await daemon.start();
  return daemon;
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
