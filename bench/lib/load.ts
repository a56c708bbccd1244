import { performance } from 'node:perf_hooks';
import { DEFAULT_LAYOUT } from '../../src/core/layout';
import { percentile } from './stats';
import {
  BATCH_IDS_PATH,
  decodeNextIdResponse,
  encodeBatchIdsRequest,
  NEXT_ID_PATH,
  NEXT_ID_REQUEST,
  scanBatchIdsResponse,
  type Transport,
} from './wire';

/** Shape of a closed-loop run: `concurrency` callers, each sending its next call when the last one answers. */
export interface LoadWindow {
  readonly concurrency: number;
  /** Calls before the measured window, in ms (their responses are still checked, not counted). */
  readonly warmupMs: number;
  /** Length of the measured window, in ms. */
  readonly measureMs: number;
  /** CPU seconds used so far by the server process, to report its utilisation over the window. */
  readonly serverCpuSeconds?: () => number | undefined;
}

/** What a closed-loop run measured over its window. */
export interface LoadResult {
  /** Actual window length, in s. */
  readonly seconds: number;
  /** Calls answered OK within the window. */
  readonly calls: number;
  readonly callsPerSecond: number;
  /** Calls answered with an error status (any time), and the first such error. */
  readonly errors: number;
  readonly firstError: string | undefined;
  /** Responses that did not decode as the expected message, or failed a check (any time). */
  readonly invalid: number;
  /** Latency of the calls answered within the window, in ms: percentiles, and every sample ascending. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly latenciesMs: Float64Array;
  /** CPU use over the window, in cores (1 = one core busy): this process, and the server when known. */
  readonly clientCpu: number;
  readonly serverCpu: number | undefined;
}

/** Latency samples kept per run (enough for minutes at the call rates seen here; bounded memory). */
const MAX_LATENCY_SAMPLES = 2_000_000;
/** After an error, wait this long before that caller sends again (no hot loop against a dead server). */
const ERROR_BACKOFF_MS = 20;
/** Longest wait for calls still in flight when the window closes, in ms. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * Runs `concurrency` closed-loop callers of one unary method for warmupMs + measureMs and then lets the
 * calls in flight finish (bounded). `check` sees every OK response and says whether it is valid.
 */
export function runClosedLoop(
  client: Transport,
  methodPath: string,
  request: Buffer,
  window: LoadWindow,
  check: (response: Buffer) => boolean,
): Promise<LoadResult> {
  return new Promise((resolve) => {
    const latencies: number[] = [];
    let calls = 0;
    let errors = 0;
    let invalid = 0;
    let firstError: string | undefined;
    let inFlight = 0;
    let finished = false;
    const start = performance.now();
    const measureStart = start + window.warmupMs;
    const measureEnd = measureStart + window.measureMs;
    let measuring = false;
    let openedAt = measureStart;
    let clientCpuAtStart = process.cpuUsage();
    let serverCpuAtStart: number | undefined;
    let windowResult: Omit<LoadResult, 'errors' | 'firstError' | 'invalid'> | undefined;

    const openWindow = () => {
      measuring = true;
      openedAt = performance.now();
      clientCpuAtStart = process.cpuUsage();
      serverCpuAtStart = window.serverCpuSeconds?.();
    };
    const closeWindow = () => {
      measuring = false;
      const seconds = (performance.now() - openedAt) / 1000;
      const cpu = process.cpuUsage(clientCpuAtStart);
      const serverCpuNow = window.serverCpuSeconds?.();
      const sorted = Float64Array.from(latencies).sort();
      windowResult = {
        seconds,
        calls,
        callsPerSecond: calls / seconds,
        p50Ms: percentile(sorted, 50),
        p99Ms: percentile(sorted, 99),
        latenciesMs: sorted,
        clientCpu: (cpu.user + cpu.system) / 1e6 / seconds,
        serverCpu:
          serverCpuNow === undefined || serverCpuAtStart === undefined
            ? undefined
            : (serverCpuNow - serverCpuAtStart) / seconds,
      };
    };
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(openTimer);
      clearTimeout(closeTimer);
      clearTimeout(drainTimer);
      if (windowResult === undefined) closeWindow();
      resolve({ ...(windowResult as NonNullable<typeof windowResult>), errors, firstError, invalid });
    };
    // Timers mark the window so its edges do not depend on when a response happens to arrive.
    const openTimer = setTimeout(openWindow, window.warmupMs);
    const closeTimer = setTimeout(closeWindow, window.warmupMs + window.measureMs);
    const drainTimer = setTimeout(finish, window.warmupMs + window.measureMs + DRAIN_TIMEOUT_MS);

    const send = () => {
      const sentAt = performance.now();
      inFlight++;
      client.call(methodPath, request, (err, response) => {
        inFlight--;
        const now = performance.now();
        if (err !== null || response === undefined) {
          errors++;
          firstError ??= err ?? 'no response';
          if (now < measureEnd) {
            inFlight++;
            setTimeout(() => {
              inFlight--;
              send();
            }, ERROR_BACKOFF_MS);
          } else if (inFlight === 0) finish();
          return;
        }
        if (!check(response)) invalid++;
        else if (measuring) {
          calls++;
          if (latencies.length < MAX_LATENCY_SAMPLES) latencies.push(now - sentAt);
        }
        if (now < measureEnd) send();
        else if (inFlight === 0) finish();
      });
    };
    for (let i = 0; i < window.concurrency; i++) send();
  });
}

