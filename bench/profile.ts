/**
 * `npm run bench:profile`: where the server's time goes. Runs each scenario against a server child
 * started with `node --cpu-prof`, stops it (the profile is written on exit), and prints the top
 * self-time functions, the service's own functions by total time, and time per category, counting only
 * samples from the measured window. Profiles stay in a temp folder (open them in Chrome DevTools);
 * the summary is written to bench/results/profile-latest.json.
 *
 *   npm run bench:profile                       batch, batch-4096, next-id and next-id-baseline, 5 s each
 *   npm run bench:profile -- --only=batch       one scenario
 *   PROFILE_SECONDS=10 PROFILE_TOP=40           longer window, more rows
 *   PROFILE_IN_FLIGHT=1                         NextId calls in flight (default 64)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildServer } from './lib/child';
import { summariseProfile, type CpuProfile, type ProfileEntry, type ProfileSummary } from './lib/cpuprofile';
import { runBatchLoad, runNextIdLoad, type LoadResult, type LoadWindow } from './lib/load';
import { RESULTS_DIR } from './lib/paths';
import { machineInfo, writeJson } from './lib/report';
import { startBaseline, startService, type ServerChildOptions } from './lib/servers';
import { formatNumber, sleep } from './lib/stats';
import { connect, type Transport } from './lib/wire';

interface Scenario {
  readonly name: string;
  readonly describe: string;
  readonly start: (options: ServerChildOptions) => Promise<ChildServer>;
  readonly load: (client: Transport, window: LoadWindow) => Promise<LoadResult & { count?: number }>;
  readonly concurrency: number;
}

/** NextId calls in flight in the next-id scenarios (PROFILE_IN_FLIGHT, default 64). */
const NEXT_ID_IN_FLIGHT = Number(process.env.PROFILE_IN_FLIGHT ?? 64);

const SCENARIOS: readonly Scenario[] = [
  {
    name: 'batch',
    describe: 'service, BatchIds count=10000, 4 callers',
    start: startService,
    load: (client, window) => runBatchLoad(client, 10_000, window),
    concurrency: 4,
  },
  {
    name: 'batch-4096',
    describe: 'service, BatchIds count=4096 (one whole tick), 4 callers',
    start: startService,
    load: (client, window) => runBatchLoad(client, 4096, window),
    concurrency: 4,
  },
  {
    name: 'next-id',
    describe: `service, NextId, ${NEXT_ID_IN_FLIGHT} in flight`,
    start: startService,
    load: (client, window) => runNextIdLoad(client, window, true),
    concurrency: NEXT_ID_IN_FLIGHT,
  },
  {
    name: 'next-id-baseline',
    describe: `empty-handler baseline, NextId, ${NEXT_ID_IN_FLIGHT} in flight`,
    start: startBaseline,
    load: (client, window) => runNextIdLoad(client, window, false),
    concurrency: NEXT_ID_IN_FLIGHT,
  },
];

interface ScenarioResult {
  readonly scenario: string;
  readonly describe: string;
  readonly profileFile: string;
  readonly callsPerSecond: number;
  /** Calls answered within the window: divides sampled time into time per call. */
  readonly calls: number;
  readonly idsPerCall: number | undefined;
  readonly idsPerSecond: number | undefined;
  readonly serverCpuCores: number | undefined;
  readonly serverCpuMicrosPerCall: number | undefined;
  readonly summary: Omit<ProfileSummary, 'functions'> & { readonly functions: readonly ProfileEntry[] };
}

