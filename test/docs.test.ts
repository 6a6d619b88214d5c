// The README links its long reference to docs/: every link between README.md and the
// docs/ pages names a file that exists and, with a #fragment, a heading in it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '..');
const PAGES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings, outside fenced code. */
function anchors(text: string): Set<string> {
  const found = new Set<string>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.+)$/.exec(line);
    if (heading) found.add(anchor(heading[1]));
  }
  return found;
}

test('the README links every docs/ page', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const page of PAGES.filter((path) => path.startsWith('docs/')))
    assert.ok(readme.includes(`](${page}`), `README.md does not link ${page}`);
});

for (const page of PAGES) {
  test(`the local links of ${page} resolve`, () => {
    const text = readFileSync(join(ROOT, page), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [path, fragment] = target.split('#');
      const file = path ? join(ROOT, dirname(page), path) : join(ROOT, page);
      const name = relative(ROOT, file);
      assert.ok(existsSync(file), `${page} links ${target}: ${name} does not exist`);
      if (fragment && file.endsWith('.md'))
        assert.ok(
          anchors(readFileSync(file, 'utf8')).has(fragment),
          `${page} links ${target}: ${name} has no heading #${fragment}`,
        );
    }
  });
}
