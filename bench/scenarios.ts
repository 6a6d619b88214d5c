import { setTimeout as sleep } from 'node:timers/promises';
import {
  addStatuses,
  type PublishStats,
  publishStats,
  type SubscriberStats,
  type SubscriberTransport,
} from './generator-protocol.js';
import { Histogram } from './histogram.js';
import { GeneratorProcess } from './pool.js';
import { cpuMicros, mainThreadWaits, pssKb, socketCount } from './proc.js';
import { channelPath, type Target } from './servers.js';

/** Figures of one scenario on one server; keys carry their unit. */
export type Metrics = Record<string, number>;

/** What a scenario reports for one server. */
export interface ScenarioResult {
  metrics: Metrics;
  /** Things a reader must know: saturation, errors, missed deliveries. */
  notes: string[];
}

/** Shared by every scenario of one run. */
export interface RunContext {
  /** Prefix of channel ids, unique per run and scenario, so buffers never mix. */
  tag: string;
  /** The built `publish.js` of the daemon's snapshot, for the `sendUpdate` figures. */
  library?: string;
}

/** One load generator per this many subscribers (20,000 open files per process at most). */
const SUBSCRIBERS_PER_GENERATOR = 5000;

async function withGenerators<T>(
  count: number,
  work: (generators: GeneratorProcess[]) => Promise<T>,
): Promise<T> {
  const generators = await Promise.all(
    Array.from({ length: count }, () => GeneratorProcess.start()),
  );
  try {
    return await work(generators);
  } finally {
    await Promise.all(generators.map((generator) => generator.close()));
  }
}

/** Wait until the server's CPU counter stops moving (parked subscribers all registered). */
async function waitQuiet(target: Target, maxMs = 5000): Promise<void> {
  const deadline = Date.now() + maxMs;
  let last = cpuMicros(target.pids());
  let stable = 0;
  while (Date.now() < deadline) {
    // /proc has no event for "idle"; its counters tick at 10 ms.
    await sleep(100);
    const now = cpuMicros(target.pids());
    stable = now === last ? stable + 1 : 0;
    if (stable >= 2) return;
    last = now;
  }
}