async function profileScenario(
  scenario: Scenario,
  dir: string,
  measureMs: number,
  warmupMs: number,
  top: number,
): Promise<ScenarioResult> {
  const profileDir = path.join(dir, scenario.name);
  fs.mkdirSync(profileDir, { recursive: true });
  const server = await scenario.start({
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-interval=250'],
  });
  const client = connect('http2', server.grpcAddr);
  let result: LoadResult & { count?: number };
  let stopMs: number;
  try {
    await client.ready();
    result = await scenario.load(client, {
      concurrency: scenario.concurrency,
      warmupMs,
      measureMs,
      serverCpuSeconds: server.cpuSeconds,
    });
  } finally {
    client.close();
    // Let the calls in flight drain so the window's end is close to the profile's end, then stop.
    await sleep(50);
    const stopStarted = performance.now();
    await server.stop();
    stopMs = performance.now() - stopStarted;
  }
  const file = fs.readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile in ${profileDir}`);
  const profileFile = path.join(profileDir, file);
  const profile = JSON.parse(fs.readFileSync(profileFile, 'utf8')) as CpuProfile;
  // The window closed, calls drained (≤ p99 latency), 50 ms passed, then shutdown took stopMs.
  const summary = summariseProfile(profile, result.seconds * 1000, stopMs + 50 + result.p99Ms);
  const serverCpuMicrosPerCall =
    result.serverCpu === undefined ? undefined : (result.serverCpu * 1e6) / result.callsPerSecond;
  return {
    scenario: scenario.name,
    describe: scenario.describe,
    profileFile,
    callsPerSecond: result.callsPerSecond,
    calls: result.calls,
    idsPerCall: result.count,
    idsPerSecond: result.count === undefined ? undefined : result.callsPerSecond * result.count,
    serverCpuCores: result.serverCpu,
    serverCpuMicrosPerCall,
    summary: {
      ...summary,
      functions: [
        ...summary.functions.slice(0, top),
        // Plus the service's own functions by total time, wherever they rank by self time.
        ...summary.functions
          .filter((f) => f.category === 'service code (dist/)')
          .sort((a, b) => b.totalMs - a.totalMs)
          .slice(0, top)
          .filter((f) => !summary.functions.slice(0, top).includes(f)),
      ],
    },
  };
}

function formatScenario(r: ScenarioResult, top: number): string {
  const pct = (v: number) => `${(v * 100).toFixed(1).padStart(5)} %`;
  const perCall = (ms: number) => `${((ms * 1000) / r.calls).toFixed(2).padStart(8)} µs/call`;
  const perId = (ms: number) =>
    r.idsPerCall === undefined
      ? ''
      : `${((ms * 1e6) / (r.calls * r.idsPerCall)).toFixed(1).padStart(6)} ns/ID`;
  const row = (e: ProfileEntry) =>
    `   ${pct(e.selfShare)} ${pct(e.totalShare)} ${perCall(e.selfMs)} ${perId(e.selfMs)}  ${e.name}`;
  const lines = [
    `== ${r.scenario}: ${r.describe}`,
    `   ${formatNumber(r.callsPerSecond)} calls/s` +
      (r.idsPerSecond === undefined ? '' : `, ${formatNumber(r.idsPerSecond)} IDs/s`) +
      `; server CPU ${r.serverCpuCores === undefined ? 'n/a' : pct(r.serverCpuCores).trim()} of a core` +
      (r.serverCpuMicrosPerCall === undefined
        ? ''
        : ` (all threads), ${r.serverCpuMicrosPerCall.toFixed(1)} µs CPU per call`) +
      `; main thread busy ${pct(r.summary.busyShare).trim()} of ${formatNumber(r.summary.windowMs)} ms sampled`,
    `   profile: ${r.profileFile}`,
    '',
    '   by category:  self    (= total)   self time per call',
    ...r.summary.categories.map(row),
    '',
    `   top ${top} functions by self time:  self   total   self time per call`,
    ...r.summary.functions.slice(0, top).map((f) => `${row(f)}  [${f.category}]`),
    '',
    '   service code by total time:  self   total   self time per call',
    ...r.summary.functions
      .filter((f) => f.category === 'service code (dist/)' || f.category === 'benchmark code (dist/bench/)')
      .sort((a, b) => b.totalMs - a.totalMs)
      .slice(0, top)
      .map(row),
  ];
  return lines.join('\n');
}

/** Per-call self time by category of `a` minus `b` (e.g. the service minus the empty-handler baseline). */
function formatDiff(a: ScenarioResult, b: ScenarioResult): string {
  const perCall = (r: ScenarioResult) =>
    new Map(r.summary.categories.map((c) => [c.name, (c.selfMs * 1000) / r.calls]));
  const [pa, pb] = [perCall(a), perCall(b)];
  const names = [...new Set([...pa.keys(), ...pb.keys()])].filter((n) => n !== '(idle)');
  const rows = names
    .map((n) => ({ n, a: pa.get(n) ?? 0, b: pb.get(n) ?? 0 }))
    .sort((x, y) => Math.abs(y.a - y.b) - Math.abs(x.a - x.b));
  const sum = (m: Map<string, number>) => names.reduce((s, n) => s + (m.get(n) ?? 0), 0);
  return [
    `== ${a.scenario} minus ${b.scenario}: main-thread busy time per call, by category`,
    `   ${sum(pa).toFixed(2)} µs/call vs ${sum(pb).toFixed(2)} µs/call (difference ${(sum(pa) - sum(pb)).toFixed(2)})`,
    ...rows.map(
      (r) =>
        `   ${(r.a - r.b >= 0 ? '+' : '') + (r.a - r.b).toFixed(2).padStart(7)} µs  (${r.a.toFixed(2)} vs ${r.b.toFixed(2)})  ${r.n}`,
    ),
  ].join('\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const only = argv
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const scenarios = only === undefined ? SCENARIOS : SCENARIOS.filter((s) => only.includes(s.name));
  if (scenarios.length === 0) throw new Error(`--only: use ${SCENARIOS.map((s) => s.name).join(',')}`);
  const measureMs = Number(process.env.PROFILE_SECONDS ?? 5) * 1000;
  const top = Number(process.env.PROFILE_TOP ?? 25);
  if (!(measureMs > 0 && measureMs <= 120_000)) throw new Error('PROFILE_SECONDS: 0 < seconds ≤ 120');
  if (!(Number.isInteger(top) && top > 0 && top <= 500)) throw new Error('PROFILE_TOP: an integer 1…500');
  if (!(Number.isInteger(NEXT_ID_IN_FLIGHT) && NEXT_ID_IN_FLIGHT >= 1 && NEXT_ID_IN_FLIGHT <= 1000))
    throw new Error('PROFILE_IN_FLIGHT: an integer 1…1000');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-profile-'));
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) {
    const r = await profileScenario(scenario, dir, measureMs, 1000, top);
    results.push(r);
    process.stdout.write(`${formatScenario(r, top)}\n\n`);
  }
  const ours = results.find((r) => r.scenario === 'next-id');
  const base = results.find((r) => r.scenario === 'next-id-baseline');
  if (ours !== undefined && base !== undefined) process.stdout.write(`${formatDiff(ours, base)}\n\n`);
  const file = path.join(RESULTS_DIR, 'profile-latest.json');
  writeJson(file, { machine: machineInfo(), results });
  process.stdout.write(`summary written to ${path.relative(process.cwd(), file)}; profiles in ${dir}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `profile failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 2;
});
