// static/pushserver/updates.d.ts as a user's TypeScript sees it: through the package's
// `./static/*` export, or a triple-slash reference from a page script. It compiles, types
// window.pushserver.updates and jQuery's $.updates, and refuses what the client refuses.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ts from 'typescript';

const ROOT = join(import.meta.dirname, '..', '..');

const IMPORTED = `import type { ChannelErrorEvent, Updates, UpdatesOptions } from 'pushserver/static/pushserver/updates.js';

const updates: Updates = window.pushserver.updates;
updates.subscribe({ room: 'http://127.0.0.1:8001/subscriber/lobby', skipped: null });
updates.registerProcessor<{ text: string }>('room', 'message', (data) => {
  const text: string = data.text;
  document.title = text;
});
const off: () => void = updates.on('error', (event: ChannelErrorEvent) => {
  const wait: number | null = event.retryIn;
  const status: number | null = event.status;
  console.log(wait, status, event.fatal);
});
off();
updates.on('state', ({ state, previous }) => console.log(state, previous));
updates.on('update', ({ channel, data, etag }) => console.log(channel, data, etag));
const options: UpdatesOptions = updates.configure({ maxRetryDelay: 60000 });
console.log(options.maxRetryDelay, updates.state('room'), updates.unsubscribe('room'));

// @ts-expect-error not an event of the client
updates.on('message', () => {});
// @ts-expect-error not an option
updates.configure({ retry: 5 });
// @ts-expect-error a channel URL is a string
updates.subscribe({ room: 42 });
`;

const REFERENCED = `/// <reference path="./node_modules/pushserver/static/pushserver/updates.d.ts" />
declare const $: JQueryStatic;
$.updates.subscribe({ room: 'http://127.0.0.1:8001/subscriber/lobby' });
$.updates.registerProcessor('room', 'message', (data) => console.log(data.type));
const same: boolean = $.updates === window.pushserver.updates;
console.log(same);
`;

describe('updates.d.ts in a user project', () => {
  let app: string;
  before(() => {
    app = mkdtempSync(join(tmpdir(), 'pushserver-types-'));
    const installed = join(app, 'node_modules', 'pushserver');
    mkdirSync(installed, { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(installed, 'package.json'));
    cpSync(join(ROOT, 'static'), join(installed, 'static'), { recursive: true });
    writeFileSync(join(app, 'imported.ts'), IMPORTED);
    writeFileSync(join(app, 'referenced.ts'), REFERENCED);
  });
  after(() => rmSync(app, { recursive: true, force: true }));

  for (const moduleResolution of ['bundler', 'nodenext'] as const) {
    test(`compiles with no errors (moduleResolution ${moduleResolution})`, () => {
      const options: ts.CompilerOptions = {
        strict: true,
        noEmit: true,
        target: ts.ScriptTarget.ES2020,
        module: moduleResolution === 'bundler' ? ts.ModuleKind.ESNext : ts.ModuleKind.NodeNext,
        moduleResolution:
          moduleResolution === 'bundler'
            ? ts.ModuleResolutionKind.Bundler
            : ts.ModuleResolutionKind.NodeNext,
        lib: ['lib.es2020.d.ts', 'lib.dom.d.ts'],
        types: [],
      };
      const program = ts.createProgram(
        [join(app, 'imported.ts'), join(app, 'referenced.ts')],
        options,
      );
      const problems = ts.getPreEmitDiagnostics(program);
      const host = {
        getCanonicalFileName: (name: string) => name,
        getCurrentDirectory: () => app,
        getNewLine: () => '\n',
      };
      assert.equal(ts.formatDiagnostics(problems, host), '');
      assert.ok(
        program.getSourceFiles().some((file) => file.fileName.endsWith('/updates.d.ts')),
        'the import resolved to updates.d.ts',
      );
    });
  }
});