/** Wait for `promise` at most `ms`; true when it settled in time. The timer never outlives it. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function channelIds(context: RunContext, name: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${context.tag}-${name}-${i}`);
}

async function startSubscribers(
  target: Target,
  generators: GeneratorProcess[],
  channels: string[],
  count: number,
  concurrency?: number,
  transport?: SubscriberTransport,
): Promise<void> {
  const shares = generators.map(() => ({ paths: [] as string[], channels: [] as number[] }));
  for (let i = 0; i < count; i++) {
    const share = shares[i % generators.length];
    const channel = i % channels.length;
    share.paths.push(channelPath(target.subscriberPath, channels[channel]));
    share.channels.push(channel);
  }
  await Promise.all(
    generators.map((generator, i) =>
      generator.call({
        op: 'subscribe',
        port: target.port,
        paths: shares[i].paths,
        channels: shares[i].channels,
        concurrency,
        transport,
      }),
    ),
  );
}

interface Deliveries {
  histogram: Histogram;
  received: number;
  lost: number;
  duplicated: number;
  outOfOrder: number;
  faulty: number;
  errors: number;
  reconnects: number;
  statuses: Record<string, number>;
  faultExamples: string[];
}

async function collect(generators: GeneratorProcess[], expected: number[]): Promise<Deliveries> {
  const all = await Promise.all(
    generators.map((g) => g.call<SubscriberStats>({ op: 'stats', expected })),
  );
  const total: Deliveries = {
    histogram: new Histogram(),
    received: 0,
    lost: 0,
    duplicated: 0,
    outOfOrder: 0,
    faulty: 0,
    errors: 0,
    reconnects: 0,
    statuses: {},
    faultExamples: [],
  };
  for (const stats of all) {
    total.histogram.merge(stats.histogram);
    total.received += stats.received;
    total.lost += stats.lost;
    total.duplicated += stats.duplicated;
    total.outOfOrder += stats.outOfOrder;
    total.faulty += stats.faulty;
    total.errors += stats.errors;
    total.reconnects += stats.reconnects;
    total.faultExamples.push(...stats.faultExamples);
    addStatuses(total.statuses, stats.statuses);
  }
  return total;
}

function deliveryMetrics(deliveries: Deliveries): Metrics {
  const latency = deliveries.histogram.percentiles();
  return {
    'latency p50 ms': latency.p50,
    'latency p95 ms': latency.p95,
    'latency p99 ms': latency.p99,
    'latency max ms': latency.max,
    lost: deliveries.lost,
    duplicated: deliveries.duplicated,
    'out of order': deliveries.outOfOrder,
    'faulty subscribers': deliveries.faulty,
  };
}

function deliveryNotes(deliveries: Deliveries): string[] {
  const notes: string[] = [];
  if (deliveries.lost + deliveries.duplicated + deliveries.outOfOrder > 0) {
    notes.push(
      `DELIVERY FAULTS: ${deliveries.lost} lost, ${deliveries.duplicated} duplicated, ${deliveries.outOfOrder} out of order over ${deliveries.faulty} subscribers`,
    );
    for (const example of deliveries.faultExamples.slice(0, 3)) notes.push(`  e.g. ${example}`);
  }
  if (deliveries.errors > 0)
    notes.push(
      `${deliveries.errors} unexpected subscriber answers: ${JSON.stringify(deliveries.statuses)}`,
    );
  if (deliveries.reconnects > 0)
    notes.push(`${deliveries.reconnects} subscriber connections closed by the server and reopened`);
  return notes;
}

/** CPU of both sides over a measured stretch, and which side was the limit. */
function cpuVerdict(
  serverMicros: number,
  generatorMicros: number[],
  busyMs: number,
  operations: number,
  unit: string,
) {
  const busiest = Math.max(...generatorMicros);
  const generatorTotal = sum(generatorMicros);
  const metrics: Metrics = {
    [`server CPU µs/${unit}`]: serverMicros / operations,
    [`generator CPU µs/${unit}`]: generatorTotal / operations,
    'server CPU %': (serverMicros / 1000 / busyMs) * 100,
    'generator CPU % (busiest process)': (busiest / 1000 / busyMs) * 100,
  };
  const notes: string[] = [];
  if (busiest / 1000 / busyMs > 0.9) {
    notes.push(
      `GENERATOR SATURATED: one generator process used ${Math.round(busiest / 10 / busyMs)}% of a core; the server used ${Math.round(serverMicros / 10 / busyMs)}%`,
    );
  } else if (generatorTotal > serverMicros) {
    notes.push(
      `the generators used more CPU (${Math.round(generatorTotal / 1000)} ms) than the server (${Math.round(serverMicros / 1000)} ms)`,
    );
  }
  return { metrics, notes };
}

/** CPU so far of each process of a multi-process server, by role (see `Target.roles`). */
function roleCpu(target: Target): Map<string, number> {
  const out = new Map<string, number>();
  for (const [role, pids] of Object.entries(target.roles?.() ?? {})) {
    if (role === 'workers') for (const pid of pids) out.set(`worker ${pid}`, cpuMicros([pid]));
    else out.set(role, cpuMicros(pids));
  }
  return out;
}

/**
 * What the roles of a multi-process server used between two {@link roleCpu} readings:
 * CPU per operation of each non-worker role (redis-server, the cluster's primary, nginx's
 * master) and how evenly the workers shared the work (50% each is even for two).
 */
function roleMetrics(
  before: Map<string, number>,
  after: Map<string, number>,
  operations: number,
  unit: string,
): Metrics {
  const metrics: Metrics = {};
  const workers: number[] = [];
  for (const [key, value] of after) {
    const used = value - (before.get(key) ?? value);
    if (key.startsWith('worker ')) workers.push(used);
    else metrics[`of which ${key} CPU µs/${unit}`] = used / operations;
  }
  const total = sum(workers);
  if (workers.length > 1 && total > 0)
    metrics['busiest worker share of worker CPU %'] = (Math.max(...workers) / total) * 100;
  return metrics;
}

