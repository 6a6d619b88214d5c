// Summarise a V8 .cpuprofile (node --cpu-prof): self time per function, heaviest first.
// Usage: node --import tsx bench/profile-top.ts FILE.cpuprofile [rows]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** One row of the summary. */
export interface ProfileRow {
  /** `function (file:line)` */
  name: string;
  /** Share of all samples, idle excluded. */
  percent: number;
}

/**
 * Self time by function of a `.cpuprofile`, idle and program overhead excluded.
 *
 * @param path the profile file
 * @param rows how many rows
 * @returns heaviest first; `(garbage collector)` is its own row
 * @example topFunctions('bench/results/profiles/x/fanout-1000/CPU.cpuprofile', 20)
 */
export function topFunctions(path: string, rows = 25): ProfileRow[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
  };
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  for (const id of profile.samples) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || frame.functionName === '(idle)' || frame.functionName === '(program)') continue;
    const file = frame.url ? relative(process.cwd(), frame.url.replace(/^file:\/\//, '')) : '';
    const name = `${frame.functionName || '(anonymous)'}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`;
    self.set(name, (self.get(name) ?? 0) + 1);
    total++;
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, rows)
    .map(([name, n]) => ({ name, percent: (n / Math.max(1, total)) * 100 }));
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) {
  const [path, rows] = process.argv.slice(2);
  if (!path) {
    console.error('usage: node --import tsx bench/profile-top.ts FILE.cpuprofile [rows]');
    process.exit(2);
  }
  for (const row of topFunctions(path, Number(rows ?? 25)))
    console.log(`${row.percent.toFixed(1).padStart(5)}%  ${row.name}`);
}
