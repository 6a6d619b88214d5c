// `npm run bench [-- --quick] [--only fanout,es-fanout,ws-fanout,publish,steady,idle,es-idle,sendupdate]
//   [--servers pushserver,nchan | node-floor,nchan]
//   [--target NAME=PUBLISHER_URL_TEMPLATE,SUBSCRIBER_URL_TEMPLATE,PID] [--profile] [--workers N]
//   [--node-args="NODE FLAGS FOR THE DAEMON"]`
//
// Starts pushserver and Nchan itself (or measures a server you started, through URL
// templates with `{channel}`), alternates them scenario by scenario on fresh servers,
// prints a table with the ratio of the first server to the second, and writes the
// figures to bench/results/<timestamp>.json.
//
// `--servers node-floor,nchan --only fanout,publish` measures bench/node-floor.mjs, the
// least a Node server on public APIs does for the long-poll exchange, against Nchan:
// the share of a gap that is Node's own, whatever the daemon does.
//
// `--workers N` (opt-in, about 1.5 min; with --quick about 40 s) measures both cores instead:
// `runpushserver --workers N` with a Redis store (a redis-server started for each run,
// its CPU and memory counted as the server's) against nginx with N worker processes
// (Nchan's channels are in shared memory). `--servers pushserver,pushserver-none`
// compares the cluster's two connection scheduling policies instead.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { machine } from './proc.js';
import { topFunctions } from './profile-top.js';
import { markdown, ratios, type ScenarioReport, table } from './report.js';
import {
  connectionSpread,
  fanOut,
  idleMemory,
  publishThroughput,
  type RunContext,
  type ScenarioResult,
  sendUpdateThroughput,
  steadyState,
} from './scenarios.js';
import {
  externalTarget,
  snapshotDaemon,
  startNchanTarget,
  startNodeFloorTarget,
  startPushserverTarget,
  type Target,
} from './servers.js';

interface Scenario {
  name: string;
  kind:
    | 'fanout'
    | 'es-fanout'
    | 'ws-fanout'
    | 'publish'
    | 'connect'
    | 'spread'
    | 'steady'
    | 'idle'
    | 'es-idle'
    | 'sendupdate';
  description: string;
  run: (target: Target, context: RunContext) => Promise<ScenarioResult>;
}