/** Sockets each worker of the server holds now, by pid. */
function workerSockets(target: Target): Map<number, number> {
  const counts = new Map<number, number>();
  for (const pid of target.roles?.().workers ?? []) counts.set(pid, socketCount(pid));
  return counts;
}

/** The busiest worker's share of the connections opened since `before` (50% is even for two). */
function connectionBalance(target: Target, before: Map<number, number>): Metrics {
  const opened = [...workerSockets(target)].map(([pid, n]) => n - (before.get(pid) ?? 0));
  const total = sum(opened);
  if (opened.length < 2 || total <= 0) return {};
  return { 'busiest worker share of connections %': (Math.max(...opened) / total) * 100 };
}

function generatorCpu(generators: GeneratorProcess[]): number[] {
  return generators.map((g) => cpuMicros([g.pid]));
}

/** Parameters of a fan-out run. */
export interface FanOutOptions {
  subscribers: number;
  channels: number;
  messages: number;
  /** How the subscribers receive. @default 'longpoll' */
  transport?: SubscriberTransport;
}

/**
 * Fan-out: S subscribers (long-poll, EventSource or WebSocket) on C channels; K rounds,
 * each publishing one message to every channel once every subscriber has received the
 * previous one (and, on long-poll, re-polled).
 *
 * @param target server under test
 * @param context run tag
 * @param options S, C, K
 * @returns deliveries/s over the rounds' busy time, latency, CPU per delivery, faults
 * @example await fanOut(target, context, { subscribers: 1000, channels: 10, messages: 50 })
 */
export async function fanOut(
  target: Target,
  context: RunContext,
  options: FanOutOptions,
): Promise<ScenarioResult> {
  const transport = options.transport ?? 'longpoll';
  const channels = channelIds(context, `fan-${transport}-${options.subscribers}`, options.channels);
  const generatorCount = Math.ceil(options.subscribers / SUBSCRIBERS_PER_GENERATOR);
  return withGenerators(generatorCount + 1, async (all) => {
    const [publisher, ...subscribers] = all;
    const sockets0 = workerSockets(target);
    await startSubscribers(
      target,
      subscribers,
      channels,
      options.subscribers,
      undefined,
      transport,
    );
    await waitQuiet(target);
    const balance = connectionBalance(target, sockets0);
    const paths = channels.map((id) => channelPath(target.publisherPath, id));
    const roles0 = roleCpu(target);
    const server0 = cpuMicros(target.pids());
    const waits0 = mainThreadWaits(target.pids());
    const generators0 = generatorCpu(all);
    let busyMs = 0;
    let armed = 0;
    let completed = 0;
    const notes: string[] = [];
    for (let seq = 1; seq <= options.messages; seq++) {
      const rounds = Promise.all(subscribers.map((g) => g.waitRound(seq)));
      const started = performance.now();
      const published = await publisher.call<PublishStats>({
        op: 'publishRound',
        port: target.port,
        paths,
        seq,
      });
      armed += published.subscribers;
      if (published.errors > 0)
        notes.push(`round ${seq}: publish answers ${JSON.stringify(published.statuses)}`);
      const timedOut = !(await within(rounds, 30_000));
      busyMs += performance.now() - started;
      if (timedOut) {
        notes.push(`round ${seq} was not delivered to every subscriber within 30 s; stopped`);
        break;
      }
      completed = seq;
      // The re-polls of the last few deliveries may still be on their way to the
      // server; "armed at publish" below shows how many were registered.
      await sleep(5);
    }
    const serverMicros = cpuMicros(target.pids()) - server0;
    const waits = mainThreadWaits(target.pids()) - waits0;
    const roles = roleCpu(target);
    const generatorMicros = generatorCpu(all).map((v, i) => v - generators0[i]);
    const deliveries = await collect(
      subscribers,
      channels.map(() => options.messages),
    );
    const count = Math.max(1, deliveries.received);
    const cpu = cpuVerdict(serverMicros, generatorMicros, busyMs, count, 'delivery');
    return {
      metrics: {
        'deliveries/s': deliveries.received / (busyMs / 1000),
        ...deliveryMetrics(deliveries),
        ...cpu.metrics,
        'server event-loop waits/delivery': waits / count,
        ...roleMetrics(roles0, roles, count, 'delivery'),
        ...balance,
        'armed at publish %': (armed / (options.subscribers * Math.max(1, completed))) * 100,
      },
      notes: [...notes, ...cpu.notes, ...deliveryNotes(deliveries)],
    };
  });
}

