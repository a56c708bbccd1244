import { LAYOUT_LIMIT_IDS_PER_SECOND, cpu } from './batch-ids';
import { pinClient } from './lib/affinity';
import { runBatchLoad } from './lib/load';
import { figure, type Figure } from './lib/report';
import { startService } from './lib/servers';
import { formatNumber, formatPercent, percentile } from './lib/stats';
import * as path from 'node:path';
import { ROOT } from './lib/paths';
import { connect, type TransportKind } from './lib/wire';
import type * as IdClientModule from '../packages/client/src/id-client';
import type * as PoolModule from '../packages/client/src/prefetch-pool';
import type * as PolicyModule from '../packages/client/src/prefetch-policy';
import type * as OptionsModule from '../packages/client/src/options';

/**
 * The built client (`npm run build`), as the package ships it: compiled into dist/bench, the client
 * would look for the proto file beside that copy, where there is none.
 */
function builtClient(): typeof IdClientModule {
  return builtModule('id-client');
}

/** The modules of the built client package this bench loads, by file name. */
interface BuiltModules {
  'id-client': typeof IdClientModule;
  options: typeof OptionsModule;
  'prefetch-policy': typeof PolicyModule;
  'prefetch-pool': typeof PoolModule;
}

/** A module of the built client package (`packages/client/dist`). */
function builtModule<K extends keyof BuiltModules>(name: K): BuiltModules[K] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known only at run time
  return require(path.join(ROOT, 'packages/client/dist', `${name}.js`)) as BuiltModules[K];
}

/** Figure e settings. */
export interface PrefetchBenchOptions {
  /** Warm-up of each throughput case (a new client ramping up), in ms. */
  readonly warmupMs: number;
  /** Measured window of each throughput case, in ms. */
  readonly measureMs: number;
  /**
   * One unmeasured caller first, in ms: the refill path (grpc-js, a few hundred BatchIds calls per
   * second) is called too rarely to be compiled by V8 within one case's warm-up, and an application
   * that needs millions of IDs per second runs long enough to have it compiled.
   */
  readonly jitWarmupMs: number;
  /** Steady-demand case: IDs per second, warm-up and measured window in ms. */
  readonly steadyIdsPerSecond: number;
  readonly steadyWarmupMs: number;
  readonly steadyMeasureMs: number;
  readonly transport: TransportKind;
}

/** The bound on nextId() p99 at steady demand, in ns. */
const STEADY_P99_BOUND_NS = 50_000;
/** Latency samples kept in the steady case (10 s at 100,000 IDs/s is 1,000,000). */
const MAX_LATENCY_SAMPLES = 4_000_000;

/**
 * Figure e (issue 17): what `createIdClient` with default options delivers through `nextId()` against
 * one local server, against the layout's limit and against direct BatchIds in the same run; plus the
 * ceiling a single awaiting caller has in Node (an `await` of a resolved value in a loop), and a steady
 * demand's latency, waits and waste.
 */
