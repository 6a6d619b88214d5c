/**
 * The status location: the daemon's counts in Nchan's `nchan_stub_status` text, or in
 * the Prometheus text format when the request asks for it. Like Nchan's status location
 * in ../shared/nchan/nginx.conf, only the addresses that may publish may read it.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import {
  type LabelledStats,
  PROMETHEUS_CONTENT_TYPE,
  prometheusText,
  type StatsSnapshot,
  stubStatusText,
  sumStats,
  wantsPrometheus,
} from '../protocol/stats.js';
import type { Store } from '../store/types.js';
import { type ErrorLog, internalError, type Reply, sendText } from '../transport/reply.js';
import { mayPublishFrom, type PublishCounters } from './publisher.js';

/** The status location's path, in the daemon and in `runpushserver nginx-config`'s output (as ../shared/nchan). */
export const STATUS_PATH = '/nchan_status';

/** What the status location reads. */
export interface StatusContext {
  stores: Record<string, Store>;
  counters: PublishCounters;
  /** Subscribers waiting now. */
  subscribers: () => number;
  /** Whether a client address may read it (`publisherAllow`). */
  mayRead: (address: string | undefined) => boolean;
  /** Labels of every Prometheus sample, e.g. `{worker: '2'}`. */
  labels: Record<string, string>;
  /**
   * The counts of every process serving the port (`--workers`): the stub status adds
   * them up, Prometheus gets a sample per process. @default this process only
   */
  gather?: (own: LabelledStats) => Promise<LabelledStats[]>;
  /** Where a bug's line goes. @default console.error */
  errorLog?: ErrorLog;
}

/**
 * The counts of a daemon right now.
 *
 * @param context the daemon's stores, counters and waiting subscribers
 * @returns the snapshot both formats are written from
 * @example stubStatusText(collectStats(context))
 */
export function collectStats(context: Omit<StatusContext, 'mayRead' | 'labels'>): StatsSnapshot {
  const snapshot: StatsSnapshot = {
    published: context.counters.published,
    storedMessages: 0,
    storedBytes: 0,
    memoryLimitBytes: getHeapStatistics().heap_size_limit,
    channels: 0,
    subscribers: context.subscribers(),
    redisPending: 0,
    redisConnected: 0,
    redisUnhealthy: 0,
    redisCommands: 0,
  };
  for (const store of Object.values(context.stores)) {
    const stats = store.stats?.();
    if (!stats) continue;
    snapshot.storedMessages += stats.messages;
    snapshot.storedBytes += stats.bytes;
    snapshot.channels += stats.channels;
    if (!stats.redis) continue;
    snapshot.redisPending += stats.redis.pending;
    snapshot.redisCommands += stats.redis.sent;
    if (stats.redis.connected) snapshot.redisConnected++;
    else snapshot.redisUnhealthy++;
  }
  return snapshot;
}

/** The status location at {@link STATUS_PATH}. */
export class StatusLocation {
  constructor(private readonly context: StatusContext) {}

  /**
   * Answer one request: any method gets the counts (as Nchan's), 403 for an address
   * outside `publisherAllow`.
   *
   * @param req the request (its socket's address, query and Accept header)
   * @param reply its answer
   */
  handle(req: IncomingMessage, reply: Reply): void {
    if (!mayPublishFrom(req.socket, this.context.mayRead)) {
      sendText(reply, 403, 'the status location is for the addresses in publisherAllow');
      return;
    }
    const url = req.url ?? '';
    const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
    const prometheus = wantsPrometheus(query, req.headers.accept);
    const own = { labels: this.context.labels, stats: collectStats(this.context) };
    const answer = (processes: LabelledStats[]) => {
      if (prometheus) {
        reply.send(200, ['Content-Type', PROMETHEUS_CONTENT_TYPE], prometheusText(processes));
      } else {
        const total = sumStats(processes.map((process) => process.stats));
        reply.send(200, ['Content-Type', 'text/plain'], stubStatusText(total));
      }
    };
    if (this.context.gather) {
      // Another worker that does not answer leaves its counts out, never the answer.
      this.context
        .gather(own)
        .then(answer, () => answer([own]))
        .catch((error) => internalError(reply, error, this.context.errorLog));
    } else {
      answer([own]);
    }
  }
}
