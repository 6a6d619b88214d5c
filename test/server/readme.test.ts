// The README's daemon section is the user's manual: its library example runs as written
// (with `pushserver/server` pointed at the source), and its help text is the command's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const SECTION = README.slice(
  README.indexOf('<!-- section: daemon -->'),
  README.indexOf('<!-- /section: daemon -->'),
);
const SOURCE = new URL('../../src/server/daemon.ts', import.meta.url).href;
const TSX = import.meta.resolve('tsx');

function codeBlocks(text: string, language: string): string[] {
  const blocks: string[] = [];
  const fence = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g');
  for (const found of text.matchAll(fence)) blocks.push(found[1]);
  return blocks;
}

test('the library example of the daemon section runs', () => {
  const example = codeBlocks(SECTION, 'js').find((block) =>
    block.includes("from 'pushserver/server'"),
  );
  assert.ok(example, 'no pushserver/server example in the daemon section');
  const dir = mkdtempSync(join(tmpdir(), 'pushserver-readme-'));
  try {
    const file = join(dir, 'example.mts');
    writeFileSync(
      file,
      `${example.replace("'pushserver/server'", JSON.stringify(SOURCE))}\nconsole.log('done', port > 0);\n`,
    );
    const run = spawnSync(process.execPath, ['--import', TSX, file], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.stderr, '');
    assert.equal(run.stdout, 'done true\n');
    assert.equal(run.status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every option in the options table is one the command knows', () => {
  const run = spawnSync(
    process.execPath,
    [
      '--import',
      TSX,
      fileURLToPath(new URL('../../src/server/cli/main.ts', import.meta.url)),
      '--help',
    ],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0);
  const documented = [...SECTION.matchAll(/^\| `(-[^`]+)`(?:, `(-[^`]+)`)? \|/gm)].flatMap((row) =>
    row.slice(1).filter(Boolean),
  );
  assert.deepEqual(documented, [
    '-6',
    '--ipv6',
    '--config FILE',
    '-q',
    '--quiet',
    '-h',
    '--help',
    '--workers N',
    '--allrequests',
    '--app FILE',
    '--upstream URL',
    '--forcehost HOST',
  ]);
  for (const option of documented)
    assert.ok(run.stdout.includes(option), `--help does not mention ${option}`);
});