function plan(quick: boolean): Scenario[] {
  // c: channels (100 subscribers each unless given). Few subscribers per channel (a
  // chat room, a user's own channel) is how most apps use a push server.
  const fanouts = quick
    ? [
        { s: 1000, c: 10, k: 20 },
        { s: 1000, c: 100, k: 20 },
      ]
    : [
        { s: 1000, c: 10, k: 100 },
        { s: 5000, c: 50, k: 40 },
        { s: 10000, c: 100, k: 25 },
        { s: 1000, c: 100, k: 100 },
        { s: 5000, c: 100, k: 40 },
      ];
  const steady = quick
    ? [{ s: 1000, c: 100, rate: 1000, ms: 2000 }]
    : [
        { s: 2000, c: 200, rate: 1000, ms: 20_000 },
        // 4,000 msgs/s to 10 subscribers each would be 40,000 deliveries/s: more
        // than two cores can both generate and serve. Two per channel: 8,000/s.
        { s: 2000, c: 1000, rate: 4000, ms: 20_000 },
      ];
  const idle = quick ? 1000 : 5000;
  const streamFanouts = quick
    ? [{ s: 1000, k: 20 }]
    : [
        { s: 1000, k: 100 },
        { s: 10000, k: 25 },
      ];
  const streams = [
    { prefix: 'es', transport: 'eventsource', label: 'EventSource' },
    { prefix: 'ws', transport: 'websocket', label: 'WebSocket (plain)' },
  ] as const;
  return [
    ...fanouts.map(({ s, c: channels, k }): Scenario => {
      return {
        name: channels === s / 100 ? `fanout-${s}` : `fanout-${s}-on-${channels}`,
        kind: 'fanout',
        description: `${s} long-poll subscribers on ${channels} channels, ${k} messages per channel, each published once all have re-polled`,
        run: (target, context) =>
          fanOut(target, context, { subscribers: s, channels, messages: k }),
      };
    }),
    {
      // The same exchange from stock clients (node:http's agent): slower clients, whose
      // requests reach the server one by one, as browsers' do across a network.
      name: 'fanout-1000-on-100-node-http',
      kind: 'fanout',
      description: `1000 long-poll subscribers through node:http keep-alive agents on 100 channels, ${quick ? 20 : 100} messages per channel: the server wakes for nearly every request`,
      run: (target, context) =>
        fanOut(target, context, {
          subscribers: 1000,
          channels: 100,
          messages: quick ? 20 : 100,
          transport: 'longpoll-node-http',
        }),
    },
    ...streams.flatMap(({ prefix, transport, label }) =>
      streamFanouts.map(
        ({ s, k }): Scenario => ({
          name: `${prefix}-fanout-${s}`,
          kind: `${prefix}-fanout`,
          description: `${s} ${label} subscribers on ${s / 100} channels, ${k} messages per channel, each published once all have received the previous one`,
          run: (target, context) =>
            fanOut(target, context, { subscribers: s, channels: s / 100, messages: k, transport }),
        }),
      ),
    ),
    {
      name: 'publish',
      kind: 'publish',
      description: `publishes with no subscribers, 64 keep-alive connections, ${quick ? 1.5 : 10} s`,
      run: (target, context) =>
        publishThroughput(target, context, { connections: 64, durationMs: quick ? 1500 : 10_000 }),
    },
    {
      name: 'publish-node-http',
      kind: 'publish',
      description: `publishes with no subscribers through a node:http keep-alive agent, 64 in flight, ${quick ? 1.5 : 10} s`,
      run: (target, context) =>
        publishThroughput(target, context, {
          connections: 64,
          durationMs: quick ? 1500 : 10_000,
          client: 'node-http',
        }),
    },
    ...steady.map(
      ({ s, c, rate, ms }): Scenario => ({
        name: `steady-${rate}`,
        kind: 'steady',
        description: `${rate} msgs/s round-robin over ${c} channels to ${s} subscribers for ${ms / 1000} s, after a warm-up at that rate`,
        run: (target, context) =>
          steadyState(target, context, {
            subscribers: s,
            channels: c,
            rate,
            durationMs: ms,
            warmUpMs: quick ? 500 : 2000,
          }),
      }),
    ),
    {
      name: `idle-${idle}`,
      kind: 'idle',
      description: `PSS of the server before and after ${idle} long-polls park on ${idle / 10} channels`,
      run: (target, context) => idleMemory(target, context, { subscribers: idle }),
    },
    {
      name: `es-idle-${idle}`,
      kind: 'es-idle',
      description: `PSS of the server before and after ${idle} EventSource subscribers connect to ${idle / 10} channels`,
      run: (target, context) =>
        idleMemory(target, context, { subscribers: idle, transport: 'eventsource' }),
    },
    {
      name: 'sendupdate',
      kind: 'sendupdate',
      description: `sendUpdate (createPublisher defaults, 64 in flight) vs a raw keep-alive client (64 connections), ${quick ? 1 : 5} s each`,
      run: (target, context) =>
        sendUpdateThroughput(target, context, { durationMs: quick ? 1000 : 5000 }),
    },
  ];
}