export async function benchPrefetch(options: PrefetchBenchOptions): Promise<Figure[]> {
  const pinning = pinClient();
  const placement =
    pinning === undefined
      ? 'CPUs not pinned (no taskset or < 2 CPUs)'
      : `client on CPU ${pinning.clientCpu}, server on CPU ${pinning.serverCpu}`;
  const server = await startService({ cpu: pinning?.serverCpu });
  const address = server.grpcAddr;
  try {
    const ceiling = await awaitCeiling(Math.min(options.measureMs, 1000));
    const buffer = await bufferCeiling(Math.min(options.measureMs, 2000));
    const bufferAlone = buffer.idsPerSecond;
    const raw = connect(options.transport, address);
    let direct;
    try {
      await raw.ready();
      direct = await runBatchLoad(raw, 10_000, {
        concurrency: 4,
        warmupMs: options.warmupMs,
        measureMs: options.measureMs,
        serverCpuSeconds: server.cpuSeconds,
      });
    } finally {
      raw.close();
    }
    const directOk = direct.unique && direct.errors === 0 && direct.invalid === 0;
    const clientBatch = await throughput(address, 4, 'batch', options, server.cpuSeconds);
    await throughput(
      address,
      1,
      'await',
      { ...options, warmupMs: options.jitWarmupMs, measureMs: 1 },
      server.cpuSeconds,
    );
    const single = await throughput(address, 1, 'await', options, server.cpuSeconds);
    const sixteen = await throughput(address, 16, 'await', options, server.cpuSeconds);
    const sync = await throughput(address, 1, 'try', options, server.cpuSeconds);
    const steady = await steadyDemand(address, options);

    const throughputFigure = (r: ThroughputResult, id: string, name: string): Figure =>
      figure({
        id,
        name,
        value: r.idsPerSecond,
        unit: 'IDs/s',
        baseline: LAYOUT_LIMIT_IDS_PER_SECOND,
        baselineName: 'layout limit',
        target: { op: '>=', ratio: 0.85 },
        extraPassCondition: r.unique && r.errors === 0,
        notes: [
          `${formatPercent(r.idsPerSecond / direct.idsPerSecond)} of direct BatchIds`,
          `${formatNumber(r.waited)} of ${formatNumber(r.ids)} calls waited for a refill`,
          `${formatNumber(r.refills)} refills, plan: low-water ${formatNumber(r.plan.lowWaterMark)}, batch ${formatNumber(r.plan.batchSize)}, ≤ ${r.plan.maxRefillsInFlight} in flight`,
          `waste: ${formatNumber(r.droppedForAge)} dropped for age, ${formatNumber(r.lostWithFailedCalls)} with failed calls`,
          `client CPU ${cpu(r.clientCpu)} = ${((r.clientCpu * 1e9) / r.idsPerSecond).toFixed(0)} ns/ID (the buffer alone ${(1e9 / bufferAlone).toFixed(0)}, the await alone ${(1e9 / ceiling).toFixed(0)}), server ${cpu(r.serverCpu)}`,
          ...checkNotes(r),
        ].join('; '),
        details: { ...r, directIdsPerSecond: direct.idsPerSecond, placement },
      });

    return [
      figure({
        id: 'prefetch.await_ceiling',
        name: 'Ceiling: `await Promise.resolve(id)` in a loop (Node)',
        value: ceiling,
        unit: 'IDs/s',
        baseline: LAYOUT_LIMIT_IDS_PER_SECOND,
        baselineName: 'layout limit',
        target: undefined,
        notes: 'what one awaiting caller could reach if the client cost nothing',
        details: { awaitsPerSecond: ceiling },
      }),
      figure({
        id: 'prefetch.buffer_alone',
        name: 'The client buffer alone: `await take()`, refills without a network',
        value: bufferAlone,
        unit: 'IDs/s',
        baseline: LAYOUT_LIMIT_IDS_PER_SECOND,
        baselineName: 'layout limit',
        target: undefined,
        notes: `${(1e9 / bufferAlone).toFixed(0)} ns/ID: the built PrefetchPool, policy and clock of the default options (one clock read, for the maxAgeMs check, costs ${buffer.clockReadNs.toFixed(0)} ns here); what nextId() costs per ID beyond this is the refills' gRPC work`,
        details: { ...buffer, nsPerId: 1e9 / bufferAlone },
      }),
      figure({
        id: 'prefetch.direct_batch_ids',
        name: 'Direct BatchIds count=10000, 4 callers (raw client)',
        value: direct.idsPerSecond,
        unit: 'IDs/s',
        baseline: LAYOUT_LIMIT_IDS_PER_SECOND,
        baselineName: 'layout limit',
        target: undefined,
        notes: [
          `p50 ${direct.p50Ms.toFixed(2)} ms, p99 ${direct.p99Ms.toFixed(2)} ms`,
          `client CPU ${cpu(direct.clientCpu)} = ${((direct.clientCpu * 1e9) / direct.idsPerSecond).toFixed(0)} ns/ID (${options.transport})`,
          directOk ? 'all unique' : 'DUPLICATES OR ERRORS',
          placement,
        ].join('; '),
        details: { ...direct, latenciesMs: undefined },
      }),
      figure({
        id: 'prefetch.client_batch',
        name: 'client.batch(10000), 4 callers (the built client)',
        value: clientBatch.idsPerSecond,
        unit: 'IDs/s',
        baseline: LAYOUT_LIMIT_IDS_PER_SECOND,
        baselineName: 'layout limit',
        target: undefined,
        notes: [
          `client CPU ${cpu(clientBatch.clientCpu)} = ${((clientBatch.clientCpu * 1e9) / clientBatch.idsPerSecond).toFixed(0)} ns/ID: grpc-js's share of nextId(), as refills make the same calls (they keep the IDs as 8-byte words, batch() makes a bigint of each)`,
          ...checkNotes(clientBatch),
        ].join('; '),
        details: { ...clientBatch },
      }),
      throughputFigure(
        single,
        'prefetch.callers_1',
        'nextId(), 1 caller awaiting in a loop, default options',
      ),
      throughputFigure(
        sixteen,
        'prefetch.callers_16',
        'nextId(), 16 callers awaiting in a loop, default options',
      ),
      throughputFigure(sync, 'prefetch.try_next_id', 'tryNextId() ?? await nextId(), 1 caller in a loop'),
      figure({
        id: 'prefetch.steady.p99',
        name: `nextId() p99 at a steady ${formatNumber(options.steadyIdsPerSecond)} IDs/s for ${options.steadyMeasureMs / 1000} s`,
        value: steady.p99Ns,
        unit: 'ns',
        baseline: STEADY_P99_BOUND_NS,
        baselineName: 'bound of issue 17',
        target: { op: '<=', ratio: 1 },
        extraPassCondition: steady.unique && steady.errors === 0,
        notes: [
          `p50 ${formatNumber(steady.p50Ns)} ns, p99.9 ${formatNumber(steady.p999Ns)} ns, max ${formatNumber(steady.maxNs)} ns`,
          `${formatNumber(steady.ids)} IDs at ${formatNumber(steady.idsPerSecond)} IDs/s`,
          `${formatNumber(steady.refills)} refills, plan: low-water ${formatNumber(steady.plan.lowWaterMark)}, batch ${formatNumber(steady.plan.batchSize)}`,
          steady.unique ? 'all unique' : 'DUPLICATE IDS',
        ].join('; '),
        details: { ...steady },
      }),
      figure({
        id: 'prefetch.steady.waited',
        name: 'Steady demand: nextId() calls that waited for a refill',
        value: steady.waited,
        unit: 'calls',
        baseline: steady.ids,
        baselineName: 'calls',
        target: { op: '<=', ratio: 0 },
        notes: 'a call that finds the buffer empty waits at least one round trip',
        details: { waited: steady.waited, calls: steady.ids },
      }),
      figure({
        id: 'prefetch.steady.dropped_for_age',
        name: 'Steady demand: IDs dropped for age (maxAgeMs 5,000)',
        value: steady.droppedForAge,
        unit: 'IDs',
        baseline: steady.ids,
        baselineName: 'IDs handed out',
        target: { op: '<=', ratio: 0.01 },
        notes: `${formatNumber(steady.lostWithFailedCalls)} IDs lost with failed calls; ${formatNumber(steady.droppedOnClose)} left at close`,
        details: {
          droppedForAge: steady.droppedForAge,
          lostWithFailedCalls: steady.lostWithFailedCalls,
          droppedOnClose: steady.droppedOnClose,
          handedOut: steady.ids,
        },
      }),
    ];
  } finally {
    await server.stop();
    pinning?.release();
  }
}

