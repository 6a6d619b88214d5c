/**
 * A process started by a test, its output collected as it comes, and waits on it
 * that end: at its exit, or at a deadline naming what was awaited.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { waitUntil, withDeadline } from './wait.js';

/** How long a child gets to print what a test waits for: node + tsx start slowly under load. */
export const START_MS = 90_000;

/** A running (or ended) child process. */
export interface Child {
  process: ChildProcess;
  /** Everything it wrote to stdout so far. */
  stdout(): string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<number | string>;
  /** Resolves as `exited`, once all the output has been read too. */
  closed: Promise<number | string>;
  /** `closed`, or a rejection naming the command after `timeoutMs` (default {@link START_MS}). */
  ended(timeoutMs?: number): Promise<number | string>;
  running(): boolean;
  /**
   * Resolve once stdout (or `stream`), from offset `from` on, matches `pattern`; reject
   * when the process ends without printing it, or after `timeoutMs` (default {@link START_MS}).
   */
  printed(
    pattern: string | RegExp,
    options?: { timeoutMs?: number; from?: number; stream?: 'stdout' | 'stderr' },
  ): Promise<RegExpExecArray>;
  /** Send `signal` (default SIGTERM), wait for the exit; SIGKILL after `graceMs` (default 5 s). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

/**
 * Spawn `command` with stdout and stderr collected (stdin closed).
 *
 * @param command the program, e.g. `process.execPath` or `'redis-server'`
 * @param args its arguments
 * @param options as for `spawn`; `stdio` is set here
 * @returns the child; stop it in `after` / `t.after`
 * @example const child = spawnChild('redis-server', ['--port', '0']); await child.printed('Ready');
 */
export function spawnChild(command: string, args: string[], options: SpawnOptions = {}): Child {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = new EventEmitter();
  let stdout = '';
  let stderr = '';
  let closed = false;
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    output.emit('output');
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    output.emit('output');
  });
  // A command that cannot start at all (ENOENT) ends like an exit.
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
    child.once('error', () => resolve(-1));
  });
  // 'close': the process ended and all its output has been read.
  const closedPromise = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      closed = true;
      output.emit('output');
      resolve(code ?? signal ?? -1);
    });
    child.once('error', () => resolve(-1));
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  const name = `${command.split('/').pop()} ${args.join(' ')}`.slice(0, 120);
  return {
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    closed: closedPromise,
    ended: (timeoutMs = START_MS) => withDeadline(closedPromise, timeoutMs, `${name} to end`),
    running,
    printed(pattern, { timeoutMs = START_MS, from = 0, stream = 'stdout' } = {}) {
      const regex =
        typeof pattern === 'string'
          ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          : pattern;
      return waitUntil(
        `${name} to print ${regex}${stream === 'stderr' ? ' on stderr' : ''}`,
        () => {
          const found = regex.exec((stream === 'stdout' ? stdout : stderr).slice(from));
          if (found) return found;
          if (closed)
            throw new Error(
              `${name} ended (${child.exitCode ?? child.signalCode}) before printing ${regex}:\n${stderr}${stdout}`,
            );
          return undefined;
        },
        { timeoutMs, wake: [output, 'output'] },
      );
    },
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (running()) child.kill(signal);
      try {
        return await withDeadline(exited, graceMs, `${name} to exit on ${signal}`);
      } catch {
        child.kill('SIGKILL');
        return exited;
      }
    },
  };
}
