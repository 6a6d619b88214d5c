/**
 * `runpushserver --workers N`: N worker processes serving one port through Node's
 * cluster. The primary process only supervises: it forks the workers, hands out
 * connections, restarts a worker that dies, and stops them all on SIGINT / SIGTERM.
 * Each worker is a whole daemon; they share channels through a Redis store.
 *
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import type { LabelledStats } from '../protocol/stats.js';

/** The environment variable that carries a worker's number (1..N) into it. */
const WORKER_ENV = 'PUSHSERVER_WORKER';

/** The IPC message a worker sends when it cannot start (bad port, Redis unreachable). */
interface StartFailure {
  pushserver: 'failed';
  message: string;
}

/**
 * The status location's IPC: a worker asks the primary for every worker's counts
 * (`stats?`), the primary asks each worker (`stats-collect`), each answers (`stats`),
 * and the primary sends the asker them all (`stats-all`).
 */
type StatsMessage =
  | { pushserver: 'stats?' | 'stats-collect'; id: string }
  | { pushserver: 'stats'; id: string; entry: LabelledStats }
  | { pushserver: 'stats-all'; id: string; all: LabelledStats[] };

/** How long the primary waits for the workers' counts; a worker that is slower is left out. */
const STATS_GATHER_MS = 500;

/**
 * A crash loop ends the daemon: this many unexpected worker exits within `withinMs`.
 * @default 5 within 60 s
 */
export const CRASH_LIMIT = { crashes: 5, withinMs: 60_000 };

/** Pause before restarting a worker after the second crash in a row; doubles each time. */
const RESTART_PAUSE_MS = 500;

/**
 * How long the workers get to close their connections and stores on SIGINT / SIGTERM:
 * longer than a worker's own bound (`STOP_WITHIN_MS` in main.ts, 3 s), so a worker
 * finishing its publishes is not killed first.
 */
const STOP_GRACE_MS = 4000;

/**
 * This process's number among the workers of `runpushserver --workers N` (1..N, kept
 * by a worker that replaces a dead one), or undefined in a single-process daemon.
 *
 * @returns the worker number, or undefined
 * @example const prefix = workerNumber() === undefined ? '' : `w${workerNumber()} `;
 */
export function workerNumber(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const number = Number(process.env[WORKER_ENV]);
  return Number.isInteger(number) && number > 0 ? number : undefined;
}

/**
 * In a worker: tell the primary why this worker cannot start (it prints the message
 * once for all workers), then exit with status 2.
 *
 * @param message one line naming the problem and the fix
 * @returns never: the process exits
 * @example await reportStartFailure('That port is already in use (127.0.0.1:8001).');
 */
export async function reportStartFailure(message: string): Promise<never> {
  const failure: StartFailure = { pushserver: 'failed', message };
  await new Promise<void>((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(failure, undefined, {}, () => resolve());
  });
  process.exit(2);
}

/** Options of {@link superviseWorkers}. */
export interface SupervisorOptions {
  /** Number of worker processes, at least 1. */
  workers: number;
  /** The module each worker runs (the CLI's own file): it sees `workerNumber()` set. */
  exec: string;
  /** The command line the workers get (the same as the primary's). */
  args: readonly string[];
  /**
   * Called once, when every worker listens, with their pids and the port they share (the
   * one the system gave for port 0): print the banner.
   */
  onListening(pids: number[], port: number): void;
  /** Receives one line when a worker dies, is replaced, or the daemon gives up. @default stderr */
  log?: (line: string) => void;
}

/** How {@link superviseWorkers} ended. */
export interface SupervisorExit {
  /** 0 after SIGINT / SIGTERM, 2 when a worker could not start, 1 after a crash loop. */
  status: number;
  /** Why it did not stop cleanly: one line for stderr, after `Error: `. */
  error?: string;
}

/**
 * Run the workers: fork `workers` processes of `exec`, wait until all listen, replace
 * any that dies (up to {@link CRASH_LIMIT}), and stop them all on SIGINT / SIGTERM.
 * Call it at most once per process, in the primary.
 *
 * @param options workers, the module and command line they run, the banner callback
 * @returns once every worker has exited: the status the command should exit with
 * @example
 * const end = await superviseWorkers({ workers: 2, exec: cliFile, args: argv, onListening: printBanner });
 * process.exit(end.status);
 */