/**
 * `await Promise.resolve(id)` per second in a loop over `ms`: the least a Promise-returning nextId()
 * costs one awaiting caller (a new resolved promise per ID), with nothing else to do.
 */
async function awaitCeiling(ms: number): Promise<number> {
  let id = 0n;
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    for (let i = 0; i < 10_000; i++) id = await Promise.resolve(id + 1n);
    n += 10_000;
  }
  return n / ((performance.now() - started) / 1000);
}

/**
 * `await take()` per second in a loop over `ms` on the client's own buffer (the built PrefetchPool,
 * AdaptiveRefillPolicy and clock, as `createIdClient` makes them) whose refills answer on the next turn
 * of the event loop without a network: what the client costs per ID before any gRPC work. The IDs
 * repeat (one array serves every refill), so this case checks nothing about uniqueness.
 */
async function bufferCeiling(ms: number): Promise<{ idsPerSecond: number; clockReadNs: number }> {
  const { PrefetchPool } = builtModule('prefetch-pool');
  const { refillPolicy } = builtModule('prefetch-policy');
  const { resolveClientOptions } = builtModule('options');
  const o = resolveClientOptions({ addresses: ['127.0.0.1:1'] });
  if (o.prefetch.mode === 'off') throw new Error('the default options have no ID buffer');
  const words = new BigUint64Array(10_000).map((_, i) => BigInt(i) + 1n);
  const pool = new PrefetchPool(refillPolicy(o.prefetch, 1), o.prefetch.maxAgeMs, {
    now: o.clock,
    fetch: (count) =>
      new Promise((resolve) => setImmediate(resolve, words.subarray(0, Math.min(count, words.length)))),
  });
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    for (let i = 0; i < 10_000; i++) await pool.take();
    n += 10_000;
  }
  const idsPerSecond = n / ((performance.now() - started) / 1000);
  // The buffer reads its clock once per take (the maxAgeMs check): what one read costs here.
  const reads = 1_000_000;
  const clockStarted = performance.now();
  for (let i = 0; i < reads; i++) o.clock();
  const clockReadNs = ((performance.now() - clockStarted) * 1e6) / reads;
  return { idsPerSecond, clockReadNs };
}