/**
 * Publish throughput with no subscribers: `connections` keep-alive connections, one
 * request in flight on each, for `durationMs`, from raw sockets or node:http's agent.
 *
 * @param target server under test
 * @param context run tag
 * @param options connections and duration
 * @returns publishes/s and CPU per publish
 * @example await publishThroughput(target, context, { connections: 64, durationMs: 10_000 })
 */
export async function publishThroughput(
  target: Target,
  context: RunContext,
  options: {
    connections: number;
    durationMs: number;
    fresh?: boolean;
    /** Raw keep-alive sockets, or node:http's agent (a stock client). @default 'raw' */
    client?: 'raw' | 'node-http';
  },
): Promise<ScenarioResult> {
  const paths = channelIds(context, options.fresh ? 'connect' : 'pub', options.connections).map(
    (id) => channelPath(target.publisherPath, id),
  );
  return withGenerators(1, async ([publisher]) => {
    await waitQuiet(target);
    const roles0 = roleCpu(target);
    const server0 = cpuMicros(target.pids());
    const waits0 = mainThreadWaits(target.pids());
    const generator0 = cpuMicros([publisher.pid]);
    const result = await publisher.call<PublishStats>(
      options.client === 'node-http'
        ? {
            op: 'nodeHttp',
            port: target.port,
            paths,
            concurrency: options.connections,
            durationMs: options.durationMs,
          }
        : {
            op: 'flood',
            port: target.port,
            paths,
            connections: options.connections,
            durationMs: options.durationMs,
            accept: 'text/plain',
            fresh: options.fresh,
          },
    );
    const serverMicros = cpuMicros(target.pids()) - server0;
    const waits = mainThreadWaits(target.pids()) - waits0;
    const roles = roleCpu(target);
    const cpu = cpuVerdict(
      serverMicros,
      [cpuMicros([publisher.pid]) - generator0],
      result.elapsedMs,
      result.count,
      'publish',
    );
    const notes = [...cpu.notes];
    if (result.errors > 0) notes.push(`publish answers: ${JSON.stringify(result.statuses)}`);
    return {
      metrics: {
        'publishes/s': result.count / (result.elapsedMs / 1000),
        ...cpu.metrics,
        'server event-loop waits/publish': waits / Math.max(1, result.count),
        ...roleMetrics(roles0, roles, Math.max(1, result.count), 'publish'),
      },
      notes,
    };
  });
}

/**
 * Wait until every subscriber has all `perChannel` messages of its channel: a message
 * still on its way is late, not lost, so wait while deliveries progress (up to 30 s)
 * and count as lost only what stopped arriving for 2 s.
 */
async function deliveredAll(
  subscribers: GeneratorProcess[],
  perChannel: number[],
  perChannelSubscribers: number,
): Promise<Deliveries> {
  const expectedTotal = sum(perChannel) * perChannelSubscribers;
  let deliveries = await collect(subscribers, perChannel);
  let stalled = 0;
  for (
    let waited = 0;
    deliveries.received < expectedTotal && stalled < 2000 && waited < 30_000;
    waited += 250
  ) {
    await sleep(250);
    const previous = deliveries.received;
    deliveries = await collect(subscribers, perChannel);
    stalled = deliveries.received === previous ? stalled + 250 : 0;
  }
  return deliveries;
}

function sum(values: number[]): number {
  return values.reduce((total, n) => total + n, 0);
}

