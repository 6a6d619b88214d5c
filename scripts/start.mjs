#!/usr/bin/env node
// `npm start`: the push daemon (`runpushserver`, 127.0.0.1:8001, memory store) and the
// nunjucks example app (127.0.0.1:8000) together, until CONTROL-C stops both.
//
// Both read the same settings (PUSHSERVER_CONFIG or pushserver.config.* if present, else
// the defaults); PORT moves the app. dist/ is built first when it is missing or older
// than src/.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const APP_PORT = Number(process.env.PORT ?? 8000);

function newestChange(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestChange(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function buildIfStale() {
  const built = join(ROOT, 'dist', 'server', 'cli', 'main.js');
  if (existsSync(built) && statSync(built).mtimeMs >= newestChange(join(ROOT, 'src'))) return;
  console.log('start: building dist/ (npm run build) ...');
  const result = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  if (!existsSync(built)) {
    console.error(
      'start: the build produced no dist/server/cli/main.js; run `npm run build` and read its errors',
    );
    process.exit(result.status || 1);
  }
}

/** Start `args` with node, prefixing each line it prints with `[name]`. */
function run(name, args, env = {}) {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const line of lines) {
        (stream === child.stderr ? process.stderr : process.stdout).write(`[${name}] ${line}\n`);
        child.emit('line', line);
      }
    });
  }
  child.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return child;
}

function waitForLine(child, pattern) {
  return new Promise((resolve, reject) => {
    child.on('line', (line) => {
      if (pattern.test(line)) resolve(line);
    });
    child.exited.then(({ code }) => reject(new Error(`exited with status ${code}`)));
  });
}

buildIfStale();
const daemon = run('daemon', ['bin/runpushserver.js']);
const app = run('app', ['examples/nunjucks/app.mjs'], { PORT: String(APP_PORT) });
const children = [daemon, app];
let stopping = false;

async function stop(status) {
  if (stopping) return;
  stopping = true;
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  }, 3000);
  await Promise.all(children.map((child) => child.exited));
  clearTimeout(timer);
  process.exit(status);
}

// CONTROL-C reaches the children too (same process group); this also covers `kill <pid>`.
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
for (const [name, child] of [
  ['daemon', daemon],
  ['app', app],
]) {
  child.exited.then(({ code }) => {
    if (stopping) return;
    console.error(`start: the ${name} stopped (status ${code}); stopping the other`);
    stop(code || 1);
  });
}

try {
  await Promise.all([
    waitForLine(daemon, /Quit the server with CONTROL-C/),
    waitForLine(app, /open http:\/\//),
  ]);
  console.log(`
  pushserver is running:
    daemon  runpushserver (memory store), see its banner above
    app     the nunjucks example

  Open http://127.0.0.1:${APP_PORT}/ and press "Send an update", or in another terminal:
    node examples/publish.mjs "Hello from a script"

  CONTROL-C stops both.
`);
} catch {
  // The exit handler above reports which one failed and stops the other.
}
