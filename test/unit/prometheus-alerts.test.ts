import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { documentedMetrics, EXTRA_METRICS, metricNames } from '../helpers/promql';

// promtool comes with Debian's `prometheus` package (.ci/run installs it).
const ROOT = path.resolve(__dirname, '../..');
const DIR = path.join(ROOT, 'deploy/prometheus');

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (
  parse(fs.readFileSync(path.join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);
const unitTests = parse(fs.readFileSync(path.join(DIR, 'alerts.test.yml'), 'utf8')) as {
  tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
};

function promtool(args: string[]) {
  return spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 20_000 });
}

describe('deploy/prometheus/alerts.yml', () => {
  it('passes `promtool check rules`', () => {
    const r = promtool(['check', 'rules', 'alerts.yml']);
    expect(r.error).toBeUndefined();
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(r.stdout).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('passes its unit tests (`promtool test rules alerts.test.yml`)', () => {
    const r = promtool(['test', 'rules', 'alerts.test.yml']);
    expect(r.error).toBeUndefined();
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  it.each<[string, RegExp]>([
    ['NOT_SERVING', /^snowflake_serving == 0$/],
    ['target down', /^up\{job="snowflake"\} == 0$/],
    ['clock backwards', /^increase\(snowflake_clock_backwards_total\[5m\]\) > 0$/],
    ['clock skew', /snowflake_clock_skew_seconds/],
    ['sequence exhaustion rate', /^rate\(snowflake_sequence_exhausted_total\[5m\]\) > /],
    ['lease loss', /^snowflake_worker_lease_state != 1$/],
    ['time remaining under a year', /^snowflake_time_remaining_seconds < 365 \* 24 \* 3600$/],
    ['high UNAVAILABLE rate', /grpc_server_handled_total\{[^}]*grpc_code="UNAVAILABLE"/],
  ])('has an alert for %s', (_name, expr) => {
    expect(rules.filter((r) => r.alert !== undefined && expr.test(r.expr.trim()))).toHaveLength(1);
  });

  it('reads only metrics the service documents (README table) or that issue 7 names', () => {
    const known = documentedMetrics(path.join(ROOT, 'README.md'), EXTRA_METRICS);
    const used = [...new Set(rules.flatMap((r) => metricNames(r.expr)))].sort();
    expect(used.length).toBeGreaterThanOrEqual(8);
    expect(used.filter((n) => !known(n))).toEqual([]);
  });

  it('gives every alert a unique name, a severity, a summary and a description', () => {
    const names = rules.map((r) => r.alert);
    expect(names.every((n) => n !== undefined && /^Snowflake[A-Za-z]+$/.test(n))).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    for (const r of rules) {
      expect([r.alert, r.labels?.severity]).toEqual([r.alert, expect.stringMatching(/^(critical|warning)$/)]);
      expect(r.annotations?.summary).toMatch(/\{\{ \$labels\.instance \}\}/);
      expect(r.annotations?.description?.length).toBeGreaterThan(40);
    }
  });

  it('has a unit test in which each alert fires', () => {
    const firing = new Set(
      unitTests.tests.flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect([...firing].sort()).toEqual(rules.map((r) => r.alert).sort());
  });
});