/** Parameters of a steady-state run. */
export interface SteadyOptions {
  subscribers: number;
  channels: number;
  rate: number;
  durationMs: number;
  /** Publishing at the same rate before measuring. @default 2000 */
  warmUpMs?: number;
}

/**
 * Steady state: a fixed publish rate, round-robin over C channels, to S subscribers,
 * for a fixed time; subscribers pick up what was published between their polls.
 * Measured after a warm-up at the same rate (its messages are delivered and counted
 * for loss, not for latency or CPU): a daemon runs for days, and what a JIT runtime
 * does in its first second (compiling the hot paths, growing its heap) is start-up,
 * not steady state.
 *
 * @param target server under test
 * @param context run tag
 * @param options S, C, rate, duration
 * @returns latency percentiles, server memory (PSS), faults
 * @example await steadyState(target, context, { subscribers: 2000, channels: 200, rate: 1000, durationMs: 20_000 })
 */
export async function steadyState(
  target: Target,
  context: RunContext,
  options: SteadyOptions,
): Promise<ScenarioResult> {
  const channels = channelIds(context, `steady${options.rate}`, options.channels);
  const paths = channels.map((id) => channelPath(target.publisherPath, id));
  const generatorCount = Math.ceil(options.subscribers / SUBSCRIBERS_PER_GENERATOR);
  return withGenerators(generatorCount + 1, async (all) => {
    const [publisher, ...subscribers] = all;
    await startSubscribers(target, subscribers, channels, options.subscribers);
    await waitQuiet(target);
    const perChannelSubscribers = options.subscribers / options.channels;
    const warmUpMs = options.warmUpMs ?? 2000;
    const warmUp = await publisher.call<PublishStats>(
      {
        op: 'rate',
        port: target.port,
        paths,
        rate: options.rate,
        durationMs: warmUpMs,
        connections: 64,
      },
      warmUpMs + 60_000,
    );
    const warmUpDeliveries = await deliveredAll(
      subscribers,
      warmUp.perChannel,
      perChannelSubscribers,
    );
    await Promise.all(subscribers.map((g) => g.call({ op: 'resetLatency' })));
    const roles0 = roleCpu(target);
    const server0 = cpuMicros(target.pids());
    const waits0 = mainThreadWaits(target.pids());
    const generators0 = generatorCpu(all);
    let peakPss = pssKb(target.pids());
    const sampler = setInterval(() => {
      peakPss = Math.max(peakPss, pssKb(target.pids()));
    }, 1000);
    let published: PublishStats;
    try {
      published = await publisher.call<PublishStats>(
        {
          op: 'rate',
          port: target.port,
          paths,
          rate: options.rate,
          durationMs: options.durationMs,
          connections: 64,
          published: warmUp.perChannel,
        },
        options.durationMs + 60_000,
      );
    } finally {
      clearInterval(sampler);
    }
    const lateAtEnd =
      sum(published.perChannel) * perChannelSubscribers -
      ((await collect(subscribers, [])).received - warmUpDeliveries.received);
    // Let the last messages reach everyone before counting what was lost.
    const total = published.perChannel.map((n, i) => n + warmUp.perChannel[i]);
    const deliveries = await deliveredAll(subscribers, total, perChannelSubscribers);
    // Latency and CPU are of the measured part only.
    deliveries.received -= warmUpDeliveries.received;
    const endPss = pssKb(target.pids());
    const elapsedMs = published.elapsedMs;
    const serverMicros = cpuMicros(target.pids()) - server0;
    const waits = mainThreadWaits(target.pids()) - waits0;
    const roles = roleCpu(target);
    const generatorMicros = generatorCpu(all).map((v, i) => v - generators0[i]);
    const cpu = cpuVerdict(
      serverMicros,
      generatorMicros,
      elapsedMs,
      Math.max(1, deliveries.received),
      'delivery',
    );
    const notes = [...cpu.notes, ...deliveryNotes(deliveries)];
    const achieved = published.count / (elapsedMs / 1000);
    if (lateAtEnd > 0)
      notes.push(`${lateAtEnd} deliveries were still on their way when publishing stopped`);
    if (achieved < options.rate * 0.95)
      notes.push(`publisher reached only ${Math.round(achieved)} of ${options.rate} msgs/s`);
    if (published.errors > 0) notes.push(`publish answers: ${JSON.stringify(published.statuses)}`);
    return {
      metrics: {
        'publishes/s achieved': achieved,
        ...deliveryMetrics(deliveries),
        'server PSS MB (end)': endPss / 1024,
        'server PSS MB (peak)': Math.max(peakPss, endPss) / 1024,
        ...cpu.metrics,
        'server event-loop waits/delivery': waits / Math.max(1, deliveries.received),
        ...roleMetrics(roles0, roles, Math.max(1, deliveries.received), 'delivery'),
      },
      notes,
    };
  });
}

