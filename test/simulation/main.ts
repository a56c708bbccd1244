import { randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { argsOrExitCode } from './cli-args';
import { emptySummary, formatSummary, mergeSummary, runSchedules, type RunSummary } from './run';
import { BROKEN, isBroken, type Broken, type ScheduleOptions } from './schedule';

const USAGE = `npm run simulate -- [--schedules N] [--seed S] [--jobs J] [--broken NAME] [--first-failure] [--trace]

Runs N deterministic fault schedules (default 10000) with seeds S, S+1, …, S+N−1 (default: a random S,
printed) on J worker threads (default: the number of cores, at most 4), and prints the IDs checked, the
faults injected by kind and every failing seed with the command that replays it. Exit code 1 when any
schedule broke an invariant.
  --trace        print the event log of each schedule (use with --schedules 1)
  --calm         no faults (what the liveness test runs)
  --first-failure  stop at the first failing schedule (runs the seeds in order, on one thread)
  --json FILE    also write the totals as JSON to FILE
  --broken NAME  run a deliberately broken composition: ${Object.keys(BROKEN).join(', ')}`;

interface Args {
  readonly schedules: number;
  readonly seed: number;
  readonly jobs: number;
  readonly broken: Broken | undefined;
  readonly trace: boolean;
  readonly calm: boolean;
  /** Stop at the first failing schedule. */
  readonly firstFailure: boolean;
  /** Also write the summary as JSON to this file. */
  readonly json: string | undefined;
}

interface Job {
  readonly firstSeed: number;
  readonly schedules: number;
  readonly options: ScheduleOptions;
}

type WorkerMessage = { readonly kind: 'progress' | 'done'; readonly summary: RunSummary };

function parseArgs(argv: readonly string[]): Args | string {
  let schedules = 10_000;
  let seed: number | undefined;
  let jobs = Math.min(4, availableParallelism());
  let broken: Broken | undefined;
  let trace = false;
  let calm = false;
  let firstFailure = false;
  let json: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = argv[i + 1];
    const whole = (max: number): number | undefined => {
      i++;
      return value !== undefined && /^\d+$/.test(value) && Number(value) <= max ? Number(value) : undefined;
    };
    if (arg === '--schedules') {
      const v = whole(1e9);
      if (v === undefined || v < 1) return `--schedules must be a whole number ≥ 1; got ${String(value)}`;
      schedules = v;
    } else if (arg === '--seed') {
      seed = whole(2 ** 32 - 1);
      if (seed === undefined)
        return `--seed must be a whole number from 0 to 4294967295; got ${String(value)}`;
    } else if (arg === '--jobs') {
      const v = whole(64);
      if (v === undefined || v < 1) return `--jobs must be a whole number from 1 to 64; got ${String(value)}`;
      jobs = v;
    } else if (arg === '--broken') {
      i++;
      if (value === undefined || !isBroken(value)) {
        return `--broken must be one of ${Object.keys(BROKEN).join(', ')}; got ${String(value)}`;
      }
      broken = value;
    } else if (arg === '--trace') {
      trace = true;
    } else if (arg === '--calm') {
      calm = true;
    } else if (arg === '--first-failure') {
      firstFailure = true;
    } else if (arg === '--json') {
      i++;
      if (value === undefined) return '--json needs a file name';
      json = value;
    } else {
      return `unknown argument ${arg}`;
    }
  }
  return { schedules, seed: seed ?? randomInt(2 ** 32 - 1), jobs, broken, trace, calm, firstFailure, json };
}

async function main(argv: readonly string[]): Promise<number> {
  const args = argsOrExitCode(argv, USAGE, parseArgs);
  if (typeof args === 'number') return args;
  const broken = args.broken === undefined ? '' : `, broken composition: ${args.broken}`;
  process.stdout.write(`simulating ${args.schedules} schedules from seed ${args.seed}${broken}\n`);
  const options: ScheduleOptions = {
    ...(args.broken !== undefined && { broken: args.broken }),
    ...(args.calm && { calm: true }),
    ...(args.trace && { trace: (line: string) => process.stdout.write(`${line}\n`) }),
  };
  const jobs =
    args.trace || args.firstFailure ? 1 : Math.max(1, Math.min(args.jobs, Math.floor(args.schedules / 500)));
  const summary = jobs === 1 ? await runInline(args, options) : await runOnWorkers(args, options, jobs);
  process.stdout.write(`${formatSummary(summary)}\n`);
  if (args.json !== undefined) await writeFile(args.json, JSON.stringify(summary));
  return summary.failedSchedules > 0 ? 1 : 0;
}

async function runInline(args: Args, options: ScheduleOptions): Promise<RunSummary> {
  const started = performance.now();
  let lastReport = started;
  return runSchedules(
    args.seed,
    args.schedules,
    options,
    (s) => {
      const now = performance.now();
      if (now - lastReport < 10_000) return;
      lastReport = now;
      progress(s.schedules, args.schedules, s.failedSchedules, s.ids, now - started);
    },
    args.firstFailure,
  );
}

function runOnWorkers(args: Args, options: ScheduleOptions, jobs: number): Promise<RunSummary> {
  const started = performance.now();
  const per = Math.ceil(args.schedules / jobs);
  const latest: RunSummary[] = [];
  let lastReport = started;
  const runs: Promise<RunSummary>[] = [];
  for (let k = 0; k * per < args.schedules; k++) {
    const job: Job = {
      firstSeed: (args.seed + k * per) >>> 0,
      schedules: Math.min(per, args.schedules - k * per),
      options,
    };
    latest.push(emptySummary());
    runs.push(
      new Promise<RunSummary>((resolve, reject) => {
        const worker = new Worker(__filename, { workerData: job });
        worker.on('message', (msg: WorkerMessage) => {
          latest[k] = msg.summary;
          if (msg.kind === 'done') resolve(msg.summary);
          const now = performance.now();
          if (now - lastReport >= 10_000) {
            lastReport = now;
            const s = latest.reduce((acc, x) => (mergeSummary(acc, x), acc), emptySummary());
            progress(s.schedules, args.schedules, s.failedSchedules, s.ids, now - started);
          }
        });
        worker.on('error', reject);
        worker.on('exit', (code) => {
          if (code !== 0) reject(new Error(`simulation worker ${k} exited with code ${code}`));
        });
      }),
    );
  }
  return Promise.all(runs).then((parts) => {
    const total = emptySummary();
    for (const part of parts) mergeSummary(total, part);
    total.elapsedMs = performance.now() - started;
    return total;
  });
}

function progress(done: number, total: number, failed: number, ids: number, elapsedMs: number): void {
  const eta = done === 0 ? 0 : ((total - done) * elapsedMs) / done / 1000;
  process.stdout.write(
    `  ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')} schedules, ${failed} failing, ` +
      `${ids.toLocaleString('en-US')} IDs, ${(elapsedMs / 1000).toFixed(0)} s, ETA ${eta.toFixed(0)} s\n`,
  );
}

async function worker(job: Job): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  let lastPost = 0;
  const summary = await runSchedules(job.firstSeed, job.schedules, job.options, (s) => {
    const now = performance.now();
    if (now - lastPost < 2000) return;
    lastPost = now;
    port.postMessage({ kind: 'progress', summary: s } satisfies WorkerMessage);
  });
  port.postMessage({ kind: 'done', summary } satisfies WorkerMessage);
}

if (isMainThread) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `simulation crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 1;
    },
  );
} else {
  worker(workerData as Job).catch((err: unknown) => {
    throw err;
  });
}
