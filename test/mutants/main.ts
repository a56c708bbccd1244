import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { argsOrExitCode } from '../simulation/cli-args';
import type { RunSummary } from '../simulation/run';
import { MUTANTS, type Mutant } from './mutants';

const USAGE = `npm run mutants -- [--only NAME] [--jobs J] [--seed S] [--schedules N] [--trace] [--keep] [--list]

Applies each named source mutation (see test/mutants/mutants.ts) to a scratch copy of the tree, one at a
time, builds it, runs the simulation on the mutant's seeds (stopping at the first failing schedule) and
its unit test files, and prints one row per mutant: what caught it (the invariant, the seed and the
command that replays it, the failing tests) or MISSED. Exit code 1 when a mutant is missed, stale (its
text is not in the source exactly once) or does not compile.
  --only NAME    run this mutant only
  --jobs J       mutants run at once (default 2)
  --seed S       first seed of the simulation (default 1)
  --schedules N  schedules per mutant (default: the mutant's own number)
  --trace        print the simulation's event log (with --only and --schedules 1)
  --keep         keep the scratch copies (their paths are printed)
  --list         list the mutants and exit`;

/** The repository root: this file runs from dist/mutants/test/mutants/. */
const ROOT = path.resolve(__dirname, '../../../..');
/** What a scratch copy needs to build the simulation and run the unit tests; node_modules is linked. */
const COPIED = ['src', 'test', 'proto', 'packages', 'package.json', 'tsconfig.json', 'jest.config.js'];
/** Not copied from COPIED folders: installs and build output (the scratch copy links the root's node_modules). */
const NOT_COPIED = new Set(['node_modules', 'dist']);
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const JEST = path.join(ROOT, 'node_modules/jest/bin/jest.js');
/** Generous bounds on one step of one mutant (a loaded machine must not fail a row by a timeout). */
const BUILD_TIMEOUT_MS = 300_000;
const SIMULATION_TIMEOUT_MS = 1_200_000;
const TESTS_TIMEOUT_MS = 600_000;

interface Args {
  readonly only: string | undefined;
  readonly jobs: number;
  readonly seed: number;
  readonly schedules: number | undefined;
  readonly trace: boolean;
  readonly keep: boolean;
  readonly list: boolean;
}

/** The simulation's first failing schedule. */
interface SimulationCatch {
  readonly seed: number;
  readonly kinds: readonly string[];
  readonly first: string;
}

type Outcome =
  | { readonly kind: 'caught'; readonly simulation?: SimulationCatch; readonly tests: readonly string[] }
  | { readonly kind: 'missed'; readonly seeds: string; readonly tests: readonly string[] }
  | { readonly kind: 'equivalent'; readonly seeds: string; readonly reason: string }
  | { readonly kind: 'stale'; readonly occurrences: number }
  | { readonly kind: 'broken'; readonly output: string };

interface Row {
  readonly mutant: Mutant;
  readonly outcome: Outcome;
  readonly seconds: number;
}

function parseArgs(argv: readonly string[]): Args | string {
  let only: string | undefined;
  let jobs = 2;
  let seed = 1;
  let schedules: number | undefined;
  let trace = false;
  let keep = false;
  let list = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const value = argv[i + 1];
    const whole = (min: number, max: number): number | undefined => {
      i++;
      const n = value !== undefined && /^\d+$/.test(value) ? Number(value) : NaN;
      return n >= min && n <= max ? n : undefined;
    };
    if (arg === '--only') {
      i++;
      if (value === undefined || !MUTANTS.some((m) => m.name === value)) {
        return `--only must name a mutant (--list shows them); got ${String(value)}`;
      }
      only = value;
    } else if (arg === '--jobs') {
      const v = whole(1, 16);
      if (v === undefined) return `--jobs must be a whole number from 1 to 16; got ${String(value)}`;
      jobs = v;
    } else if (arg === '--seed') {
      const v = whole(0, 2 ** 32 - 1);
      if (v === undefined) return `--seed must be a whole number from 0 to 4294967295; got ${String(value)}`;
      seed = v;
    } else if (arg === '--schedules') {
      const v = whole(1, 1e9);
      if (v === undefined) return `--schedules must be a whole number ≥ 1; got ${String(value)}`;
      schedules = v;
    } else if (arg === '--trace') {
      trace = true;
    } else if (arg === '--keep') {
      keep = true;
    } else if (arg === '--list') {
      list = true;
    } else {
      return `unknown argument ${arg}`;
    }
  }
  if (trace && only === undefined) return '--trace needs --only NAME';
  return { only, jobs, seed, schedules, trace, keep, list };
}