/** BatchIds load: the LoadResult plus what was delivered and verified. */
export interface BatchLoadResult extends LoadResult {
  readonly count: number;
  /** IDs decoded within the window. */
  readonly ids: number;
  readonly idsPerSecond: number;
  /** IDs covered by the uniqueness check (every ID of every response, warm-up included). */
  readonly idsChecked: number;
  /** IDs converted to bigint for the sampled check (one random ID per response). */
  readonly sampled: number;
  /** True when no ID repeated: each response strictly ascending, runs of consecutive IDs disjoint, sample distinct. */
  readonly unique: boolean;
  /** False when too many runs were seen to keep them all: then `unique` covers only the first ones. */
  readonly complete: boolean;
  /** How the ticks (ms) between the first and last ID received were used (warm-up included). */
  readonly ticks: TickUse;
}

/** Where a shortfall against the layout limit comes from: ticks skipped, or ticks not filled. */
export interface TickUse {
  /** Ticks from the first to the last tick seen. */
  readonly elapsed: number;
  /** Ticks with at least one ID. */
  readonly used: number;
  /** Ticks whose whole sequence (4,096 IDs) was delivered. */
  readonly full: number;
}

/** Default layout (the server runs with it here): where the tick starts in an ID, and IDs per tick. */
const TICK_SHIFT = BigInt(
  DEFAULT_LAYOUT.sequenceBits + DEFAULT_LAYOUT.workerBits + DEFAULT_LAYOUT.datacenterBits,
);
const IDS_PER_TICK = 2 ** DEFAULT_LAYOUT.sequenceBits;

/** Runs of consecutive IDs kept for the disjointness check (and sampled IDs); beyond it the check is partial. */
const MAX_RANGES = 2_000_000;

/**
 * BatchIds(count) under `window`: every response is decoded from the raw bytes and counted. Uniqueness
 * is checked for every ID without a bigint per ID (each response strictly ascending, and its runs of
 * consecutive IDs disjoint from every other run seen), plus one random ID per response converted to
 * bigint and checked against all other samples.
 */
