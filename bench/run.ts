/**
 * `npm run bench`: the figures of issue 6, each against a baseline measured in the same run, printed as
 * one table and written to bench/results/latest.json.
 *
 *   npm run bench                          full run (≈ 1.5 min; run it on an otherwise idle machine)
 *   npm run bench -- --quick               1 s windows: checks the harness, numbers are rough
 *   npm run bench -- --only=core,batch     a subset: core, cli, batch, next-id, prefetch
 *   BENCH_SECONDS=5 BENCH_WARMUP_SECONDS=2 longer windows
 *   BENCH_CLI_RUNS=50                      runs per CLI start-up case (default 30, --quick 10)
 *   BENCH_CLIENT=grpc-js                   call through a grpc-js Client instead of the lean http2 client
 *
 * The client is this process; each server is a child process, so on a 2-core machine client and server
 * get a core each. Exit code 1 when a figure fails its target (2 on a harness error).
 */
import * as path from 'node:path';
import { benchBatchIds } from './batch-ids';
import { benchCliStartup } from './cli-startup';
import { benchCore } from './core';
import { benchNextId } from './next-id';
import { benchPrefetch } from './prefetch';
import { RESULTS_DIR } from './lib/paths';
import { machineInfo, publish, runMain, type Figure } from './lib/report';
import { TRANSPORT_KINDS, type TransportKind } from './lib/wire';

const SECTIONS = ['core', 'cli', 'batch', 'next-id', 'prefetch'] as const;
type Section = (typeof SECTIONS)[number];

interface Settings {
  readonly quick: boolean;
  readonly measureSeconds: number;
  readonly warmupSeconds: number;
  readonly sections: readonly Section[];
  /** Runs per CLI start-up case. */
  readonly cliRuns: number;
  readonly transport: TransportKind;
}

function parseSettings(argv: readonly string[], env: NodeJS.ProcessEnv): Settings {
  const quick = argv.includes('--quick');
  const only = argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
  const sections = only === undefined ? SECTIONS : only.split(',');
  for (const s of sections) {
    if (!(SECTIONS as readonly string[]).includes(s))
      throw new Error(`--only: unknown section ${s}; use ${SECTIONS.join(',')}`);
  }
  const seconds = (name: string, fallback: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0 || v > max)
      throw new Error(`${name}=${raw}: must be a number of seconds in (0, ${max}]`);
    return v;
  };
  const runs = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || Number(raw) > 1000)
      throw new Error(`${name}=${raw}: must be an integer from 1 to 1000`);
    return Number(raw);
  };
  const transport = env.BENCH_CLIENT ?? 'http2';
  if (!(TRANSPORT_KINDS as readonly string[]).includes(transport)) {
    throw new Error(`BENCH_CLIENT=${transport}: use one of ${TRANSPORT_KINDS.join(', ')}`);
  }
  return {
    quick,
    transport: transport as TransportKind,
    measureSeconds: seconds('BENCH_SECONDS', quick ? 1 : 4, 60),
    warmupSeconds: seconds('BENCH_WARMUP_SECONDS', quick ? 0.5 : 1, 30),
    sections: sections as Section[],
    cliRuns: runs('BENCH_CLI_RUNS', quick ? 10 : 30),
  };
}

async function main(): Promise<number> {
  const settings = parseSettings(process.argv.slice(2), process.env);
  const machine = machineInfo();
  const started = performance.now();
  const measureMs = settings.measureSeconds * 1000;
  const warmupMs = settings.warmupSeconds * 1000;
  const figures: Figure[] = [];

  // Core first: in-process, while no server child is competing for the CPU.
  if (settings.sections.includes('core')) {
    figures.push(...benchCore({ rounds: 15, chunksPerRound: Math.max(10, Math.round(measureMs / 30)) }));
  }
  // The CLI next: child processes timed one at a time, before any server competes for the CPU.
  if (settings.sections.includes('cli')) {
    figures.push(...benchCliStartup({ runs: settings.cliRuns }));
  }
  if (settings.sections.includes('batch')) {
    figures.push(
      ...(await benchBatchIds({
        cases: [
          { count: 4096, concurrency: 4 },
          { count: 10_000, concurrency: 4 },
        ],
        warmupMs,
        measureMs,
        transport: settings.transport,
      })),
    );
  }
  if (settings.sections.includes('next-id')) {
    figures.push(
      ...(await benchNextId({
        concurrencies: [1, 16, 64],
        rounds: 12,
        serverWarmupMs: warmupMs * 2,
        warmupMs: warmupMs / 4,
        measureMs: measureMs / 4,
        transport: settings.transport,
      })),
    );
  }

  if (settings.sections.includes('prefetch')) {
    figures.push(
      ...(await benchPrefetch({
        warmupMs,
        measureMs,
        jitWarmupMs: settings.quick ? warmupMs : 5000,
        steadyIdsPerSecond: 100_000,
        steadyWarmupMs: warmupMs,
        // The window; --quick shortens it to check the harness.
        steadyMeasureMs: settings.quick ? measureMs : 10_000,
        transport: settings.transport,
      })),
    );
  }

  const report = {
    title: 'snowflake-id-service benchmark (issue 6)',
    machine,
    settings: {
      measureSeconds: settings.measureSeconds,
      warmupSeconds: settings.warmupSeconds,
      sections: settings.sections.join('+'),
      cliRuns: settings.cliRuns,
      client: settings.transport,
      exposeGc: typeof (globalThis as { gc?: unknown }).gc === 'function',
    },
    figures,
    durationSeconds: (performance.now() - started) / 1000,
  };
  return publish(report, path.join(RESULTS_DIR, 'latest.json'));
}

runMain('bench', main);
