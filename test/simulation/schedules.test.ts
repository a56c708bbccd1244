import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { assertClean } from './clean-run';
import type { RunSummary } from './run';

const ROOT = path.resolve(__dirname, '../..');
const TSC = require.resolve('typescript/bin/tsc');
const MAIN_JS = path.join(ROOT, 'dist/simulation/test/simulation/main.js');
const SCHEDULES = 10_000;

/** Runs `node args…` in the repository root; resolves with the exit code and output, never rejects on exit ≠ 0. */
function node(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(new Error(`cannot run node: ${err.message}`));
      else resolve({ code: err === null ? 0 : Number(err.code), output: `${stdout}${stderr}` });
    });
  });
}

// The 10,000 schedules run as `npm run simulate` does: compiled, on two worker threads. Inside jest the
// same code runs ~3× slower (every global lookup, BigInt( ) and Math. included, goes through jest's vm
// context), which would take minutes; determinism, liveness and the broken compositions are checked in
// process by simulation.test.ts. Seeds are fixed, so a failure replays with the command it prints.
describe('deterministic fault simulation: 10,000 schedules', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'snowflake-sim-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`GIVEN the schedules of seeds 1…${SCHEDULES} THEN no ID is issued twice and every invariant holds`, async () => {
    const build = await node([TSC, '-p', 'test/simulation/tsconfig.build.json']);
    expect({ build: build.code, output: build.output }).toEqual({ build: 0, output: '' });
    const json = path.join(dir, 'summary.json');
    const args = ['--schedules', String(SCHEDULES), '--seed', '1', '--jobs', '2', '--json', json];
    const run = await node([MAIN_JS, ...args]);
    const summary = JSON.parse(await readFile(json, 'utf8')) as RunSummary;
    assertClean(summary, SCHEDULES);
    expect(run.code).toBe(0);
  }, 600_000);
});