/** `--workers`: the scenarios where several processes matter, smaller than the main run. */
function workersPlan(quick: boolean): Scenario[] {
  const fanouts = quick
    ? [{ s: 1000, k: 10 }]
    : [
        { s: 1000, k: 50 },
        { s: 5000, k: 20 },
      ];
  const seconds = quick ? 1.5 : 8;
  const scenarios: Scenario[] = [
    ...fanouts.map(
      ({ s, k }): Scenario => ({
        name: `fanout-${s}`,
        kind: 'fanout',
        description: `${s} long-poll subscribers on ${s / 100} channels, ${k} messages per channel, each published once all have re-polled`,
        run: (target, context) =>
          fanOut(target, context, { subscribers: s, channels: s / 100, messages: k }),
      }),
    ),
    {
      name: 'publish',
      kind: 'publish',
      description: `publishes with no subscribers, 64 keep-alive connections, ${seconds} s`,
      run: (target, context) =>
        publishThroughput(target, context, { connections: 64, durationMs: seconds * 1000 }),
    },
    {
      name: 'connect',
      kind: 'connect',
      description: `publishes on a new connection each (Connection: close), 16 at a time, ${seconds} s: what handing out connections costs`,
      run: (target, context) =>
        publishThroughput(target, context, {
          connections: 16,
          durationMs: seconds * 1000,
          fresh: true,
        }),
    },
  ];
  scenarios.push({
    name: 'spread',
    kind: 'spread',
    description: `${quick ? 500 : 2000} long-polls connecting one after another (browsers reconnecting after a restart): how evenly they land on the workers`,
    run: (target, context) =>
      connectionSpread(target, context, { subscribers: quick ? 500 : 2000 }),
  });
  if (!quick) {
    scenarios.push({
      name: 'steady-4000',
      kind: 'steady',
      description: '4000 msgs/s round-robin over 1000 channels to 2000 subscribers for 15 s',
      run: (target, context) =>
        steadyState(target, context, {
          subscribers: 2000,
          channels: 1000,
          rate: 4000,
          durationMs: 15_000,
        }),
    });
  }
  return scenarios;
}

type Starter = {
  name: string;
  start: (cpuProfileDir?: string) => Promise<Target>;
  /** Started by the user: not fresh for each scenario. */
  external?: boolean;
};

function starters(
  names: string[],
  external: string[],
  cli: string | undefined,
  workers: number,
  nodeArgs: string[],
): Starter[] {
  const list: Starter[] = [];
  for (const name of names) {
    if ((name === 'pushserver' || name === 'pushserver-none') && cli) {
      const frozen = cli;
      const schedulingPolicy = name === 'pushserver-none' ? 'none' : 'rr';
      if (schedulingPolicy === 'none' && workers < 2)
        throw new Error('--servers pushserver-none: give --workers 2 (a cluster policy)');
      list.push({
        name,
        start: (cpuProfileDir) =>
          startPushserverTarget({
            cli: frozen,
            cpuProfileDir,
            workers,
            schedulingPolicy,
            name,
            nodeArgs,
          }),
      });
    } else if (name === 'nchan') {
      list.push({ name, start: () => startNchanTarget(workers) });
    } else if (name === 'node-floor') {
      list.push({ name, start: () => startNodeFloorTarget() });
    } else {
      throw new Error(
        `--servers: unknown server "${name}"; use pushserver, nchan, node-floor, pushserver-none (with --workers), or --target for another one`,
      );
    }
  }
  for (const spec of external) {
    const match = /^([^=]+)=([^,]+),([^,]+),(\d+)$/.exec(spec);
    if (!match)
      throw new Error(
        `--target "${spec}": use NAME=PUBLISHER_URL_TEMPLATE,SUBSCRIBER_URL_TEMPLATE,PID`,
      );
    const target = externalTarget(match[1], match[2], match[3], Number(match[4]));
    list.push({ name: target.name, start: async () => target, external: true });
  }
  return list;
}

