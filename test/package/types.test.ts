// Users' builds against the packed tarball. TypeScript 5.9 with `skipLibCheck: false`
// compiles a user file that imports every entry point, under moduleResolution node16,
// nodenext and bundler and as a bare `tsc app.ts` (node10 resolution, which ignores
// `exports`: package.json's `typesVersions` serves it), against the oldest @types/node
// the engines allow and the newest one. A CommonJS app runs the README's require()
// example. Needs the npm registry: skipped without it, failed under CI=true.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packageJson, packPackage } from '../support/packed-package.js';
import { needs, type SystemPart } from '../support/system.js';

const TYPESCRIPT = 'typescript@~5.9.3';
const INSTALL_TIMEOUT_MS = 150_000;
const TSC_TIMEOUT_MS = 90_000;
const NODE_TIMEOUT_MS = 30_000;

/** The newest @types/node, as the registry names it (filled by NPM_REGISTRY's check). */
let newestTypesNode = '';

const NPM_REGISTRY: SystemPart = {
  name: 'a reachable npm registry',
  present: () => {
    const view = spawnSync('npm', ['view', '@types/node@latest', 'version', '--prefer-online'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    newestTypesNode = view.stdout?.trim() ?? '';
    return view.status === 0 && /^\d+\.\d+\.\d+$/.test(newestTypesNode);
  },
  install: 'network access to it (`npm view @types/node version` must answer)',
};

/** engines.node ">=20.19" → "20.19.0": the oldest Node the package supports. */
function oldestTypesNode(): string {
  const found = /(\d+)\.(\d+)/.exec(packageJson.engines.node);
  assert.ok(found, `package.json engines.node "${packageJson.engines.node}" names no version`);
  return `${found[1]}.${found[2]}.0`;
}

/** Each entry point and its main function, a named export (what a CommonJS user takes). */
const MAIN_EXPORTS: Record<string, string> = {
  pushserver: 'sendUpdate',
  'pushserver/express': 'pushserver',
  'pushserver/nunjucks': 'install',
  'pushserver/handlebars': 'registerHelpers',
  'pushserver/eta': 'etaHelpers',
  'pushserver/server': 'createPushServer',
};

/** A user's ES module: every entry point and its typical calls. */
const USER_APP = `import type { Application, Request } from 'express';
import { channelUrl, type SendUpdateResult, sendUpdate, signals } from 'pushserver';
import { etaHelpers } from 'pushserver/eta';
import pushserverDefault, { type ChannelSignal, passthrough, pushserver } from 'pushserver/express';
import { registerHelpers } from 'pushserver/handlebars';
import { install } from 'pushserver/nunjucks';
import { createPushServer, type PushServer } from 'pushserver/server';

declare const app: Application;
app.use(pushserver({ jquery: false }));
app.use(pushserverDefault());
app.use('/passthrough', passthrough());

signals.on('postSendUpdate', (e) => {
  const status: number | undefined = e.response?.status;
  console.log(e.channelId, status, e.result.status);
});
signals.on('channelSubscribe', ({ req, channelId }: ChannelSignal<Request>) => {
  console.log(req.ip, channelId);
});
// @ts-expect-error: not a signal (the types are the package's, not any)
signals.on('postSendUpdates', () => {});

export async function publish(): Promise<SendUpdateResult> {
  const push: PushServer = createPushServer({ port: 8001 });
  const address = await push.listen(0);
  console.log(address.port, channelUrl('room-1'), etaHelpers().channelUrl('room-1'));
  const result = await sendUpdate('room-1', { type: 'message', text: 'hi' });
  await push.close();
  return result;
}

export function helpers(
  env: Parameters<typeof install>[0],
  handlebars: Parameters<typeof registerHelpers>[0],
) {
  return [install(env, { mode: 'data' }), registerHelpers(handlebars)];
}
`;

/** A user's CommonJS module in TypeScript: require() of the ES module package. */
const USER_CJS_APP = `import type { Application } from 'express';
import core = require('pushserver');
import pushserverExpress = require('pushserver/express');

declare const app: Application;
app.use(pushserverExpress.pushserver());
core.signals.on('postSendUpdate', (e) => console.log(e.result.status));
`;

/**
 * How each build is run. TypeScript's own lib files are not checked
 * (`skipDefaultLibCheck`): nothing of the package can change them and they take half
 * the time; the package's .d.ts, @types/node and @types/express are.
 */
const BUILDS: Array<{ name: string; args: string[]; tsconfig?: object }> = [
  { name: 'node16', args: ['-p', 'tsconfig.node16.json'], tsconfig: options('node16', 'node16') },
  {
    name: 'nodenext (and a .cts that require()s)',
    args: ['-p', 'tsconfig.nodenext.json'],
    tsconfig: { ...options('nodenext', 'nodenext'), files: ['app.ts', 'app-cjs.cts'] },
  },
  {
    name: 'bundler',
    args: ['-p', 'tsconfig.bundler.json'],
    tsconfig: options('esnext', 'bundler'),
  },
  { name: 'a bare tsc, no tsconfig', args: ['--noEmit', '--skipDefaultLibCheck', 'app.ts'] },
];

function options(module: string, moduleResolution: string) {
  return {
    compilerOptions: {
      module,
      moduleResolution,
      target: 'es2022',
      strict: true,
      skipLibCheck: false,
      skipDefaultLibCheck: true,
      noEmit: true,
    },
    files: ['app.ts'],
  };
}

interface Ran {
  ok: boolean;
  output: string;
}

/** Run a command to its end or `timeoutMs`; never rejects. */
function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const stopped = error?.killed ? `\n(stopped after ${timeoutMs} ms)` : '';
        resolve({ ok: !error, output: `${stdout}${stderr}${stopped}` });
      },
    );
  });
}

