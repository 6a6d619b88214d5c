#!/usr/bin/env node
// Builds the browser client from src/client/ (TypeScript) into the files pages are served
// and the package ships, all committed:
//   static/pushserver/updates.js          readable classic script (one function, no module)
//   static/pushserver/updates.min.js      the same code minified, + updates.min.js.map
//   static/pushserver/updates.d.ts        the browser API's types for users
// Each starts with a `/*! pushserver <version> */` banner (the version from package.json).
// updates.js and updates.d.ts are formatted by Biome, so they read like the rest of the
// project and `npm run lint` checks them too.
//
//   node scripts/build-client.mjs           write the files
//   node scripts/build-client.mjs --check   exit 1 if the committed files differ from a build
//
// `npm run build` runs this; `prepare` (npm install/ci) does not, so the files a clean
// checkout has are the committed ones and CI's --check compares them with the source.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(ROOT, 'src', 'client');
const OUT = join(ROOT, 'static', 'pushserver');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

const check = process.argv.includes('--check');
const unknown = process.argv.slice(2).filter((arg) => arg !== '--check');
if (unknown.length > 0) {
  console.error(`build-client: unknown argument ${unknown.join(' ')}; the only option is --check`);
  process.exit(2);
}

const headline = `pushserver ${pkg.version} | browser client | ${pkg.license}`;
const BUILT_FROM =
  'Built from src/client/ by scripts/build-client.mjs (npm run build): edit the source, not this file.';

/** The esbuild options both scripts share: one bundle, the browsers the client supports. */
const common = {
  entryPoints: [join(SOURCE, 'index.ts')],
  bundle: true,
  write: false,
  target: 'es2017',
  platform: 'browser',
  logLevel: 'silent',
  // The type-check settings that change emitted code (src/client/tsconfig.json has the same
  // useDefineForClassFields). No alwaysStrict: the strict directive goes inside the
  // function, so a page that concatenates scripts does not make the others strict.
  tsconfigRaw: { compilerOptions: { useDefineForClassFields: false, alwaysStrict: false } },
};

/** updates.js: esbuild's IIFE, strict inside, the source's header as its banner. */
async function readable() {
  const result = await esbuild.build({
    ...common,
    format: 'iife',
    outfile: join(OUT, 'updates.js'),
  });
  const code = result.outputFiles[0].text;
  if (!code.startsWith('(() => {\n')) throw new Error('build-client: esbuild changed its IIFE');
  const strict = code.replace(
    '(() => {\n',
    "(() => {\n  // biome-ignore lint/suspicious/noRedundantUseStrict: a classic script, not a module\n  'use strict';\n\n",
  );
  const banner = `/*! ${headline}\n * ${BUILT_FROM}\n * updates.min.js is the same code minified (with a source map); updates.d.ts has the types.\n *\n${headerComment()}\n */\n`;
  return biomeFormat(`${banner}${strict}`, 'updates.js');
}

/** updates.min.js and its map: the same bundle, the wrapper added by esbuild so the map stays exact. */
async function minified() {
  const result = await esbuild.build({
    ...common,
    format: 'esm',
    minify: true,
    sourcemap: 'linked',
    outfile: join(OUT, 'updates.min.js'),
    banner: { js: `/*! ${headline} | source map: updates.min.js.map */\n(()=>{"use strict";` },
    footer: { js: '})();' },
  });
  const files = {};
  for (const file of result.outputFiles) files[relative(OUT, file.path)] = file.text;
  return files;
}

/** updates.d.ts: the declarations of src/client/types.ts, emitted by tsc. */
function declarations() {
  const options = {
    declaration: true,
    emitDeclarationOnly: true,
    strict: true,
    target: ts.ScriptTarget.ES2017,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2017.d.ts', 'lib.dom.d.ts'],
    types: [],
    skipLibCheck: true,
  };
  const program = ts.createProgram([join(SOURCE, 'types.ts')], options);
  let text;
  const emitted = program.emit(undefined, (_name, data) => {
    text = data;
  });
  const problems = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
  if (problems.length > 0 || text === undefined) {
    const host = {
      getCanonicalFileName: (name) => name,
      getCurrentDirectory: () => ROOT,
      getNewLine: () => '\n',
    };
    throw new Error(`build-client: types.ts\n${ts.formatDiagnostics(problems, host)}`);
  }
  const banner = `/*! ${headline}\n * Types of static/pushserver/updates.js: window.pushserver.updates and jQuery's $.updates.\n * ${BUILT_FROM}\n */\n`;
  return biomeFormat(`${banner}${text}`, 'updates.d.ts');
}

/** The text between `/**` and `*\/` of src/client/index.ts's first comment, as ` * ` lines. */
function headerComment() {
  const source = readFileSync(join(SOURCE, 'index.ts'), 'utf8');
  const match = /^\/\*\*\n([\s\S]*?)\n \*\//.exec(source);
  if (!match) throw new Error('build-client: src/client/index.ts must start with a /** comment');
  return match[1];
}

/** Format `code` as Biome would format static/pushserver/<name> (the project's style). */
function biomeFormat(code, name) {
  const biome = join(ROOT, 'node_modules', '.bin', 'biome');
  const result = spawnSync(biome, ['format', `--stdin-file-path=${join(OUT, name)}`], {
    cwd: ROOT,
    input: code,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`build-client: biome format ${name}:\n${result.stderr}`);
  return result.stdout;
}

const [js, min, dts] = await Promise.all([readable(), minified(), declarations()]);
const outputs = { 'updates.js': js, ...min, 'updates.d.ts': dts };

if (check) {
  const stale = Object.keys(outputs).filter((name) => {
    try {
      return readFileSync(join(OUT, name), 'utf8') !== outputs[name];
    } catch {
      return true;
    }
  });
  if (stale.length > 0) {
    console.error(
      `build-client --check: ${stale.map((name) => `static/pushserver/${name}`).join(', ')} ` +
        `${stale.length === 1 ? 'differs' : 'differ'} from what src/client/ builds; ` +
        'run `npm run build` and commit static/pushserver/',
    );
    process.exit(1);
  }
  console.log(`build-client --check: static/pushserver/ matches src/client/ (${headline})`);
} else {
  for (const [name, text] of Object.entries(outputs)) writeFileSync(join(OUT, name), text);
  console.log(`build-client: wrote ${Object.keys(outputs).join(', ')} to static/pushserver/`);
}
