import type { Metrics } from './scenarios.js';

/** One scenario's figures for every server, in run order. */
export interface ScenarioReport {
  scenario: string;
  description: string;
  results: Record<
    string,
    { metrics: Metrics; notes: string[]; seconds: number } | { error: string }
  >;
}

/**
 * `pushserver / nchan` for every figure both servers produced (the first target
 * over the second when others were chosen).
 *
 * @param report one scenario
 * @param numerator target name on top
 * @param denominator target name below
 * @returns ratios per metric; a 0/0 (e.g. zero lost on both) is 1
 * @example ratios(report, 'pushserver', 'nchan')['server CPU µs/delivery']
 */
export function ratios(report: ScenarioReport, numerator: string, denominator: string): Metrics {
  const top = report.results[numerator];
  const bottom = report.results[denominator];
  if (!top || !bottom || 'error' in top || 'error' in bottom) return {};
  const out: Metrics = {};
  for (const [key, value] of Object.entries(top.metrics)) {
    const other = bottom.metrics[key];
    if (other === undefined) continue;
    out[key] = other === 0 ? (value === 0 ? 1 : Number.POSITIVE_INFINITY) : value / other;
  }
  return out;
}

function format(value: number | undefined): string {
  if (value === undefined) return '';
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/**
 * The terminal table: one row per figure, a column per server and the ratio.
 *
 * @param reports every scenario of the run
 * @param targets server names, in column order
 * @returns printable text
 * @example console.log(table(reports, ['pushserver', 'nchan']))
 */
export function table(reports: ScenarioReport[], targets: string[]): string {
  const withRatio = targets.length === 2;
  const header = [
    'scenario',
    'figure',
    ...targets,
    ...(withRatio ? [`${targets[0]}/${targets[1]}`] : []),
  ];
  const rows: string[][] = [header];
  const notes: string[] = [];
  for (const report of reports) {
    const keys = new Set<string>();
    for (const result of Object.values(report.results)) {
      if ('metrics' in result) for (const key of Object.keys(result.metrics)) keys.add(key);
    }
    const ratio = withRatio ? ratios(report, targets[0], targets[1]) : {};
    let first = true;
    for (const key of keys) {
      const cells = targets.map((name) => {
        const result = report.results[name];
        return result && 'metrics' in result ? format(result.metrics[key]) : '';
      });
      rows.push([
        first ? report.scenario : '',
        key,
        ...cells,
        ...(withRatio ? [format(ratio[key])] : []),
      ]);
      first = false;
    }
    for (const [name, result] of Object.entries(report.results)) {
      if ('error' in result)
        notes.push(`${report.scenario} / ${name}: FAILED: ${result.error.split('\n')[0]}`);
      else for (const note of result.notes) notes.push(`${report.scenario} / ${name}: ${note}`);
    }
  }
  const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const lines = rows.map((row) =>
    row
      .map((cell, column) =>
        column < 2 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]),
      )
      .join('  '),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return [...lines, '', ...notes].join('\n');
}

/**
 * The same table as Markdown, for the README.
 *
 * @param reports every scenario of the run
 * @param targets server names, in column order
 * @returns Markdown table text
 * @example markdown(reports, ['pushserver', 'nchan'])
 */
export function markdown(reports: ScenarioReport[], targets: string[]): string {
  const withRatio = targets.length === 2;
  const lines = [
    `| scenario | figure | ${targets.join(' | ')} |${withRatio ? ` ${targets[0]} / ${targets[1]} |` : ''}`,
    `|---|---|${targets.map(() => '---:|').join('')}${withRatio ? '---:|' : ''}`,
  ];
  for (const report of reports) {
    const ratio = withRatio ? ratios(report, targets[0], targets[1]) : {};
    const first = Object.values(report.results).find((r) => 'metrics' in r);
    if (!first || !('metrics' in first)) continue;
    let shown = false;
    for (const key of Object.keys(first.metrics)) {
      const cells = targets.map((name) => {
        const result = report.results[name];
        return result && 'metrics' in result ? format(result.metrics[key]) : '';
      });
      lines.push(
        `| ${shown ? '' : report.scenario} | ${key} | ${cells.join(' | ')} |${withRatio ? ` ${format(ratio[key])} |` : ''}`,
      );
      shown = true;
    }
  }
  return lines.join('\n');
}
