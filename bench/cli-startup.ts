import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './lib/paths';
import { figure, type Figure } from './lib/report';
import { median, percentile } from './lib/stats';

/** Figure e settings. */
export interface CliStartupOptions {
  /** Interleaved rounds; each case runs once per round. */
  readonly runs: number;
}

/** The client package's compiled CLI, the `snowflake` bin (`npm run build` makes it). */
const CLI = path.join(ROOT, 'packages/client/dist/cli.js');

/** Most a CLI case may take beyond a bare `node -e 0`, in ms (issue 15). */
const LIMIT_MS = 150;

/** One command line, and how to tell that it did its job (so a crash fast is no pass). */
interface Case {
  readonly id: string;
  readonly name: string;
  readonly args: readonly string[];
  readonly ok: (code: number | null, stdout: string, stderr: string) => boolean;
}

function cases(version: string): Case[] {
  return [
    {
      id: 'cli.help',
      name: 'CLI start-up, snowflake --help',
      args: [CLI, '--help'],
      ok: (code, stdout) => code === 0 && stdout.startsWith('Usage: snowflake'),
    },
    {
      id: 'cli.version',
      name: 'CLI start-up, snowflake --version',
      args: [CLI, '--version'],
      ok: (code, stdout) => code === 0 && stdout === `${version}\n`,
    },
    {
      id: 'cli.bad_argument',
      name: 'CLI start-up, snowflake decode 2^63 (rejected)',
      args: [CLI, 'decode', '9223372036854775808'],
      ok: (code, _stdout, stderr) => code === 2 && stderr.includes('not an ID'),
    },
  ];
}

/** Wall time of one `node <args>` from spawn to exit, in ms, and whether it did its job. */
function timeRun(args: readonly string[], check: Case['ok']): { ms: number; ok: boolean } {
  const started = performance.now();
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    timeout: 30_000,
    // Nothing from this process's environment (NODE_OPTIONS, SNOWFLAKE_ADDR) changes what is measured.
    env: { PATH: process.env.PATH ?? '' },
  });
  return { ms: performance.now() - started, ok: check(r.status, r.stdout, r.stderr) };
}

/**
 * Figure e: how long `snowflake --help`, `--version` and a rejected argument take, against a bare
 * `node -e 0` in the same rounds (interleaved: baseline, then each case, `runs` times), median of each.
 * Target: at most {@link LIMIT_MS} ms more than the baseline.
 */
export function benchCliStartup(options: CliStartupOptions): Figure[] {
  const { version } = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'packages/client/package.json'), 'utf8'),
  ) as {
    version: string;
  };
  const all = cases(version);
  const baseline: number[] = [];
  const times = all.map(() => [] as number[]);
  const failures = all.map(() => 0);
  for (let round = 0; round < options.runs; round++) {
    baseline.push(timeRun(['-e', '0'], (code) => code === 0).ms);
    all.forEach((c, i) => {
      const { ms, ok } = timeRun(c.args, c.ok);
      times[i]?.push(ms);
      if (!ok) failures[i] = (failures[i] ?? 0) + 1;
    });
  }
  const base = median(baseline);
  return all.map((c, i) => {
    const sorted = [...(times[i] ?? [])].sort((a, b) => a - b);
    const value = median(sorted);
    const failed = failures[i] ?? 0;
    return figure({
      id: c.id,
      name: c.name,
      value,
      unit: 'ms',
      baseline: base,
      baselineName: 'node -e 0',
      // The limit is a difference; as a ratio of this run's baseline it is the same test.
      target: { op: '<=', ratio: (base + LIMIT_MS) / base },
      extraPassCondition: failed === 0,
      notes:
        `${formatDifference(value - base)} over node -e 0 (limit +${LIMIT_MS} ms); ` +
        `p90 ${Math.round(percentile(sorted, 90))} ms; ${options.runs} runs` +
        (failed === 0 ? '' : `; ${failed} runs did not do their job`),
      details: {
        runs: options.runs,
        msSorted: sorted,
        baselineMs: baseline,
        failedRuns: failed,
        limitMs: LIMIT_MS,
      },
    });
  });
}

function formatDifference(ms: number): string {
  return `${ms < 0 ? '−' : '+'}${Math.abs(Math.round(ms))} ms`;
}