export async function runBatchLoad(
  client: Transport,
  count: number,
  window: LoadWindow,
): Promise<BatchLoadResult> {
  const firsts: bigint[] = [];
  const lasts: bigint[] = [];
  const sample = new Set<bigint>();
  let sampled = 0;
  let idsChecked = 0;
  // Set from the check callback, so an object: flow analysis would take plain `let`s as constants.
  const seen = { ascending: true, complete: true };
  const check = (buf: Buffer): boolean => {
    const scan = scanBatchIdsResponse(buf);
    if (scan?.count !== count) return false;
    if (!scan.ascending) seen.ascending = false;
    idsChecked += count;
    const [first = 0, ...rest] = scan.runStarts;
    let runStart = first;
    for (const next of rest) {
      if (firsts.length >= MAX_RANGES) {
        seen.complete = false;
        break;
      }
      firsts.push(buf.readBigUInt64LE(runStart));
      lasts.push(buf.readBigUInt64LE(next - 8));
      runStart = next;
    }
    if (sampled < MAX_RANGES) {
      sampled++;
      sample.add(buf.readBigUInt64LE(first + Math.floor(Math.random() * count) * 8));
    }
    return true;
  };
  const result = await runClosedLoop(client, BATCH_IDS_PATH, encodeBatchIdsRequest(count), window, check);
  const ids = result.calls * count;
  return {
    ...result,
    count,
    ids,
    idsPerSecond: ids / result.seconds,
    idsChecked,
    sampled,
    unique: seen.ascending && rangesDisjoint(firsts, lasts) && sample.size === sampled,
    complete: seen.complete,
    ticks: tickUse(firsts, lasts),
  };
}

/** Counts IDs per tick over the runs [firsts[i], lasts[i]] (each run lies within one tick). */
function tickUse(firsts: readonly bigint[], lasts: readonly bigint[]): TickUse {
  const perTick = new Map<number, number>();
  firsts.forEach((first, i) => {
    const tick = Number(first >> TICK_SHIFT);
    perTick.set(tick, (perTick.get(tick) ?? 0) + Number(lasts[i]! - first) + 1);
  });
  if (perTick.size === 0) return { elapsed: 0, used: 0, full: 0 };
  // A loop, not Math.max(...ticks): a 5-minute soak has ~300,000 ticks, beyond the spread argument limit.
  let lowest = Infinity;
  let highest = -Infinity;
  for (const tick of perTick.keys()) {
    if (tick < lowest) lowest = tick;
    if (tick > highest) highest = tick;
  }
  return {
    elapsed: highest - lowest + 1,
    used: perTick.size,
    full: [...perTick.values()].filter((n) => n === IDS_PER_TICK).length,
  };
}

/** NextId load: the LoadResult plus the sampled uniqueness check (when IDs are expected to differ). */
export interface NextIdLoadResult extends LoadResult {
  readonly sampled: number;
  /** True when the sampled IDs are distinct (always true when distinctness was not checked). */
  readonly unique: boolean;
}

/** NextId under `window`; `distinct`: check that every 8th ID differs from every other sampled one. */
export async function runNextIdLoad(
  client: Transport,
  window: LoadWindow,
  distinct: boolean,
): Promise<NextIdLoadResult> {
  const sample = new Set<bigint>();
  let sampled = 0;
  let seen = 0;
  const check = (buf: Buffer): boolean => {
    const id = decodeNextIdResponse(buf);
    if (id === undefined) return false;
    if (distinct && (seen++ & 7) === 0 && sampled < MAX_RANGES) {
      sampled++;
      sample.add(id);
    }
    return true;
  };
  const result = await runClosedLoop(client, NEXT_ID_PATH, NEXT_ID_REQUEST, window, check);
  return { ...result, sampled, unique: sample.size === sampled };
}

/** True when the ranges [firsts[i], lasts[i]] do not overlap (each with first ≤ last). */
function rangesDisjoint(firsts: readonly bigint[], lasts: readonly bigint[]): boolean {
  const order = firsts.map((_, i) => i).sort((a, b) => (firsts[a]! < firsts[b]! ? -1 : 1));
  for (let k = 1; k < order.length; k++) {
    if (firsts[order[k]!]! <= lasts[order[k - 1]!]!) return false;
  }
  return true;
}
