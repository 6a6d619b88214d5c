#!/usr/bin/env node
// Runs every test file under test/ with Node's built-in runner. Node 20 neither
// expands globs nor finds .ts files by itself, so this lists them explicitly.
// Extra arguments are passed on: `npm test -- test/settings.test.ts` runs one file.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

const args = process.argv.slice(2);
const files = args.some((a) => a.endsWith('.ts')) ? [] : testFiles('test');
const result = spawnSync(
  process.execPath,
  ['--test', '--import', 'tsx', '--test-concurrency=2', ...args, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