/** IDs per chunk of an {@link IdLog}: 8 MB. */
const ID_LOG_CHUNK = 1 << 20;

/**
 * Keeps every ID handed out, 8 bytes each in chunks of {@link ID_LOG_CHUNK}, and checks after the run
 * that no two are equal by sorting them: exact, and the cheapest thing a measured loop can do per ID
 * (one typed-array store) that still lets the check see every ID, warm-up included.
 */
class IdLog {
  private readonly full: BigUint64Array[] = [];
  private chunk = new BigUint64Array(ID_LOG_CHUNK);
  private used = 0;

  add(id: bigint): void {
    if (this.used === ID_LOG_CHUNK) {
      this.full.push(this.chunk);
      this.chunk = new BigUint64Array(ID_LOG_CHUNK);
      this.used = 0;
    }
    this.chunk[this.used++] = id;
  }

  /** IDs added. */
  get count(): number {
    return this.full.length * ID_LOG_CHUNK + this.used;
  }

  /** True when every ID added was distinct from every other. */
  unique(): boolean {
    const all = new BigUint64Array(this.count);
    this.full.forEach((chunk, i) => {
      all.set(chunk, i * ID_LOG_CHUNK);
    });
    all.set(this.chunk.subarray(0, this.used), this.full.length * ID_LOG_CHUNK);
    all.sort();
    for (let i = 1; i < all.length; i++) if (all[i] === all[i - 1]) return false;
    return true;
  }
}

interface WindowStats {
  readonly ids: number;
  readonly waited: number;
  readonly refills: number;
  readonly droppedForAge: number;
  readonly lostWithFailedCalls: number;
  readonly plan: { lowWaterMark: number; batchSize: number; maxRefillsInFlight: number };
}

/**
 * What each loop of a throughput case does: `await nextId()`, `tryNextId() ?? await nextId()`, or
 * `await batch(BATCH_CASE_COUNT)` (the calls a refill makes, through the client's public API).
 */
type ThroughputMode = 'await' | 'try' | 'batch';

/** IDs per `batch()` call in the `batch` mode: the servers' default max_batch_size, as refills ask. */
const BATCH_CASE_COUNT = 10_000;

interface ThroughputResult extends WindowStats {
  readonly callers: number;
  readonly mode: ThroughputMode;
  readonly seconds: number;
  readonly idsPerSecond: number;
  readonly clientCpu: number;
  readonly serverCpu: number | undefined;
  readonly unique: boolean;
  /** IDs the uniqueness check saw (warm-up included). */
  readonly checked: number;
  readonly errors: number;
  readonly firstError: string | undefined;
}

/** What a throughput case's checks found: every ID unique (warm-up included), and its errors if any. */
function checkNotes(r: ThroughputResult): string[] {
  return [
    r.unique ? `all ${formatNumber(r.checked)} IDs unique (warm-up included)` : 'DUPLICATE IDS',
    ...(r.errors > 0 ? [`${r.errors} errors: ${r.firstError ?? ''}`] : []),
  ];
}

/**
 * `callers` loops of one {@link ThroughputMode} on one new client with default options: warm-up (the
 * buffer ramps up), then the measured window. Every ID, warm-up included, goes into an {@link IdLog}.
 */
