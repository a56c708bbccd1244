import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launch, scrapeLife, stopLife } from './lib/instance';
import { IdSet } from './lib/id-set';
import type { LoadClientConfig, LoadClientDone } from './lib/messages';
import { exitOf, rssBytes, sleep, track } from './lib/processes';

/** Settings of the load phase (flags of chaos/run). */
export interface LoadOptions {
  readonly seconds: number;
  /** Concurrent clients in all, each on its own connection. */
  readonly clients: number;
  /** Processes the clients are spread over. */
  readonly processes: number;
  /** Highest server RSS accepted, in MiB. */
  readonly rssLimitMiB: number;
  readonly seed: number;
  readonly workDir: string;
}

/** What the load phase reports. */
export interface LoadReport {
  readonly seconds: number;
  readonly clients: number;
  readonly calls: number;
  readonly callsPerSecond: number;
  readonly idsChecked: number;
  readonly duplicates: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly errorExamples: Readonly<Record<string, string>>;
  /** Call latency: percentiles of a sample, and the slowest call with when it started (s into the load). */
  readonly latencyMs: {
    readonly p50: number;
    readonly p99: number;
    readonly max: number;
    readonly maxAtS: number;
  };
  /**
   * Server RSS in MiB, sampled every 500 ms: before the load, 5 s into it (connections open, warm),
   * halfway, at the end, and the highest sample.
   */
  readonly rssMiB: {
    readonly idle: number;
    readonly warm: number;
    readonly half: number;
    readonly end: number;
    readonly max: number;
  };
  readonly idsCountedByServer: number | null;
  /** IDs the server counted that no client received (answers past their deadline). */
  readonly idsLostInFlight: number | null;
  readonly violations: string[];
}

/** Errors a loaded server may answer with: limits and deadlines, nothing else. */
const ALLOWED_ERRORS = new Set(['RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED']);
const DEADLINE_MS = 5000;