/** Runs `node args…` in `cwd`; resolves with the exit code and the output, never rejects on exit ≠ 0. */
function node(
  args: readonly string[],
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number' && err.killed !== true) {
          reject(new Error(`cannot run node ${args.join(' ')}: ${err.message}`));
        } else
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
      },
    );
  });
}

/** The command that replays what caught `mutant` in the simulation. */
export function replayCommand(mutant: Mutant, seed: number): string {
  return `npm run mutants -- --only ${mutant.name} --seed ${seed} --schedules 1`;
}

/** How often `search` occurs in `text`. */
function occurrences(text: string, search: string): number {
  let n = 0;
  for (let at = text.indexOf(search); at !== -1; at = text.indexOf(search, at + 1)) n++;
  return n;
}

async function runMutant(mutant: Mutant, args: Args, log: (line: string) => void): Promise<Outcome> {
  const original = readFileSync(path.join(ROOT, mutant.file), 'utf8');
  const found = occurrences(original, mutant.search);
  if (found !== 1) return { kind: 'stale', occurrences: found };

  const scratch = mkdtempSync(path.join(tmpdir(), `snowflake-mutant-${mutant.name}-`));
  try {
    for (const entry of COPIED)
      cpSync(path.join(ROOT, entry), path.join(scratch, entry), {
        recursive: true,
        filter: (from) => !NOT_COPIED.has(path.basename(from)),
      });
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(scratch, 'node_modules'), 'dir');
    writeFileSync(
      path.join(scratch, mutant.file),
      original.replace(mutant.search, () => mutant.replace),
    );

    const build = await node([TSC, '-p', 'test/simulation/tsconfig.build.json'], scratch, BUILD_TIMEOUT_MS);
    if (build.code !== 0) return { kind: 'broken', output: `${build.stdout}${build.stderr}` };

    const schedules = args.schedules ?? mutant.schedules;
    const json = path.join(scratch, 'simulation.json');
    const simulation = await node(
      [
        'dist/simulation/test/simulation/main.js',
        '--seed',
        String(args.seed),
        '--schedules',
        String(schedules),
        '--first-failure',
        '--json',
        json,
        ...(args.trace ? ['--trace'] : []),
      ],
      scratch,
      SIMULATION_TIMEOUT_MS,
    );
    if (args.trace) log(simulation.stdout);
    let caught: SimulationCatch | undefined;
    try {
      const summary = JSON.parse(readFileSync(json, 'utf8')) as RunSummary;
      const failure = summary.failures[0];
      if (failure !== undefined) caught = { seed: failure.seed, kinds: failure.kinds, first: failure.first };
    } catch {
      // No summary: the simulation itself crashed, which is a catch only if it says so.
      const output = `${simulation.stdout}${simulation.stderr}`;
      return {
        kind: 'broken',
        output: `the simulation did not finish (exit ${simulation.code}):\n${output}`,
      };
    }

    const tests =
      mutant.tests === undefined ? { failed: [], broken: [] } : await runTests(mutant.tests, scratch);
    // A test file that does not even load proves nothing about the mutant: the row is broken, not caught.
    if (tests.broken.length > 0) return { kind: 'broken', output: tests.broken.join('\n') };
    const failedTests = tests.failed;
    if (caught === undefined && failedTests.length === 0) {
      const seeds = `seeds ${args.seed}–${args.seed + schedules - 1}`;
      return mutant.equivalent === undefined
        ? { kind: 'missed', seeds, tests: mutant.tests ?? [] }
        : { kind: 'equivalent', seeds, reason: mutant.equivalent };
    }
    return { kind: 'caught', ...(caught !== undefined && { simulation: caught }), tests: failedTests };
  } finally {
    if (args.keep) log(`  ${mutant.name}: scratch copy kept in ${scratch}`);
    else rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Runs `files` with jest in `scratch`; resolves with `file: test name` of the first failing test of each
 * file (`failed`), and `file: message` of each file that failed to load or compile (`broken`).
 */
async function runTests(
  files: readonly string[],
  scratch: string,
): Promise<{ failed: string[]; broken: string[] }> {
  const json = path.join(scratch, 'jest.json');
  const run = await node(
    [JEST, '--ci', '--maxWorkers=1', '--json', '--outputFile', json, ...files],
    scratch,
    TESTS_TIMEOUT_MS,
  );
  interface JestReport {
    readonly testResults: readonly {
      readonly name: string;
      readonly message: string;
      readonly assertionResults: readonly { readonly status: string; readonly fullName: string }[];
    }[];
  }
  let report: JestReport;
  try {
    report = JSON.parse(readFileSync(json, 'utf8')) as JestReport;
  } catch {
    throw new Error(`jest wrote no report (exit ${run.code}):\n${run.stdout}${run.stderr}`);
  }
  const failed: string[] = [];
  const broken: string[] = [];
  for (const file of report.testResults) {
    const name = path.relative(scratch, file.name);
    const test = file.assertionResults.find((a) => a.status === 'failed');
    // A file that fails to compile or load has no test results, only a message.
    if (test !== undefined) failed.push(`${name}: "${test.fullName}"`);
    else if (file.message !== '') broken.push(`${name}: ${file.message.split('\n').slice(0, 12).join('\n')}`);
  }
  return { failed, broken };
}

function formatRow(row: Row): string {
  const { mutant, outcome } = row;
  const head = `${mutant.name.padEnd(44)} `;
  const seconds = `(${row.seconds.toFixed(0)} s)`;
  switch (outcome.kind) {
    case 'stale':
      return `${head}STALE: its text occurs ${outcome.occurrences} times in ${mutant.file}, not once`;
    case 'broken':
      return `${head}BROKEN: ${outcome.output.trim().split('\n').slice(0, 20).join('\n    ')}`;
    case 'equivalent':
      return `${head}EQUIVALENT, not caught in ${outcome.seeds}, as expected: ${outcome.reason} ${seconds}`;
    case 'missed':
      return (
        `${head}MISSED by the simulation (${outcome.seeds}) ` +
        `${outcome.tests.length === 0 ? '' : `and ${outcome.tests.join(', ')} `}${seconds}`
      );
    case 'caught': {
      const lines: string[] = [];
      const sim = outcome.simulation;
      if (sim !== undefined) {
        lines.push(`${sim.kinds.join(', ')} at seed ${sim.seed}: ${replayCommand(mutant, sim.seed)}`);
        lines.push(`  ${sim.first.length > 300 ? `${sim.first.slice(0, 300)}…` : sim.first}`);
      } else lines.push(`not by the simulation; replay: npm run mutants -- --only ${mutant.name}`);
      for (const test of outcome.tests) lines.push(`test ${test}`);
      return `${head}${lines[0] ?? ''} ${seconds}${lines
        .slice(1)
        .map((l) => `\n${' '.repeat(45)}${l}`)
        .join('')}`;
    }
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const args = argsOrExitCode(argv, USAGE, parseArgs);
  if (typeof args === 'number') return args;
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  const selected = MUTANTS.filter((m) => args.only === undefined || m.name === args.only);
  if (args.list) {
    for (const m of selected) {
      const note = m.equivalent !== undefined ? ' (equivalent)' : '';
      log(`${m.name.padEnd(44)} ${m.file}${note}\n  ${m.description}`);
    }
    return 0;
  }
  const started = performance.now();
  log(`${selected.length} mutants, ${args.jobs} at a time, simulation seeds from ${args.seed}`);
  const rows: Row[] = new Array<Row>(selected.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < selected.length; i = next++) {
      const mutant = selected[i] as Mutant;
      const t0 = performance.now();
      const outcome = await runMutant(mutant, args, log);
      const row: Row = { mutant, outcome, seconds: (performance.now() - t0) / 1000 };
      rows[i] = row;
      log(formatRow(row));
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.jobs, selected.length) }, worker));

  const count = (kind: Outcome['kind']): number => rows.filter((r) => r.outcome.kind === kind).length;
  const failed = count('missed') + count('stale') + count('broken');
  log('');
  log(`mutant${' '.repeat(39)}caught by`);
  for (const row of rows) log(formatRow(row));
  log('');
  log(
    `wall time ${((performance.now() - started) / 1000).toFixed(0)} s; ${count('equivalent')} equivalent, ` +
      `${count('stale')} stale, ${count('broken')} not compiling`,
  );
  log(`${count('caught')} caught, ${count('missed')} missed`);
  return failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `mutants crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