/**
 * Idle memory: server PSS before and after S subscribers (long-polls, or streams when
 * `transport` says so) connect to S/10 channels.
 * Kernel socket buffers are not in PSS on either side.
 *
 * @param target server under test (fresh: nothing else connected)
 * @param context run tag
 * @param options S
 * @returns KB of PSS per waiting subscriber; then one message to each channel checks they were all waiting
 * @example await idleMemory(target, context, { subscribers: 5000 })
 */
export async function idleMemory(
  target: Target,
  context: RunContext,
  options: { subscribers: number; transport?: SubscriberTransport },
): Promise<ScenarioResult> {
  const channels = channelIds(
    context,
    `idle-${options.transport ?? 'longpoll'}`,
    Math.max(1, Math.floor(options.subscribers / 10)),
  );
  const generatorCount = Math.ceil(options.subscribers / SUBSCRIBERS_PER_GENERATOR);
  return withGenerators(generatorCount + 1, async (all) => {
    const [publisher, ...subscribers] = all;
    await waitQuiet(target);
    const before = pssKb(target.pids());
    await startSubscribers(
      target,
      subscribers,
      channels,
      options.subscribers,
      undefined,
      options.transport,
    );
    await waitQuiet(target);
    const after = pssKb(target.pids());
    const paths = channels.map((id) => channelPath(target.publisherPath, id));
    const rounds = Promise.all(subscribers.map((g) => g.waitRound(1)));
    const published = await publisher.call<PublishStats>({
      op: 'publishRound',
      port: target.port,
      paths,
      seq: 1,
    });
    await within(rounds, 30_000);
    const deliveries = await collect(
      subscribers,
      channels.map(() => 1),
    );
    const notes = deliveryNotes(deliveries);
    if (published.subscribers !== options.subscribers) {
      notes.push(
        `the server reported ${published.subscribers} of ${options.subscribers} subscribers waiting when measured`,
      );
    }
    return {
      metrics: {
        'PSS KB/subscriber': (after - before) / options.subscribers,
        'server PSS MB (idle, no subscribers)': before / 1024,
        'server PSS MB (with subscribers)': after / 1024,
        lost: deliveries.lost,
      },
      notes,
    };
  });
}

/**
 * `sendUpdate` throughput: publishes/s through `createPublisher` (library defaults, 64
 * calls in flight) and through the raw keep-alive client (64 connections), same
 * endpoint, same 100-byte body, same Accept header.
 *
 * @param target server under test
 * @param context run tag
 * @param options duration of each half
 * @returns both rates and their ratio
 * @example await sendUpdateThroughput(target, context, { durationMs: 5000 })
 */