/**
 * `clients` concurrent clients against one service process for `seconds`: every answer is an ID or an
 * allowed error, no ID repeats, and the server's RSS (sampled every 500 ms) stays under the limit.
 */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const stateDir = path.join(options.workDir, 'load-state');
  const clientDir = path.join(options.workDir, 'load-clients');
  fs.mkdirSync(stateDir, { recursive: true });
  fs.mkdirSync(clientDir, { recursive: true });
  const life = launch({
    id: 0,
    instance: 'load',
    note: 'load target',
    // A 10 s reservation lead: this phase is about 200 clients (no duplicate, bounded memory), not disk
    // latency. With 200 clients on 2 cores an event-loop turn can take long enough that the state file's
    // chain of async writes (open, write, fsync, close, rename, fsync of the dir) runs past the 1 s that
    // the default 2 s lead allows before the keeper (correctly) refuses; the chaos phase covers slow disks.
    env: { SNOWFLAKE_STATE_DIR: stateDir, SNOWFLAKE_WORKER_ID: '0', SNOWFLAKE_RESERVATION_MS: '10000' },
    logDir: options.workDir,
  });
  const violations: string[] = [];
  const rss: { atS: number; bytes: number }[] = [];
  let sampler: NodeJS.Timeout | undefined;
  try {
    const { grpcAddr } = await life.listening;
    const pid = life.child.pid ?? 0;
    await sleep(500);
    const idle = rssBytes(pid) ?? 0;
    const loadStartMs = Date.now();
    sampler = setInterval(() => {
      const bytes = rssBytes(pid);
      if (bytes !== undefined) rss.push({ atS: (Date.now() - loadStartMs) / 1000, bytes });
    }, 500);

    const configs: LoadClientConfig[] = Array.from({ length: options.processes }, (_, p) => ({
      index: p,
      addr: grpcAddr,
      channels:
        Math.floor(options.clients / options.processes) + (p < options.clients % options.processes ? 1 : 0),
      seconds: options.seconds,
      deadlineMs: DEADLINE_MS,
      idsFile: path.join(clientDir, `load-${p}.bin`),
      seed: (options.seed + p * 104_729) >>> 0,
    }));
    const children = configs.map((config) =>
      track(
        fork(path.join(__dirname, 'load-client.js'), [], {
          env: { PATH: process.env.PATH ?? '', CHAOS_LOAD_CLIENT: JSON.stringify(config) },
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        }),
      ),
    );
    const killer = setTimeout(
      () => {
        for (const c of children) c.kill('SIGKILL');
      },
      (options.seconds + 30) * 1000,
    );
    const done = await Promise.all(
      children.map(
        (c) =>
          new Promise<LoadClientDone | undefined>((resolve) => {
            c.on('message', (m: LoadClientDone) => {
              resolve(m);
            });
            c.once('exit', () => {
              resolve(undefined);
            });
          }),
      ),
    );
    clearTimeout(killer);
    await Promise.all(children.map((c) => exitOf(c)));
    clearInterval(sampler);
    await scrapeLife(life, true);
    const stopCode = await stopLife(life, 15_000);
    if (stopCode !== 0) violations.push(`the server exited with ${stopCode} on SIGTERM after the load`);

    const finished = done.filter((d) => d !== undefined);
    if (finished.length < done.length)
      violations.push(`${done.length - finished.length} load processes did not report`);
    const ids = new IdSet();
    for (const config of configs) {
      const bytes = fs.readFileSync(config.idsFile);
      ids.addLittleEndian(bytes, 0, bytes.length / 8);
    }
    const { duplicates, examples } = ids.duplicates(10);
    if (duplicates > 0) violations.push(`${duplicates} duplicate IDs (e.g. ${examples.join(', ')})`);
    const errors: Record<string, number> = {};
    const errorExamples: Record<string, string> = {};
    for (const d of finished) {
      for (const [name, n] of Object.entries(d.errors)) errors[name] = (errors[name] ?? 0) + n;
      Object.assign(errorExamples, d.errorExamples);
    }
    for (const [name, n] of Object.entries(errors))
      if (!ALLOWED_ERRORS.has(name))
        violations.push(`${n} calls failed with ${name}: ${errorExamples[name] ?? ''}`);
    const received = finished.reduce((s, d) => s + d.ids, 0);
    if (received !== ids.size) violations.push(`clients reported ${received} IDs but wrote ${ids.size}`);
    const counted = life.lastScrape ?? null;
    if (counted !== null && counted < received)
      violations.push(`the server counted ${counted} IDs but clients received ${received}`);

    const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    const maxRss = Math.max(idle, ...rss.map((r) => r.bytes));
    const rssAt = (s: number) => rss.find((r) => r.atS >= s)?.bytes ?? rss.at(-1)?.bytes ?? idle;
    if (maxRss > options.rssLimitMiB * 2 ** 20)
      violations.push(`server RSS reached ${mib(maxRss)} MiB, over the ${options.rssLimitMiB} MiB limit`);
    const latencies = finished.flatMap((d) => d.latencySampleMs).sort((a, b) => a - b);
    const round = (v: number) => Math.round(v * 100) / 100;
    const pct = (p: number) => round(latencies[Math.floor((latencies.length - 1) * p)] ?? 0);
    const calls = finished.reduce((s, d) => s + d.calls, 0);
    const slowest = finished.reduce((a, d) => (d.slowest.ms > a.ms ? d.slowest : a), { ms: 0, atS: 0 });
    return {
      seconds: options.seconds,
      clients: options.clients,
      calls,
      callsPerSecond: Math.round(calls / options.seconds),
      idsChecked: ids.size,
      duplicates,
      errors,
      errorExamples,
      latencyMs: { p50: pct(0.5), p99: pct(0.99), max: round(slowest.ms), maxAtS: round(slowest.atS) },
      rssMiB: {
        idle: mib(idle),
        warm: mib(rssAt(Math.min(5, options.seconds / 2))),
        half: mib(rssAt(options.seconds / 2)),
        end: mib(rss.at(-1)?.bytes ?? idle),
        max: mib(maxRss),
      },
      idsCountedByServer: counted,
      idsLostInFlight: counted === null ? null : counted - received,
      violations,
    };
  } finally {
    clearInterval(sampler);
    if (life.end === undefined) await stopLife(life, 5000);
  }
}