export function superviseWorkers(options: SupervisorOptions): Promise<SupervisorExit> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // Node 20 has no SO_REUSEPORT: either the primary accepts and hands each connection
  // to a free worker (round robin), or all workers accept on one shared socket and the
  // kernel picks (SCHED_NONE). Measured on 2 cores (`npm run bench -- --workers 2
  // --servers pushserver,pushserver-none`): on keep-alive connections both cost the same
  // (the primary: under 1 µs per delivery); a new connection costs the primary about
  // 70 µs in round robin (a connection per publish: 2,000/s vs 4,000/s). But long-polls
  // stay on the worker they land on, and round robin spreads them more evenly: 32
  // connections at once (an nginx upstream pool), six fresh daemons each, put on average
  // 55% on the busier worker with round robin (at most 59%) and 63% with the shared
  // socket (at most 75%). NODE_CLUSTER_SCHED_POLICY=none still chooses the other.
  if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = cluster.SCHED_RR;
  cluster.setupPrimary({ exec: options.exec, args: [...options.args], execArgv: workerExecArgv() });

  const slots = new Map<Worker, number>();
  const listening = new Set<Worker>();
  const crashes: number[] = [];
  let started = false;
  let stopping = false;
  let ending: SupervisorExit | undefined;
  let finish: (exit: SupervisorExit) => void = () => {};
  const done = new Promise<SupervisorExit>((resolve) => {
    finish = resolve;
  });

  const fork = (slot: number) => {
    const worker = cluster.fork({ [WORKER_ENV]: String(slot) });
    slots.set(worker, slot);
    return worker;
  };

  const stopAll = (exit: SupervisorExit) => {
    if (stopping) return;
    stopping = true;
    ending = exit;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // A terminal's Ctrl-C reaches the workers too; a second signal does no harm.
    for (const worker of slots.keys()) worker.process.kill('SIGTERM');
    // A worker stuck closing must not hold the exit.
    setTimeout(() => {
      for (const worker of slots.keys()) worker.process.kill('SIGKILL');
    }, STOP_GRACE_MS).unref();
    if (slots.size === 0) finish(exit);
  };
  const onSignal = () => stopAll({ status: 0 });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  cluster.on('message', (worker, message: StartFailure) => {
    if (message?.pushserver !== 'failed') return;
    // The same reason (port in use, Redis down) stops every worker: say it once.
    if (!started) stopAll({ status: 2, error: message.message });
    else log(`pushserver: worker ${slots.get(worker)} could not start: ${message.message}`);
  });

  /** Status requests being gathered, by id: the answers so far and who to send them to. */
  const gathering = new Map<
    string,
    { asker: Worker; entries: LabelledStats[]; expected: number; timer: NodeJS.Timeout }
  >();
  const sendGathered = (id: string) => {
    const request = gathering.get(id);
    if (!request) return;
    gathering.delete(id);
    clearTimeout(request.timer);
    const all = request.entries.sort((a, b) =>
      (a.labels.worker ?? '').localeCompare(b.labels.worker ?? '', 'en', { numeric: true }),
    );
    const answer: StatsMessage = { pushserver: 'stats-all', id, all };
    if (request.asker.isConnected()) request.asker.send(answer);
  };
  cluster.on('message', (worker, message: StatsMessage) => {
    if (message?.pushserver === 'stats?') {
      const workers = [...listening];
      const timer = setTimeout(() => sendGathered(message.id), STATS_GATHER_MS);
      gathering.set(message.id, { asker: worker, entries: [], expected: workers.length, timer });
      const collect: StatsMessage = { pushserver: 'stats-collect', id: message.id };
      for (const each of workers) if (each.isConnected()) each.send(collect);
    } else if (message?.pushserver === 'stats') {
      const request = gathering.get(message.id);
      if (!request) return;
      request.entries.push(message.entry);
      if (request.entries.length >= request.expected) sendGathered(message.id);
    }
  });

  cluster.on('listening', (worker, address) => {
    // A worker's daemon listens once; a second server of its own (e.g. an app's) is not news.
    if (listening.has(worker)) return;
    listening.add(worker);
    const slot = slots.get(worker);
    if (started) {
      log(`pushserver: worker ${slot} is back (pid ${worker.process.pid})`);
    } else if (listening.size === options.workers) {
      started = true;
      // Workers share one listening socket: port 0 gives them all the same port.
      options.onListening(
        [...slots.keys()].map((w) => w.process.pid as number),
        address.port,
      );
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.get(worker) as number;
    slots.delete(worker);
    listening.delete(worker);
    if (stopping) {
      if (slots.size === 0) finish(ending as SupervisorExit);
      return;
    }
    if (code === 0 && !signal) {
      // Stopped cleanly (a SIGTERM to this worker: a rolling restart), not a crash: its
      // subscribers were told to come back, and a new worker takes its place at once.
      log(`pushserver: worker ${slot} (pid ${worker.process.pid}) stopped; starting a new one`);
      fork(slot);
      return;
    }
    const how = signal ? `signal ${signal}` : `status ${code}`;
    const now = Date.now();
    crashes.push(now);
    while (crashes[0] < now - CRASH_LIMIT.withinMs) crashes.shift();
    if (crashes.length >= CRASH_LIMIT.crashes) {
      stopAll({
        status: 1,
        error: `workers died ${crashes.length} times within ${CRASH_LIMIT.withinMs / 1000} s (the last: worker ${slot}, ${how}); stopping`,
      });
      return;
    }
    // At once the first time; then a growing pause, so a worker that cannot start
    // (Redis down) does not spin before the limit ends it.
    const pause = crashes.length === 1 ? 0 : RESTART_PAUSE_MS * 2 ** (crashes.length - 2);
    log(
      `pushserver: worker ${slot} (pid ${worker.process.pid}) died (${how}); starting a new one${pause ? ` in ${pause / 1000} s` : ''}`,
    );
    setTimeout(() => {
      if (!stopping) fork(slot);
    }, pause);
  });

  for (let slot = 1; slot <= options.workers; slot++) fork(slot);
  return done;
}