/** The README's CommonJS example (a js block that require()s pushserver/express). */
function readmeCommonJsExample(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((found) => found[1]);
  const example = blocks.find((block) => block.includes("require('pushserver/express')"));
  assert.ok(example, "the README has no js example with require('pushserver/express')");
  return example;
}

describe("users' TypeScript builds and CommonJS apps, from the packed tarball", {
  skip: needs(NPM_REGISTRY),
  concurrency: 2,
}, () => {
  const typesNodeVersions = [oldestTypesNode(), newestTypesNode];
  const apps = new Map<string, string>();
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pushserver-types-'));
    mkdirSync(join(dir, 'pack'));
    const tarball = packPackage(join(dir, 'pack'));
    // One install per @types/node version, reused by every build; npm's cache serves
    // what it already holds.
    const installs = typesNodeVersions.map(async (version) => {
      const app = join(dir, `types-node-${version}`);
      mkdirSync(app);
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'user-app', private: true, type: 'module' }),
      );
      writeFileSync(join(app, 'app.ts'), USER_APP);
      writeFileSync(join(app, 'app-cjs.cts'), USER_CJS_APP);
      for (const build of BUILDS) {
        if (build.tsconfig)
          writeFileSync(join(app, build.args[1]), JSON.stringify(build.tsconfig, null, 2));
      }
      const install = await run(
        'npm',
        [
          'install',
          '--no-audit',
          '--no-fund',
          '--prefer-offline',
          tarball,
          TYPESCRIPT,
          `@types/node@${version}`,
          '@types/express@5',
          'express@5',
        ],
        app,
        INSTALL_TIMEOUT_MS,
      );
      assert.ok(install.ok, `npm install in ${app} failed:\n${install.output}`);
      apps.set(version, app);
    });
    await Promise.all(installs);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const version of typesNodeVersions) {
    for (const build of BUILDS) {
      test(`tsc with @types/node@${version}, ${build.name}`, async () => {
        const app = apps.get(version);
        assert.ok(app, `no app with @types/node@${version} (its install failed)`);
        const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
        const compiled = await run(process.execPath, [tsc, ...build.args], app, TSC_TIMEOUT_MS);
        assert.ok(compiled.ok, `tsc ${build.args.join(' ')} failed:\n${compiled.output}`);
      });
    }
  }

  test("a CommonJS app runs the README's require() example", async () => {
    const app = apps.get(newestTypesNode);
    assert.ok(app, 'no app (its install failed)');
    const source = `${readmeCommonJsExample()}
const mains = ${JSON.stringify(MAIN_EXPORTS)};
for (const [name, main] of Object.entries(mains)) {
  if (typeof require(name)[main] !== 'function') throw new Error(name + ' has no named export ' + main);
}
const server = app.listen(0, '127.0.0.1', async () => {
  const response = await fetch('http://127.0.0.1:' + server.address().port + '/static/pushserver/updates.js');
  await response.text();
  console.log(response.status, response.headers.get('content-type'));
  server.close();
  server.closeAllConnections();
});
`;
    writeFileSync(join(app, 'app.cjs'), source);
    const ran = await run(process.execPath, ['app.cjs'], app, NODE_TIMEOUT_MS);
    assert.ok(ran.ok, `node app.cjs failed:\n${ran.output}`);
    assert.match(ran.output, /^200 text\/javascript/);
  });
});
