import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Metric names deploy/ may use beyond the README's metrics table: Prometheus's own `up`, and the gauges
 * that the clock-skew, worker-ID lease and time-range work adds to the service (named in issue 7).
 */
export const EXTRA_METRICS = [
  'up',
  'snowflake_clock_skew_seconds',
  'snowflake_worker_lease_state',
  'snowflake_time_remaining_seconds',
] as const;

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/**
 * Metric names a PromQL expression reads, found lexically: strings, label matchers, ranges and grouping
 * label lists are removed, then every remaining identifier that is not a function call or a keyword is a
 * metric name. Enough for the expressions in deploy/ (not a full PromQL parser).
 */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = stripped.match(/(?<![\w.$:])[a-zA-Z_:][\w:]*(?![\w:])(?!\s*\()/g) ?? [];
  return [...new Set(names.filter((n) => !KEYWORDS.has(n.toLowerCase())))];
}

/**
 * Metrics the service documents in the README's "## Metrics" table (histograms with their _bucket, _sum
 * and _count series; `process_*`-style rows as prefixes), plus `extra` names.
 */
export function documentedMetrics(readmePath: string, extra: readonly string[]): (name: string) => boolean {
  const readme = fs.readFileSync(readmePath, 'utf8');
  const section = /^## Metrics\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
  const names = new Set(extra);
  const prefixes: string[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|/.exec(line);
    if (m === null) continue;
    for (const [, name] of m[1]!.matchAll(/`([a-zA-Z_:][\w:*{},]*)`/g)) {
      if (name!.endsWith('*')) prefixes.push(name!.slice(0, -1));
      else {
        names.add(name!);
        if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name! + s);
      }
    }
  }
  if (names.size === extra.length) throw new Error(`no metrics table found in ${path.basename(readmePath)}`);
  return (name) => names.has(name) || prefixes.some((p) => name.startsWith(p));
}
