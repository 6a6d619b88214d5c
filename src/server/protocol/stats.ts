/**
 * The status location's two formats, without I/O: Nchan's `nchan_stub_status` text
 * (the same lines in the same order, so a tool written for Nchan reads the daemon) and
 * the Prometheus text format, chosen by the request.
 *
 * @module
 */

/** The counts the status location reports, as Nchan's `nchan_stub_status` names them. */
export interface StatsSnapshot {
  /** Messages published through this daemon since it started. */
  published: number;
  /** Messages buffered in this process. */
  storedMessages: number;
  /** Bytes of the message bodies buffered in this process (Nchan: shared memory used). */
  storedBytes: number;
  /** The most this process can hold: V8's heap limit (Nchan: its shared memory size). */
  memoryLimitBytes: number;
  /** Channels this process holds. */
  channels: number;
  /** Subscribers waiting in this process (one per channel of a multiplexed or streaming subscriber). */
  subscribers: number;
  /** Redis commands awaiting an answer. */
  redisPending: number;
  /** Redis stores connected. */
  redisConnected: number;
  /** Redis stores not connected (an outage). */
  redisUnhealthy: number;
  /** Redis commands sent since start. */
  redisCommands: number;
}

/** The Nchan version whose protocol (and status text) the daemon follows. */
export const NCHAN_VERSION = '1.3.6';

/**
 * Nchan's `nchan_stub_status` text for `stats`. The interprocess lines are Nchan's
 * messages between nginx workers; the daemon's workers share nothing but Redis, so 0.
 *
 * @param stats the counts
 * @returns the body, one `name: value` line each, as Nchan 1.3.6 writes it
 * @example stubStatusText(stats).split('\n')[0] // 'total published messages: 54'
 */
export function stubStatusText(stats: StatsSnapshot): string {
  const kib = (bytes: number) => `${Math.floor(bytes / 1024)}K`;
  return [
    `total published messages: ${stats.published}`,
    `stored messages: ${stats.storedMessages}`,
    `shared memory used: ${kib(stats.storedBytes)}`,
    `shared memory limit: ${kib(stats.memoryLimitBytes)}`,
    `channels: ${stats.channels}`,
    `subscribers: ${stats.subscribers}`,
    `redis pending commands: ${stats.redisPending}`,
    `redis connected servers: ${stats.redisConnected}`,
    `redis unhealthy upstreams: ${stats.redisUnhealthy}`,
    `total redis commands sent: ${stats.redisCommands}`,
    'total interprocess alerts received: 0',
    'interprocess alerts in transit: 0',
    'interprocess queued alerts: 0',
    'total interprocess send delay: 0',
    'total interprocess receive delay: 0',
    `nchan version: ${NCHAN_VERSION}`,
    '',
  ].join('\n');
}

/** The Prometheus text format's content type (version 0.0.4, which every scraper reads). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRICS: Array<{
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  value: (stats: StatsSnapshot) => number;
}> = [
  {
    name: 'pushserver_published_messages_total',
    type: 'counter',
    help: 'Messages published through this process since it started.',
    value: (s) => s.published,
  },
  {
    name: 'pushserver_stored_messages',
    type: 'gauge',
    help: 'Messages buffered in this process.',
    value: (s) => s.storedMessages,
  },
  {
    name: 'pushserver_stored_bytes',
    type: 'gauge',
    help: 'Bytes of message bodies buffered in this process.',
    value: (s) => s.storedBytes,
  },
  {
    name: 'pushserver_channels',
    type: 'gauge',
    help: 'Channels held in this process.',
    value: (s) => s.channels,
  },
  {
    name: 'pushserver_subscribers',
    type: 'gauge',
    help: 'Subscribers waiting in this process, one per channel of each connection.',
    value: (s) => s.subscribers,
  },
  {
    name: 'pushserver_redis_pending_commands',
    type: 'gauge',
    help: 'Redis commands awaiting an answer.',
    value: (s) => s.redisPending,
  },
  {
    name: 'pushserver_redis_connected_servers',
    type: 'gauge',
    help: 'Redis stores connected.',
    value: (s) => s.redisConnected,
  },
  {
    name: 'pushserver_redis_unhealthy_servers',
    type: 'gauge',
    help: 'Redis stores not connected (an outage).',
    value: (s) => s.redisUnhealthy,
  },
  {
    name: 'pushserver_redis_commands_sent_total',
    type: 'counter',
    help: 'Redis commands sent since this process started.',
    value: (s) => s.redisCommands,
  },
];

/** One process's counts and the labels that tell it apart (`{worker: '2'}`). */
export interface LabelledStats {
  labels: Record<string, string>;
  stats: StatsSnapshot;
}

/**
 * The Prometheus text format (0.0.4): each metric with `# HELP` and `# TYPE`, then one
 * sample per process.
 *
 * @param processes the counts of each process (one without `--workers`)
 * @returns the body
 * @example prometheusText([{ labels: { worker: '1' }, stats }]).includes('pushserver_subscribers{worker="1"}') // true
 */
export function prometheusText(processes: readonly LabelledStats[]): string {
  const lines: string[] = [];
  for (const metric of METRICS) {
    lines.push(`# HELP ${metric.name} ${metric.help}`);
    lines.push(`# TYPE ${metric.name} ${metric.type}`);
    for (const { labels, stats } of processes) {
      lines.push(`${metric.name}${labelText(labels)} ${metric.value(stats)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The counts of several processes as one server's, as Nchan's status adds up its
 * workers: every count summed, the memory limit being each process's own.
 *
 * @param processes the counts of each process (at least one)
 * @returns their sum
 * @example sumStats([a, b]).subscribers === a.subscribers + b.subscribers // true
 */
export function sumStats(processes: readonly StatsSnapshot[]): StatsSnapshot {
  const [first, ...rest] = processes;
  const total = { ...first };
  for (const stats of rest) {
    for (const key of Object.keys(total) as Array<keyof StatsSnapshot>) {
      if (key !== 'memoryLimitBytes') total[key] += stats[key];
    }
  }
  return total;
}

function labelText(labels: Record<string, string>): string {
  const names = Object.entries(labels);
  if (names.length === 0) return '';
  return `{${names.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(',')}}`;
}

/**
 * Whether a status request asks for Prometheus text: `?format=prometheus`, or an
 * Accept header as Prometheus scrapers send it (`text/plain;version=0.0.4` or
 * `application/openmetrics-text`). Anything else gets Nchan's text.
 *
 * @param query the request's query string (without `?`)
 * @param accept the Accept header
 * @example wantsPrometheus('', 'text/plain;version=0.0.4;q=0.4,*\/*;q=0.1') // true
 */
export function wantsPrometheus(query: string, accept: string | undefined): boolean {
  if (new URLSearchParams(query).get('format') === 'prometheus') return true;
  return !!accept && /version=0\.0\.4|application\/openmetrics-text/i.test(accept);
}

function escapeLabel(value: string): string {
  return value.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n');
}
