import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { documentedMetrics, EXTRA_METRICS, metricNames } from '../helpers/promql';

const ROOT = path.resolve(__dirname, '../..');
const FILE = path.join(ROOT, 'deploy/grafana/snowflake-dashboard.json');

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
}

const dashboard = JSON.parse(fs.readFileSync(FILE, 'utf8')) as Dashboard;
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));
/** Every PromQL query: panel targets, and the series selectors of `label_values(selector, label)` variables. */
const queries = [
  ...targets.map((t) => t.expr),
  ...dashboard.templating.list.flatMap((v) =>
    v.definition === undefined ? [] : [v.definition.replace(/^label_values\((.*), \w+\)$/, '$1')],
  ),
];

describe('deploy/grafana/snowflake-dashboard.json', () => {
  it('is a dashboard with a uid, a data-source variable and uniquely numbered panels', () => {
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list.find((v) => v.type === 'datasource')?.name).toBe('datasource');
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) {
      expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      for (const t of p.targets ?? [])
        expect(t.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('reads only metrics the service documents (README table) or that issue 7 names', () => {
    const known = documentedMetrics(path.join(ROOT, 'README.md'), EXTRA_METRICS);
    const used = [...new Set(queries.flatMap(metricNames))].sort();
    expect(used.filter((n) => !known(n))).toEqual([]);
  });

  it.each<[string, RegExp]>([
    ['IDs per second', /rate\(snowflake_ids_generated_total\{/],
    ['RPC rate by code', /sum by \(grpc_method, grpc_code\) \(rate\(grpc_server_handled_total\{/],
    [
      'latency p50',
      /histogram_quantile\(0\.5, sum by \(le, grpc_method\) \(rate\(grpc_server_handling_seconds_bucket\{/,
    ],
    [
      'latency p99',
      /histogram_quantile\(0\.99, sum by \(le, grpc_method\) \(rate\(grpc_server_handling_seconds_bucket\{/,
    ],
    ['serving', /^snowflake_serving\{/],
    ['clock skew', /^snowflake_clock_skew_seconds\{/],
    ['clock steps backwards', /snowflake_clock_backwards_total\{/],
    ['sequence exhaustion', /rate\(snowflake_sequence_exhausted_total\{/],
    ['lease state', /^snowflake_worker_lease_state\{/],
    ['time remaining', /^snowflake_time_remaining_seconds\{/],
    ['node IDs', /^snowflake_worker_info\{/],
  ])('charts %s', (_name, expr) => {
    expect(targets.some((t) => expr.test(t.expr))).toBe(true);
  });

  it('draws only the status codes that had calls (every grpc_code series exists from boot at 0)', () => {
    const byCode = targets.filter((t) => /by \([^)]*\bgrpc_code\b[^)]*\)/.test(t.expr));
    expect(byCode.length).toBeGreaterThanOrEqual(2);
    expect(byCode.filter((t) => !/\) > 0\b/.test(t.expr)).map((t) => t.panel)).toEqual([]);
  });

  it('has only valid PromQL (every query, as a recording rule, passes `promtool check rules`)', () => {
    // Grafana variables replaced by values Prometheus accepts.
    const promql = (q: string) => q.replaceAll('$__rate_interval', '5m').replace(/\$\w+/g, '.*');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dashboard-promql-'));
    try {
      const file = path.join(dir, 'rules.yml');
      const rules = queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: promql(q) }));
      fs.writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
      const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 20_000 });
      expect(r.error).toBeUndefined();
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
      expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
