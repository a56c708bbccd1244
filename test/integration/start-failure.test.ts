import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_LAYOUT, layoutEndMs } from '../../src/core/layout';
import { STATE_FILE_NAME } from '../../src/state/state-file';
import { launchService, startServiceProcess } from '../helpers/process';
import { tempStateDir } from '../helpers/temp-dir';

// Real processes (dist/main.js) that must refuse to start: each must exit with 1 — not linger with
// its ports bound and its lock held — and say why. A run still alive after RUN_BOUND_MS is SIGKILLed
// and fails the test.

/** Longest a refused start may run before the test gives up on it; each of these exits within a second or two. */
const RUN_BOUND_MS = 20_000;

/** A safe integer far beyond the default layout's end (2089) and beyond what Date can hold (year 275760). */
const FAR_FUTURE_MS = 9_000_000_000_000_000;

/** The metric value in a Prometheus text exposition, or undefined when the series is missing. */
function metricValue(text: string, name: string): string | undefined {
  return new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
}

describe('a start that fails exits 1 and says why (real processes)', () => {
  it('GIVEN a state file whose reservedUntilMs is beyond the layout (9000000000000000) THEN it exits 1 naming the file and the allowed range', async () => {
    const stateDir = tempStateDir();
    const file = path.join(stateDir, STATE_FILE_NAME);
    fs.writeFileSync(
      file,
      JSON.stringify({
        format: 'snowflake-state/1',
        layout: DEFAULT_LAYOUT,
        datacenterId: 0,
        workerId: 3,
        reservedUntilMs: FAR_FUTURE_MS,
        updatedAt: '2024-01-01T00:00:00.000Z',
      }),
    );
    const run = launchService({ SNOWFLAKE_STATE_DIR: stateDir, SNOWFLAKE_WORKER_ID: '3' }, RUN_BOUND_MS);
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr()).toContain(`failed to start: STATE_FILE_INVALID: state file ${file} is corrupt`);
    expect(run.stderr()).toContain(`reservedUntilMs ${FAR_FUTURE_MS}`);
    expect(run.stderr()).toContain(`allowed: 0 to ${layoutEndMs(DEFAULT_LAYOUT)}`);
    // The file is left as it was, for the operator to inspect.
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ reservedUntilMs: FAR_FUTURE_MS });
  }, 30_000);

  it('GIVEN SNOWFLAKE_WORKERID=5 (a typo) THEN it exits 1 naming it and suggesting SNOWFLAKE_WORKER_ID', async () => {
    const run = launchService({ SNOWFLAKE_WORKERID: '5' }, RUN_BOUND_MS);
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr()).toContain(
      'SNOWFLAKE_WORKERID: unknown variable (did you mean SNOWFLAKE_WORKER_ID?)',
    );
    expect(run.logs.some((l) => l.msg === 'snowflake service started')).toBe(false);
  }, 30_000);

  it('GIVEN SNOWFLAKE_ETCD_CA_FILE names a missing file THEN it exits 1 naming the variable and the file', async () => {
    const missing = path.join(tempStateDir(), 'no-such-ca.pem');
    const run = launchService(
      {
        SNOWFLAKE_WORKER_ID_SOURCE: 'etcd',
        SNOWFLAKE_ETCD_ENDPOINTS: 'https://127.0.0.1:2379',
        SNOWFLAKE_ETCD_CA_FILE: missing,
      },
      RUN_BOUND_MS,
    );
    const { code } = await run.exited;
    expect(code).toBe(1);
    expect(run.stderr()).toContain(`SNOWFLAKE_ETCD_CA_FILE="${missing}": cannot read it (ENOENT`);
    expect(run.stderr()).toContain('must be a readable PEM file');
  }, 30_000);
});

describe('the static worker ID defaulting to 0 is visible (real processes)', () => {
  it.each<{ what: string; env: Record<string, string>; metric: string; warned: boolean }>([
    { what: 'SNOWFLAKE_WORKER_ID unset', env: {}, metric: '1', warned: true },
    {
      what: 'SNOWFLAKE_WORKER_ID=0 set explicitly',
      env: { SNOWFLAKE_WORKER_ID: '0' },
      metric: '0',
      warned: false,
    },
    { what: 'SNOWFLAKE_WORKER_ID=5', env: { SNOWFLAKE_WORKER_ID: '5' }, metric: '0', warned: false },
  ])(
    'GIVEN $what THEN snowflake_worker_id_defaulted is $metric and a WARN line says so only when defaulted',
    async ({ env, metric, warned }) => {
      const svc = await startServiceProcess(env);
      try {
        const text = await (await fetch(`http://127.0.0.1:${svc.metricsPort}/metrics`)).text();
        expect(text).toContain('# HELP snowflake_worker_id_defaulted ');
        expect(text).toContain('# TYPE snowflake_worker_id_defaulted gauge');
        expect(metricValue(text, 'snowflake_worker_id_defaulted')).toBe(metric);
        const warnings = svc.logs.filter(
          (l) => l.level === 40 && String(l.msg).startsWith('SNOWFLAKE_WORKER_ID is not set'),
        );
        expect(warnings.length).toBe(warned ? 1 : 0);
      } finally {
        svc.child.kill('SIGTERM');
        await svc.exited;
      }
    },
    30_000,
  );
});
