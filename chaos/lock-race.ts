import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { MAIN_JS } from '../bench/lib/paths';
import { spawnFrozenAtFirstWrite, type FrozenAtWrite } from '../test/helpers/freeze-at-write';
import { exitOf, onExitSync, track, withTimeout } from './lib/processes';
import { callRaw, decodeIds, encodeBatchIdsRequest, METHOD, rawClient } from './lib/wire';

/** Settings of the lock-race phase (flags of chaos/run). */
export interface LockRaceOptions {
  /** Most trials to run; trials alternate between the two ways of racing. */
  readonly trials: number;
  /** No trial starts after this many s (the phase stays short on a slow machine); two always run. */
  readonly budgetSeconds: number;
  /** Work folder (one state dir per trial); the caller removes it. */
  readonly workDir: string;
}

/** What the lock-race phase reports. */
export interface LockRaceReport {
  readonly trials: number;
  /** Trials whose first server was frozen (strace, SIGSTOP) at its lock-file write until the second had finished starting. */
  readonly frozenTrials: number;
  /** Trials whose two servers were started at the same moment, untraced. */
  readonly simultaneousTrials: number;
  readonly oneServing: number;
  readonly bothServing: number;
  readonly noneServing: number;
  /** Trials whose other server exited 1 with STATE_DIR_LOCKED. */
  readonly loserExitedLocked: number;
  /** IDs handed out by both servers of a trial where both served (see {@link duplicatesBetween}). */
  readonly duplicateIds: number;
  readonly seconds: number;
  readonly violations: readonly string[];
}

/** A server process as the race sees it. */
interface Racer {
  readonly child: ChildProcess;
  /** Its `serving` line, or its exit code and last stderr, whichever comes first. */
  readonly outcome: Promise<
    { serving: true; grpcAddr: string } | { serving: false; exit: number | string; stderr: string }
  >;
}

/** Longest a racer may take to serve or exit, in ms (a frozen owner under strace starts slowly). */
const OUTCOME_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
/** Rounds of concurrent BatchIds(10,000) sent to both servers when both serve. */
const DUPLICATE_ROUNDS = 10;

/**
 * Issue 13, finding 1: two real servers on one SNOWFLAKE_STATE_DIR, `trials` times. Even trials freeze
 * the first at its write of the lock file (the window in which the old O_EXCL lock let a second starter
 * delete it) and start the second meanwhile; odd trials start both at once. Violation: both serve, or
 * neither does, or the one that does not serve ends other than exit 1 with STATE_DIR_LOCKED.
 */