/** The server of the scenario in progress, stopped on Ctrl-C / SIGTERM. */
let running: Target | undefined;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // Generators exit by themselves when the IPC channel closes; servers need stopping.
    const stopping = running?.stop() ?? Promise.resolve();
    stopping.finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      servers: { type: 'string', default: 'pushserver,nchan' },
      target: { type: 'string', multiple: true, default: [] },
      profile: { type: 'boolean', default: false },
      workers: { type: 'string', default: '1' },
      'node-args': { type: 'string', default: '' },
    },
  });
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1)
    throw new Error(`--workers "${values.workers}": give a number of processes, e.g. --workers 2`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = new URL('./results/', import.meta.url).pathname;
  const profileRoot = values.profile ? join(resultsDir, 'profiles', stamp) : undefined;
  const only = values.only?.split(',');
  const scenarios = (workers > 1 ? workersPlan(values.quick) : plan(values.quick)).filter(
    (s) => !only || only.includes(s.kind) || only.includes(s.name),
  );
  const serverNames = values.servers ? values.servers.split(',').filter(Boolean) : [];
  // One frozen build for the whole run (others may edit src/ meanwhile).
  const cli = serverNames.includes('pushserver') ? snapshotDaemon() : undefined;
  const library = cli && join(dirname(cli), '../../publish/index.js');
  const nodeArgs = values['node-args'].split(/\s+/).filter(Boolean);
  const servers = starters(serverNames, values.target, cli, workers, nodeArgs);
  const names = servers.map((s) => s.name);
  const host = machine();
  const started = Date.now();
  console.log(
    `pushserver bench${values.quick ? ' (quick)' : ''}${workers > 1 ? `, ${workers} workers each` : ''}: ${names.join(' vs ')} on ${host.cpu}, ${host.cores} cores, Node ${process.version}`,
  );
  const load = loadavg()[0];
  if (load > 0.5) {
    console.log(
      `  note: load average ${load.toFixed(2)} before the run; other work on this machine skews the figures`,
    );
  }

  const reports: ScenarioReport[] = [];
  for (const [index, scenario] of scenarios.entries()) {
    const report: ScenarioReport = {
      scenario: scenario.name,
      description: scenario.description,
      results: {},
    };
    // Alternate which server goes first so neither always gets the cooler machine.
    const order = index % 2 === 0 ? servers : [...servers].reverse();
    for (const server of order) {
      const t0 = Date.now();
      let target: Target | undefined;
      try {
        const profileDir = profileRoot && join(profileRoot, scenario.name);
        if (profileDir) mkdirSync(profileDir, { recursive: true });
        target = await server.start(profileDir);
        running = target;
        const result = await scenario.run(target, {
          tag: `b${started.toString(36)}-${index}`,
          library,
        });
        if (server.external && scenario.kind === 'idle') {
          result.notes.push(
            'not restarted for this scenario: earlier scenarios may have grown its heap; measure with --only idle',
          );
        }
        if (target.note) result.notes.push(target.note);
        report.results[server.name] = { ...result, seconds: (Date.now() - t0) / 1000 };
      } catch (error) {
        report.results[server.name] = { error: (error as Error).stack ?? String(error) };
      } finally {
        running = undefined;
        await target?.stop();
      }
      const status = report.results[server.name];
      console.log(
        `  ${scenario.name} / ${server.name}: ${'error' in status ? `FAILED ${status.error.split('\n')[0]}` : `${status.seconds.toFixed(1)} s`}`,
      );
    }
    reports.push(report);
  }

  const seconds = (Date.now() - started) / 1000;
  console.log(`\n${table(reports, names)}\n\n(${seconds.toFixed(0)} s)`);
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${stamp}.json`);
  const withRatio = names.length === 2;
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        date: new Date(started).toISOString(),
        quick: values.quick,
        workers,
        machine: {
          ...host,
          node: process.version,
          loadAverageBefore: load,
          loadAverageAfter: loadavg()[0],
        },
        servers: names,
        seconds,
        scenarios: reports.map((r) => ({
          ...r,
          ...(withRatio
            ? { ratio: { [`${names[0]}/${names[1]}`]: ratios(r, names[0], names[1]) } }
            : {}),
        })),
        markdown: markdown(reports, names),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`results: ${file}`);
  if (profileRoot) printProfiles(profileRoot);
}

function printProfiles(root: string): void {
  for (const scenario of readdirSync(root)) {
    for (const file of readdirSync(join(root, scenario)).filter((f) => f.endsWith('.cpuprofile'))) {
      console.log(
        `\nprofile of pushserver in ${scenario} (${join(root, scenario, file)}), self time:`,
      );
      for (const row of topFunctions(join(root, scenario, file), 15))
        console.log(`${row.percent.toFixed(1).padStart(6)}%  ${row.name}`);
    }
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
