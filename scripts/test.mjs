#!/usr/bin/env node
// Runs the test files under test/ with Node's built-in runner. Node 20 neither
// expands globs nor finds .ts files by itself, so this lists them explicitly.
//
//   node scripts/test.mjs                  every test file
//   node scripts/test.mjs --unit           only files that need no system part (below)
//   node scripts/test.mjs test/a.test.ts   the files named; other arguments go to node
//   node scripts/test.mjs --deadline=600   end the whole run after 600 s (default 1800)
//
// Nothing waits for ever. Each wait in a test has a deadline naming what it waited for
// (test/support/wait.ts); each test file has FILE_TIMEOUT_MS (`--test-timeout`, which
// Node 20 applies to a whole file: the runner stops the file's process and names it);
// and the whole run has a deadline, after which the runner and everything it started
// are stopped and the files still running are named. Processes the tests left running
// are stopped (and named) when the run ends.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * A test file's time limit, a backstop behind the tests' own deadlines. The slowest
 * files (test/package/types.test.ts: eight tsc runs; the browser client against two
 * daemons) took over 4 min on a 2-core machine beside a CPU-heavy process.
 */
const FILE_TIMEOUT_MS = 600_000;

/** The whole run's limit: a run on a 2-core machine at load average 25 was not done in 15 min. */
const DEADLINE_S = 1800;

/**
 * The unit tests (`--unit`, `npm run test:unit`): files that need none of nginx + Nchan,
 * redis-server or Chromium and start no process (no daemon, CLI or build in a child):
 * a file that needs a system part says so with `needs(...)` from test/support/system.ts,
 * and one that starts processes imports node:child_process or test/support/child.ts.
 */
function isUnit(path) {
  const text = readFileSync(path, 'utf8');
  return !/\bneeds\(|['"]node:child_process['"]|support\/(child|daemon-process)\.[jt]s['"]/.test(
    text,
  );
}

function testFiles(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      if (name !== 'support' && name !== 'artifacts' && name !== 'fixtures')
        found.push(...testFiles(path));
    } else if (name.endsWith('.test.ts')) {
      found.push(path);
    }
  }
  return found;
}

let deadlineS = DEADLINE_S;
let unit = false;
const args = [];
for (const arg of process.argv.slice(2)) {
  if (arg === '--unit') unit = true;
  else if (arg.startsWith('--deadline=')) deadlineS = Number(arg.slice('--deadline='.length));
  else args.push(arg);
}
if (!(deadlineS > 0)) {
  console.error('scripts/test.mjs: --deadline needs a number of seconds, e.g. --deadline=600');
  process.exit(2);
}
const named = args.some((arg) => arg.endsWith('.ts'));
const files = named ? [] : testFiles('test').filter((path) => !unit || isUnit(path));
const timeout = args.some((arg) => arg.startsWith('--test-timeout'))
  ? []
  : [`--test-timeout=${FILE_TIMEOUT_MS}`];

// A process group of its own, so the deadline can stop the runner, the test files'
// processes and whatever they started (redis-server, nginx, Chromium, daemons) at once.
const runner = spawn(
  process.execPath,
  ['--test', '--import', 'tsx', '--test-concurrency=2', ...timeout, ...args, ...files],
  { stdio: 'inherit', detached: true },
);
const group = runner.pid;

const stopGroup = (signal) => {
  try {
    process.kill(-group, signal);
  } catch {
    // Nothing left in the group.
  }
};
// CONTROL-C reaches this process only (the runner has its own group): pass it on, and
// end whatever still runs a few seconds later.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopGroup(signal);
    setTimeout(() => stopGroup('SIGKILL'), 5000).unref();
  });
}

// A process whose parent is outside the group was left behind by a test file that
// ended (its parent was that file's process); one that holds the runner's output open
// would keep the runner waiting until the deadline.
const sweep = setInterval(() => {
  const inGroup = processes().filter((p) => p.pgid === group);
  const pids = new Set(inGroup.map((p) => p.pid));
  const orphans = inGroup.filter((p) => p.pid !== group && !pids.has(p.ppid));
  if (orphans.length === 0) return;
  console.error(
    `scripts/test.mjs: stopping processes left by a test file that ended:\n${describe(orphans)}`,
  );
  for (const p of orphans) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}, 2000);
sweep.unref();

let timedOut = false;
const deadline = setTimeout(() => {
  timedOut = true;
  const running = processes()
    .filter((p) => p.ppid === group)
    .map((p) => p.args.find((arg) => arg.endsWith('.ts')) ?? p.args.join(' '));
  console.error(
    `\nscripts/test.mjs: the run passed its deadline of ${deadlineS} s; stopping it. Test files still running:\n${
      running.map((file) => `  ${relativeToHere(file)}\n`).join('') ||
      '  (none: the runner itself did not end)\n'
    }`,
  );
  stopGroup('SIGTERM');
  setTimeout(() => stopGroup('SIGKILL'), 5000).unref();
}, deadlineS * 1000);

runner.on('exit', async (code, signal) => {
  clearTimeout(deadline);
  clearInterval(sweep);
  await stopLeftovers();
  if (timedOut) process.exit(1);
  process.exit(code ?? (signal ? 1 : 0));
});

/** Stop what the tests started and did not stop (a daemon, redis-server), naming each. */
async function stopLeftovers() {
  const left = processes().filter((p) => p.pgid === group);
  if (left.length === 0) return;
  console.error(`scripts/test.mjs: stopping processes the tests left running:\n${describe(left)}`);
  stopGroup('SIGTERM');
  for (let i = 0; i < 20 && processes().some((p) => p.pgid === group); i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  stopGroup('SIGKILL');
}

/** Every process: pid, parent, process group and arguments (from /proc, else `ps`). */
function processes() {
  if (existsSync('/proc/self/stat')) {
    const found = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        // After "pid (comm) ": state, ppid, pgrp.
        const [state, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (state === 'Z') continue;
        const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
        found.push({ pid: Number(name), ppid: Number(ppid), pgid: Number(pgid), args });
      } catch {
        // The process ended while we looked.
      }
    }
    return found;
  }
  const ps = spawnSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,args='], { encoding: 'utf8' });
  return (ps.stdout ?? '')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 4)
    .map(([pid, ppid, pgid, ...args]) => ({
      pid: Number(pid),
      ppid: Number(ppid),
      pgid: Number(pgid),
      args,
    }));
}

function describe(list) {
  return list.map((p) => `  ${p.pid} ${p.args.join(' ').slice(0, 200)}\n`).join('');
}

function relativeToHere(path) {
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}