/**
 * The Node options the workers run with: the primary's (e.g. `--import tsx`,
 * `--cpu-prof`), less those that name the code to run (`-e`, `--input-type`), since
 * a worker runs the CLI's file.
 */
function workerExecArgv(): string[] {
  const kept: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (['-e', '--eval', '-p', '--print'].includes(arg)) i++;
    else if (/^--(eval|print)=/.test(arg) || arg.startsWith('--input-type')) continue;
    else kept.push(arg);
  }
  return kept;
}

/**
 * In a worker: answer the primary's requests for this worker's counts, and return the
 * function the status location calls to get every worker's (through the primary).
 *
 * @param own this worker's counts, labelled with its number
 * @returns resolves with every worker's counts; rejects when the primary does not answer
 * @example createPushServer(settings, { gatherStats: workerStatsGatherer(() => ({ labels, stats: push.stats() })) });
 */
export function workerStatsGatherer(
  own: () => LabelledStats,
): (mine: LabelledStats) => Promise<LabelledStats[]> {
  const waiting = new Map<string, (all: LabelledStats[]) => void>();
  let next = 0;
  process.on('message', (message: StatsMessage) => {
    if (message?.pushserver === 'stats-collect') {
      const answer: StatsMessage = { pushserver: 'stats', id: message.id, entry: own() };
      if (process.connected) process.send?.(answer);
    } else if (message?.pushserver === 'stats-all') {
      waiting.get(message.id)?.(message.all);
      waiting.delete(message.id);
    }
  });
  return (mine) =>
    new Promise((resolve, reject) => {
      if (!process.send || !process.connected) return resolve([mine]);
      const id = `${process.pid}-${++next}`;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error("the primary did not send the workers' counts"));
      }, STATS_GATHER_MS * 2);
      waiting.set(id, (all) => {
        clearTimeout(timer);
        resolve(all);
      });
      const ask: StatsMessage = { pushserver: 'stats?', id };
      process.send(ask);
    });
}
