import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { documentedMetrics, EXTRA_METRICS, metricNames } from '../helpers/promql';

// promtool comes with Debian's `prometheus` package (.ci/run installs it).
const ROOT = path.resolve(__dirname, '../..');
const DIR = path.join(ROOT, 'deploy/prometheus');

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
const ruleFile = parse(fs.readFileSync(path.join(DIR, 'alerts.yml'), 'utf8')) as RuleFile;
const rules = ruleFile.groups.flatMap((g) => g.rules);
const prometheusRule = parse(fs.readFileSync(path.join(DIR, 'prometheusrule.yaml'), 'utf8')) as {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: RuleFile;
};
const runbook = fs.readFileSync(path.join(ROOT, 'docs/runbook.md'), 'utf8');
/** Where every runbook_url points: docs/runbook.md of the published repository (one base for all). */
const RUNBOOK_BASE = 'https://example.com/snowflake-id-service/blob/main/docs/runbook.md';
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
    ['target down', /^up == 0 and on \(job, instance\) present_over_time\(snowflake_serving\[1d\]\)$/],
    ['no target exporting metrics at all', /^absent\(snowflake_serving\)$/],
    ['clock backwards', /^increase\(snowflake_clock_backwards_total\[30m\]\) > 0$/],
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
      // A fleet-wide alert (absent()) has no instance to name.
      if (!r.expr.startsWith('absent('))
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

  it('never selects on the scrape job, which ServiceMonitors and kubernetes-pods jobs name differently', () => {
    expect(rules.filter((r) => /\bjob\s*!?[=~]/.test(r.expr)).map((r) => r.alert)).toEqual([]);
  });

  it('holds every alert against flapping: a `for`, or an increase() window of at least 30 minutes', () => {
    const minutes = (d: string) =>
      Number(/^(\d+)m$/.exec(d)?.[1] ?? /^(\d+)h$/.exec(d)?.[1] ?? NaN) * (d.endsWith('h') ? 60 : 1);
    const unheld = rules.filter((r) => {
      if (r.for !== undefined) return minutes(r.for) < 1;
      const window = /^increase\(\w+\[(\w+)\]\) > 0$/.exec(r.expr.trim())?.[1];
      return window === undefined || minutes(window) < 30;
    });
    expect(unheld.map((r) => r.alert)).toEqual([]);
    // keep_firing_for needs Prometheus 2.42; older servers would reject the whole file.
    expect(rules.filter((r) => r.keep_firing_for !== undefined)).toEqual([]);
  });

  it('links every alert to its section of docs/runbook.md, which says what it means, how to check and what to do', () => {
    const headings = [...runbook.matchAll(/^## (\S+)$/gm)].map((m) => m[1]);
    for (const r of rules) {
      expect({ alert: r.alert, url: r.annotations?.runbook_url }).toEqual({
        alert: r.alert,
        url: `${RUNBOOK_BASE}#${r.alert!.toLowerCase()}`,
      });
      expect(headings).toContain(r.alert);
      const section =
        new RegExp(`^## ${r.alert}\n([\\s\\S]*?)(?=^## |(?![\\s\\S]))`, 'm').exec(runbook)?.[1] ?? '';
      for (const part of ['**Meaning.**', '**Check.**', '**Act.**'])
        expect({ alert: r.alert, part, found: section.includes(part) }).toEqual({
          alert: r.alert,
          part,
          found: true,
        });
    }
  });
});

describe('deploy/prometheus/prometheusrule.yaml', () => {
  it('is a PrometheusRule whose groups are exactly those of alerts.yml', () => {
    expect([prometheusRule.apiVersion, prometheusRule.kind]).toEqual([
      'monitoring.coreos.com/v1',
      'PrometheusRule',
    ]);
    expect(prometheusRule.spec).toEqual(ruleFile);
  });

  it('passes the same promtool unit tests as alerts.yml', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prometheusrule-'));
    try {
      fs.writeFileSync(path.join(dir, 'rules.yml'), stringify(prometheusRule.spec));
      const tests = parse(fs.readFileSync(path.join(DIR, 'alerts.test.yml'), 'utf8')) as {
        rule_files: string[];
      };
      fs.writeFileSync(path.join(dir, 'rules.test.yml'), stringify({ ...tests, rule_files: ['rules.yml'] }));
      const r = spawnSync('promtool', ['test', 'rules', 'rules.test.yml'], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.error).toBeUndefined();
      expect(r.stdout + r.stderr).toContain('SUCCESS');
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