async function throughput(
  address: string,
  callers: number,
  mode: ThroughputMode,
  options: PrefetchBenchOptions,
  serverCpuSeconds: () => number | undefined,
): Promise<ThroughputResult> {
  globalThis.gc?.();
  const client = builtClient().createIdClient({ addresses: [address] });
  const state = { counted: 0, measuring: false, stop: false };
  const check = new IdLog();
  let errors = 0;
  let firstError: string | undefined;
  const loop = async (): Promise<void> => {
    while (!state.stop) {
      try {
        if (mode === 'batch') {
          const ids = await client.batch(BATCH_CASE_COUNT);
          for (const id of ids) check.add(id);
          if (state.measuring) state.counted += ids.length;
          continue;
        }
        check.add((mode === 'try' ? client.tryNextId() : undefined) ?? (await client.nextId()));
        if (state.measuring) state.counted++;
      } catch (err) {
        errors++;
        firstError ??= String(err);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  try {
    const loops = Array.from({ length: callers }, loop);
    await new Promise((r) => setTimeout(r, options.warmupMs));
    const before = client.prefetchStats();
    const cpuBefore = process.cpuUsage();
    const serverBefore = serverCpuSeconds();
    const started = performance.now();
    state.measuring = true;
    await new Promise((r) => setTimeout(r, options.measureMs));
    state.measuring = false;
    const seconds = (performance.now() - started) / 1000;
    const after = client.prefetchStats();
    const used = process.cpuUsage(cpuBefore);
    const serverAfter = serverCpuSeconds();
    state.stop = true;
    await Promise.all(loops);
    return {
      callers,
      mode,
      seconds,
      ids: state.counted,
      idsPerSecond: state.counted / seconds,
      waited: after.waited - before.waited,
      refills: after.refills - before.refills,
      droppedForAge: after.droppedForAge - before.droppedForAge,
      lostWithFailedCalls: after.lostWithFailedCalls - before.lostWithFailedCalls,
      plan: after.plan,
      clientCpu: (used.user + used.system) / 1e6 / seconds,
      serverCpu:
        serverBefore === undefined || serverAfter === undefined
          ? undefined
          : (serverAfter - serverBefore) / seconds,
      unique: check.unique(),
      checked: check.count,
      errors,
      firstError,
    };
  } finally {
    await client.close();
  }
}

interface SteadyResult extends WindowStats {
  readonly seconds: number;
  readonly idsPerSecond: number;
  readonly p50Ns: number;
  readonly p99Ns: number;
  readonly p999Ns: number;
  readonly maxNs: number;
  readonly droppedOnClose: number;
  readonly unique: boolean;
  readonly errors: number;
}

/**
 * One caller asking for IDs at a steady rate: each turn of the event loop it takes the IDs due by now
 * (rate × elapsed time) one `await nextId()` at a time, timing each call, then yields (setImmediate).
 * Warm-up at the same rate first, so the measured window is the steady state.
 */
async function steadyDemand(address: string, options: PrefetchBenchOptions): Promise<SteadyResult> {
  globalThis.gc?.();
  const client = builtClient().createIdClient({ addresses: [address] });
  const perMs = options.steadyIdsPerSecond / 1000;
  const latencies = new Float64Array(
    Math.min(MAX_LATENCY_SAMPLES, Math.ceil(perMs * options.steadyMeasureMs * 1.1)),
  );
  let samples = 0;
  const check = new IdLog();
  let errors = 0;
  const run = async (durationMs: number, measure: boolean): Promise<number> => {
    const started = performance.now();
    let taken = 0;
    for (;;) {
      const elapsed = performance.now() - started;
      if (elapsed >= durationMs) break;
      const due = Math.floor(elapsed * perMs) - taken;
      for (let i = 0; i < due; i++) {
        const t0 = performance.now();
        try {
          const id = await client.nextId();
          const ns = (performance.now() - t0) * 1e6;
          if (measure && samples < latencies.length) latencies[samples++] = ns;
          check.add(id);
        } catch {
          errors++;
        }
        taken++;
      }
      await new Promise((r) => setImmediate(r));
    }
    return taken;
  };
  try {
    await run(options.steadyWarmupMs, false);
    const before = client.prefetchStats();
    const started = performance.now();
    const ids = await run(options.steadyMeasureMs, true);
    const seconds = (performance.now() - started) / 1000;
    const after = client.prefetchStats();
    await client.close();
    const closed = client.prefetchStats();
    const sorted = latencies.subarray(0, samples).sort();
    return {
      seconds,
      ids,
      idsPerSecond: ids / seconds,
      p50Ns: percentile(sorted, 50),
      p99Ns: percentile(sorted, 99),
      p999Ns: percentile(sorted, 99.9),
      maxNs: sorted[sorted.length - 1] ?? NaN,
      waited: after.waited - before.waited,
      refills: after.refills - before.refills,
      droppedForAge: after.droppedForAge - before.droppedForAge,
      lostWithFailedCalls: after.lostWithFailedCalls - before.lostWithFailedCalls,
      droppedOnClose: closed.droppedOnClose,
      plan: after.plan,
      unique: check.unique(),
      errors,
    };
  } finally {
    await client.close();
  }
}