export async function runLockRace(options: LockRaceOptions): Promise<LockRaceReport> {
  const startedMs = Date.now();
  const counts = { frozenTrials: 0, simultaneousTrials: 0, oneServing: 0, bothServing: 0, noneServing: 0 };
  let loserExitedLocked = 0;
  let duplicateIds = 0;
  const violations: string[] = [];
  let trial = 0;
  for (; trial < options.trials; trial++) {
    if (trial >= 2 && Date.now() - startedMs > options.budgetSeconds * 1000) break;
    const dir = path.join(options.workDir, 'lock-race', `trial-${trial}`);
    fs.mkdirSync(dir, { recursive: true });
    const frozen = trial % 2 === 0;
    let owner: FrozenAtWrite | undefined;
    const racers: Racer[] = [];
    try {
      if (frozen) {
        counts.frozenTrials += 1;
        owner = spawnFrozenAtFirstWrite(path.join(dir, 'snowflake.lock'), process.execPath, [MAIN_JS], {
          env: serviceEnv(dir),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const frozenOwner = owner;
        onExitSync(() => {
          frozenOwner.kill();
        });
        racers.push(racer(track(owner.child)));
        await owner.frozen;
        racers.push(racer(launch(dir)));
        await racers[1]?.outcome;
        owner.resume();
      } else {
        counts.simultaneousTrials += 1;
        racers.push(racer(launch(dir)), racer(launch(dir)));
      }
      const ends = await Promise.all(racers.map((r) => r.outcome));
      const servers = ends.filter((e) => e.serving);
      if (servers.length === 1) counts.oneServing += 1;
      else if (servers.length === 2) counts.bothServing += 1;
      else counts.noneServing += 1;
      const how = frozen ? 'frozen owner' : 'simultaneous start';
      if (servers.length === 2) {
        const duplicates = await duplicatesBetween(servers.map((s) => s.grpcAddr));
        duplicateIds += duplicates;
        violations.push(
          `trial ${trial} (${how}): both servers SERVING on ${dir}; ${duplicates} duplicate IDs`,
        );
      } else if (servers.length === 0) {
        violations.push(`trial ${trial} (${how}): no server reached SERVING on ${dir}`);
      }
      for (const end of ends) {
        if (end.serving) continue;
        if (end.exit === 1 && end.stderr.includes('STATE_DIR_LOCKED')) loserExitedLocked += 1;
        else violations.push(`trial ${trial} (${how}): a server ended ${end.exit}: ${end.stderr.trim()}`);
      }
    } catch (err) {
      violations.push(`trial ${trial}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await Promise.all(racers.map((r, i) => stop(r.child, i === 0 ? owner : undefined)));
    }
  }
  const seconds = Math.round((Date.now() - startedMs) / 100) / 10;
  return { trials: trial, ...counts, loserExitedLocked, duplicateIds, seconds, violations };
}

function serviceEnv(stateDir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    SNOWFLAKE_GRPC_ADDR: '127.0.0.1:0',
    SNOWFLAKE_METRICS_ADDR: '127.0.0.1:0',
    SNOWFLAKE_STATE_DIR: stateDir,
  };
}

function launch(dir: string): ChildProcess {
  return track(
    spawn(process.execPath, [MAIN_JS], { env: serviceEnv(dir), stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

function racer(child: ChildProcess): Racer {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let grpcAddr = '';
  const outcome = new Promise<Awaited<Racer['outcome']>>((resolve) => {
    if (child.stdout !== null) {
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        let entry: { msg?: unknown; grpcAddr?: unknown };
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          return;
        }
        if (entry.msg === 'snowflake service started') grpcAddr = String(entry.grpcAddr);
        if (entry.msg === 'serving') resolve({ serving: true, grpcAddr });
      });
    }
    child.once('close', (code, signal) => {
      resolve({ serving: false, exit: code ?? signal ?? 'unknown', stderr });
    });
  });
  return { child, outcome: withTimeout(outcome, OUTCOME_TIMEOUT_MS, 'a racing server') };
}

/**
 * How many IDs both servers handed out, over {@link DUPLICATE_ROUNDS} rounds of one BatchIds(10,000)
 * sent to each at the same moment (concurrent calls let their milliseconds overlap).
 */
async function duplicatesBetween(addrs: readonly string[]): Promise<number> {
  const clients = addrs.map(rawClient);
  const seenBy = addrs.map(() => new Set<bigint>());
  try {
    for (let round = 0; round < DUPLICATE_ROUNDS; round++) {
      const results = await Promise.all(
        clients.map((c) => callRaw(c, METHOD.batchIds, encodeBatchIdsRequest(10_000), 5000)),
      );
      results.forEach((r, i) => {
        if (r.ok) for (const id of decodeIds(r.bytes)) seenBy[i]?.add(id);
      });
    }
  } finally {
    for (const c of clients) c.close();
  }
  const [a = new Set<bigint>(), b = new Set<bigint>()] = seenBy;
  let duplicates = 0;
  for (const id of a) if (b.has(id)) duplicates += 1;
  return duplicates;
}

/** SIGTERM (to the traced server itself when it runs under strace), SIGKILL after a grace period. */
async function stop(child: ChildProcess, traced: FrozenAtWrite | undefined): Promise<void> {
  const exited = exitOf(child);
  if (traced !== undefined) traced.signal('SIGTERM');
  else child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (traced !== undefined) traced.kill();
    else child.kill('SIGKILL');
  }, STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
