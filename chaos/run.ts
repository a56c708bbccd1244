import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as prettier from 'prettier';
import { MAIN_JS, ROOT } from '../bench/lib/paths';
import { STRACE } from '../test/helpers/freeze-at-write';
import { runIdleConnections, type IdleConnectionsReport } from './idle-connections';
import { runLoad, type LoadReport } from './load';
import { runLockRace, type LockRaceReport } from './lock-race';
import { LIBFAKETIME, runChaos, type ChaosReport } from './scenario';

const USAGE = `Usage: npm run chaos -- [flags]    (npm run load = --only=load)

  --static             fixed distinct SNOWFLAKE_WORKER_ID per instance instead of etcd leases
  --seconds N          length of the chaos client phase (default 60)
  --load-seconds N     length of the 200-client load phase (default 60)
  --only PHASE         run one phase: lock, chaos, load or idle
  --lock-trials N      two servers racing for one state dir, at most N times in ≤ 25 s (default 10)
  --client-rate N      IDs per second each chaos client asks for at most (default 25000)
  --load-clients N     concurrent load clients (default 200, over 4 processes)
  --rss-limit-mib N    highest server RSS accepted under load (default 512)
  --seed N             seed of the clients' batch sizes (default: random, printed)
  --keep               keep the work folder (state dirs, logs, every ID) even when the run passes

Writes chaos/results/latest.json; exit code 1 when an invariant broke, 2 on bad usage.`;

interface Flags {
  mode: 'etcd' | 'static';
  seconds: number;
  loadSeconds: number;
  only: 'chaos' | 'load' | 'lock' | 'idle' | undefined;
  lockTrials: number;
  clientRate: number;
  loadClients: number;
  rssLimitMiB: number;
  seed: number;
  keep: boolean;
}

function parseFlags(argv: readonly string[]): Flags {
  const flags: Flags = {
    mode: 'etcd',
    seconds: 60,
    loadSeconds: 60,
    only: undefined,
    lockTrials: 10,
    clientRate: 25_000,
    loadClients: 200,
    rssLimitMiB: 512,
    seed: Math.floor(Math.random() * 2 ** 31),
    keep: false,
  };
  const numeric = {
    '--seconds': 'seconds',
    '--load-seconds': 'loadSeconds',
    '--client-rate': 'clientRate',
    '--load-clients': 'loadClients',
    '--rss-limit-mib': 'rssLimitMiB',
    '--seed': 'seed',
    '--lock-trials': 'lockTrials',
  } as const;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [name = '', inline] = arg.split('=', 2);
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (name === '--static') flags.mode = 'static';
    else if (name === '--keep') flags.keep = true;
    else if (name === '--only') {
      const v = value();
      if (v !== 'chaos' && v !== 'load' && v !== 'lock' && v !== 'idle')
        throw new UsageError(`--only must be lock, chaos, load or idle, not ${v}`);
      flags.only = v;
    } else if (name in numeric) {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < 1)
        throw new UsageError(`${name} must be a whole number ≥ 1, not ${v}`);
      flags[numeric[name as keyof typeof numeric]] = Number(v);
    } else if (name === '--help' || name === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new UsageError(`unknown flag ${arg}`);
  }
  return flags;
}

class UsageError extends Error {}

function checkPrerequisites(flags: Flags): void {
  if (!fs.existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: npm run build`);
  if ((flags.only ?? 'chaos') === 'chaos' && !fs.existsSync(LIBFAKETIME))
    throw new Error(`${LIBFAKETIME} is missing: apt-get install faketime`);
  if ((flags.only ?? 'lock') === 'lock' && !fs.existsSync(STRACE))
    throw new Error(`${STRACE} is missing: apt-get install strace`);
}

async function main(): Promise<number> {
  let flags: Flags;
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  checkPrerequisites(flags);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'snowflake-chaos-'));
  const startedAt = new Date().toISOString();
  process.stdout.write(
    `[chaos] mode=${flags.mode} seed=${flags.seed} work dir ${workDir}; load average ${os.loadavg()[0]?.toFixed(2)}\n`,
  );
  let chaos: ChaosReport | undefined;
  let load: LoadReport | undefined;
  let lock: LockRaceReport | undefined;
  let idle: IdleConnectionsReport | undefined;
  const violations: string[] = [];
  try {
    if ((flags.only ?? 'lock') === 'lock') {
      process.stdout.write(
        `[chaos] lock race: two servers on one state dir, up to ${flags.lockTrials} times\n`,
      );
      lock = await runLockRace({ trials: flags.lockTrials, budgetSeconds: 25, workDir });
      violations.push(...lock.violations.map((v) => `lock: ${v}`));
    }
    if ((flags.only ?? 'chaos') === 'chaos') {
      chaos = await runChaos({
        seconds: flags.seconds,
        mode: flags.mode,
        clientIdsPerSecond: flags.clientRate,
        seed: flags.seed,
        workDir,
      });
      violations.push(...chaos.violations.map((v) => `chaos: ${v}`));
    }
    if ((flags.only ?? 'load') === 'load') {
      process.stdout.write(`[chaos] load: ${flags.loadClients} clients for ${flags.loadSeconds} s\n`);
      load = await runLoad({
        seconds: flags.loadSeconds,
        clients: flags.loadClients,
        processes: 4,
        rssLimitMiB: flags.rssLimitMiB,
        seed: flags.seed,
        workDir,
      });
      violations.push(...load.violations.map((v) => `load: ${v}`));
    }
    if ((flags.only ?? 'idle') === 'idle') {
      process.stdout.write('[chaos] idle connections: 300 per port and wave at 256 open files for 20 s\n');
      idle = await runIdleConnections({ seconds: 20, connections: 300, workDir });
      violations.push(...idle.violations.map((v) => `idle connections: ${v}`));
    }
  } catch (err) {
    violations.push(`run aborted: ${err instanceof Error ? err.message : String(err)}`);
  }

  const summary = {
    startedAt,
    finishedAt: new Date().toISOString(),
    passed: violations.length === 0,
    violations,
    ...(chaos !== undefined && { chaos: summarizeChaos(chaos) }),
    ...(load !== undefined && { load }),
    ...(lock !== undefined && { lock }),
    ...(idle !== undefined && { idleConnections: idle }),
  };
  const resultsDir = path.join(ROOT, 'chaos/results');
  fs.mkdirSync(resultsDir, { recursive: true });
  const resultsFile = path.join(resultsDir, 'latest.json');
  // Formatted as the repository's Prettier config wants, so that `npm run lint` stays clean after a run.
  const options = await prettier.resolveConfig(resultsFile);
  fs.writeFileSync(
    resultsFile,
    await prettier.format(JSON.stringify(summary), { ...options, filepath: resultsFile }),
  );
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  if (violations.length === 0 && !flags.keep) fs.rmSync(workDir, { recursive: true, force: true });
  else process.stdout.write(`[chaos] work dir kept: ${workDir}\n`);
  process.stdout.write(
    `[chaos] ${violations.length === 0 ? 'PASSED' : `FAILED: ${violations.length} violations`}\n`,
  );
  return violations.length === 0 ? 0 : 1;
}

/** The report with lives reduced to a count and the unexpected exits (kept short for the console). */
function summarizeChaos(report: ChaosReport) {
  const { lives, clients, ...rest } = report;
  return {
    ...rest,
    lives: lives.length,
    unexpectedExits: lives.filter((l) => l.end === 'exited'),
    clientCalls: clients.reduce((s, c) => s + c.calls, 0),
  };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`[chaos] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`[chaos] ${signal}: killing every process started\n`);
    process.exit(130);
  });
}