export async function sendUpdateThroughput(
  target: Target,
  context: RunContext,
  options: { durationMs: number },
): Promise<ScenarioResult> {
  const ids = channelIds(context, 'lib', 64);
  const paths = ids.map((id) => channelPath(target.publisherPath, id));
  const publisherPrefix = target.publisherPath.replace('{channel}', '');
  return withGenerators(1, async ([client]) => {
    await waitQuiet(target);
    const flood = (durationMs: number) =>
      client.call<PublishStats>({
        op: 'flood',
        port: target.port,
        paths,
        connections: 64,
        durationMs,
        accept: 'application/json',
      });
    const throughLibrary = (durationMs: number) =>
      client.call<PublishStats>({
        op: 'library',
        port: target.port,
        publisherPrefix,
        module: context.library,
        channels: ids,
        concurrency: 64,
        durationMs,
      });
    // A discarded warm-up, so that neither client meets a cold server; then the two
    // clients take turns (order flipped each round), so that other load on the machine
    // weighs on both alike.
    await flood(Math.min(1000, options.durationMs / 5));
    const rounds = 5;
    const phaseMs = options.durationMs / rounds;
    const raw = publishStats();
    const library = publishStats();
    let rawCpu = 0;
    let libraryCpu = 0;
    for (let round = 0; round < rounds; round++) {
      for (const which of round % 2 === 0 ? ['raw', 'library'] : ['library', 'raw']) {
        const before = cpuMicros([client.pid]);
        const stats = await (which === 'raw' ? flood(phaseMs) : throughLibrary(phaseMs));
        const used = cpuMicros([client.pid]) - before;
        if (which === 'raw') rawCpu += used;
        else libraryCpu += used;
        addStats(which === 'raw' ? raw : library, stats);
      }
    }
    const cpu2 = cpuMicros([client.pid]);
    const bare = await client.call<PublishStats>({
      op: 'nodeHttp',
      port: target.port,
      paths,
      concurrency: 64,
      durationMs: options.durationMs,
    });
    const cpu3 = cpuMicros([client.pid]);
    const rawRate = raw.count / (raw.elapsedMs / 1000);
    const libraryRate = library.count / (library.elapsedMs / 1000);
    const bareRate = bare.count / (bare.elapsedMs / 1000);
    const notes: string[] = [];
    if (raw.errors + library.errors + bare.errors > 0) {
      notes.push(
        `publish answers: raw ${JSON.stringify(raw.statuses)}, sendUpdate ${JSON.stringify(library.statuses)}, node:http ${JSON.stringify(bare.statuses)}`,
      );
    }
    return {
      metrics: {
        'raw client publishes/s': rawRate,
        'sendUpdate publishes/s': libraryRate,
        'sendUpdate / raw %': (libraryRate / rawRate) * 100,
        'bare node:http agent publishes/s': bareRate,
        'sendUpdate / node:http %': (libraryRate / bareRate) * 100,
        'raw client CPU µs/publish': rawCpu / raw.count,
        'sendUpdate CPU µs/publish': libraryCpu / library.count,
        'node:http CPU µs/publish': (cpu3 - cpu2) / bare.count,
      },
      notes,
    };
  });
}

/** Add one phase's publish counts, answers and time to a running total. */
function addStats(total: PublishStats, phase: PublishStats): void {
  total.count += phase.count;
  total.errors += phase.errors;
  total.elapsedMs += phase.elapsedMs;
  addStatuses(total.statuses, phase.statuses);
}

/**
 * How evenly a server of several processes spreads long-poll connections that arrive
 * one after another (as browsers reconnecting after a restart): S polls, each opened
 * once the previous one is connected, then the busiest worker's share of them.
 *
 * @param target server under test (with `roles().workers`)
 * @param context run tag
 * @param options S
 * @returns the busiest worker's share of the connections (50% is even for two workers)
 * @example await connectionSpread(target, context, { subscribers: 1000 })
 */
export async function connectionSpread(
  target: Target,
  context: RunContext,
  options: { subscribers: number },
): Promise<ScenarioResult> {
  const channels = channelIds(context, 'spread', Math.max(1, options.subscribers / 10));
  return withGenerators(1, async ([generator]) => {
    await waitQuiet(target);
    const sockets0 = workerSockets(target);
    const started = performance.now();
    await startSubscribers(target, [generator], channels, options.subscribers, 1);
    const elapsedMs = performance.now() - started;
    await waitQuiet(target);
    return {
      metrics: {
        'connections/s (one at a time)': options.subscribers / (elapsedMs / 1000),
        ...connectionBalance(target, sockets0),
      },
      notes: [],
    };
  });
}
