/**
 * How a subscriber receives: a long-poll per message (on a raw socket, or through
 * node:http's keep-alive agent as a stock client asks), an EventSource stream
 * (`Accept: text/event-stream`) or a WebSocket (plain: one frame per message body).
 */
export type SubscriberTransport = 'longpoll' | 'longpoll-node-http' | 'eventsource' | 'websocket';

/** Messages between the scenario runner and a load-generator process (IPC). */
export type GeneratorCommand =
  | {
      op: 'subscribe';
      port: number;
      paths: string[];
      channels: number[];
      /** Connections opened at once. @default 128 */
      concurrency?: number;
      /** @default 'longpoll' */
      transport?: SubscriberTransport;
    }
  | { op: 'stats'; expected: number[] }
  | { op: 'resetLatency' }
  | { op: 'cpu' }
  | { op: 'publishRound'; port: number; paths: string[]; seq: number }
  | {
      op: 'flood';
      port: number;
      paths: string[];
      connections: number;
      durationMs: number;
      accept: string;
      /** A new connection for every publish (`Connection: close`): connection set-up cost. */
      fresh?: boolean;
    }
  | {
      op: 'rate';
      port: number;
      paths: string[];
      rate: number;
      durationMs: number;
      connections: number;
      /** Messages already published per path (a warm-up): numbering goes on from there. */
      published?: number[];
    }
  | {
      op: 'library';
      port: number;
      publisherPrefix: string;
      /** Built `publish.js` to import; the source through tsx when absent. */
      module?: string;
      channels: string[];
      concurrency: number;
      durationMs: number;
    }
  | { op: 'nodeHttp'; port: number; paths: string[]; concurrency: number; durationMs: number }
  | { op: 'close' };

/** Delivery accounting of one generator's subscribers. */
export interface SubscriberStats {
  subscribers: number;
  histogram: { buckets: [number, number][]; max: number };
  received: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  /** Subscribers with at least one lost, duplicated or out-of-order message. */
  faulty: number;
  /** Non-200 answers other than 408, and parse failures. */
  errors: number;
  reconnects: number;
  statuses: Record<string, number>;
  /** The first few out-of-order deliveries, described. */
  faultExamples: string[];
}

/** What a publishing command reports. */
export interface PublishStats {
  count: number;
  statuses: Record<string, number>;
  errors: number;
  /** Sum of the subscriber counts the server reported in its publish answers. */
  subscribers: number;
  /** Messages published per channel (index into `paths`). */
  perChannel: number[];
  /** Most publishes waiting for a free connection at once (rate mode). */
  maxBacklog: number;
  elapsedMs: number;
}

/** Publish stats with nothing counted yet, one per-channel count for each of `paths`. */
export function publishStats(paths: readonly string[] = []): PublishStats {
  return {
    count: 0,
    statuses: {},
    errors: 0,
    subscribers: 0,
    perChannel: paths.map(() => 0),
    maxBacklog: 0,
    elapsedMs: 0,
  };
}

/** Add the answer counts of `more` (status → count) to `total`. */
export function addStatuses(total: Record<string, number>, more: Record<string, number>): void {
  for (const [status, n] of Object.entries(more)) total[status] = (total[status] ?? 0) + n;
}

/** IPC envelope: a reply to command `id`, or an event. */
export type GeneratorMessage =
  | { id: number; result?: unknown; error?: string }
  | { event: 'round'; seq: number }
  | { event: 'ready' };

/** The 100-byte message body: sequence number within its channel and the send time. */
export function messageBody(seq: number, micros: number): string {
  const core = `{"s":${seq},"t":${micros.toFixed(1)},"p":"`;
  return `${core}${'x'.repeat(Math.max(0, 100 - core.length - 2))}"}`;
}
