import { type ChildProcess, fork } from 'node:child_process';
import type { GeneratorCommand, GeneratorMessage } from './generator-protocol.js';

const GENERATOR = new URL('./generator.ts', import.meta.url).pathname;

/**
 * One load-generator process (bench/generator.ts) and the IPC calls to it.
 *
 * @example const generator = await GeneratorProcess.start(); await generator.close();
 */
export class GeneratorProcess {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  private readonly roundsDone = new Set<number>();
  private readonly roundWaiters = new Map<number, () => void>();
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (raw) => this.onMessage(raw as GeneratorMessage));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.exited.then(() => {
      for (const { reject } of this.pending.values())
        reject(new Error(`load generator ${child.pid} exited`));
      this.pending.clear();
    });
  }

  /** Fork a generator and wait until it listens for commands. @returns the process */
  static async start(): Promise<GeneratorProcess> {
    // BENCH_GENERATOR_PROFILE=DIR profiles the generators themselves (is the load cheap?).
    const profile = process.env.BENCH_GENERATOR_PROFILE;
    const execArgv = [
      '--import',
      'tsx',
      ...(profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : []),
    ];
    const child = fork(GENERATOR, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (raw: unknown) => {
        if ((raw as { event?: string }).event === 'ready') {
          child.off('message', onMessage);
          resolve();
        }
      };
      child.on('message', onMessage);
      child.once('exit', (code) => reject(new Error(`load generator exited at start (${code})`)));
    });
    return new GeneratorProcess(child);
  }

  /** The generator's pid, to read its CPU from /proc. */
  get pid(): number {
    return this.child.pid as number;
  }

  /**
   * Run one command in the generator.
   *
   * @param command what to do
   * @param timeoutMs give up after this long (a stuck server must not stall the run)
   * @returns the command's result
   */
  call<T>(command: GeneratorCommand, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load generator: ${command.op} took over ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.child.send({ id, command });
    });
  }

  /**
   * Resolve once every subscriber of this generator has received message `seq`
   * (and, since re-polling is synchronous with receiving, re-armed).
   *
   * @param seq the round's sequence number
   */
  waitRound(seq: number): Promise<void> {
    if (this.roundsDone.has(seq)) return Promise.resolve();
    return new Promise((resolve) => this.roundWaiters.set(seq, resolve));
  }

  /** Ask the generator to close its sockets and exit; kill it if it does not. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    this.call({ op: 'close' }).catch(() => {});
    await this.exited;
    clearTimeout(timer);
  }

  private onMessage(message: GeneratorMessage): void {
    if ('event' in message) {
      if (message.event === 'round') {
        this.roundsDone.add(message.seq);
        this.roundWaiters.get(message.seq)?.();
        this.roundWaiters.delete(message.seq);
      }
      return;
    }
    const waiter = this.pending.get(message.id);
    if (!waiter) return;
    this.pending.delete(message.id);
    if (message.error) waiter.reject(new Error(message.error));
    else waiter.resolve(message.result);
  }
}
