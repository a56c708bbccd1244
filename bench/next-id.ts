import { cpu } from './batch-ids';
import { pinClient } from './lib/affinity';
import type { ChildServer } from './lib/child';
import { runNextIdLoad, type NextIdLoadResult } from './lib/load';
import { figure, type Figure } from './lib/report';
import { startBaseline, startService } from './lib/servers';
import { percentile } from './lib/stats';
import { connect, type Transport, type TransportKind } from './lib/wire';

/** Figure b settings. */
export interface NextIdBenchOptions {
  /** In-flight calls per case. */
  readonly concurrencies: readonly number[];
  /** Alternating rounds per concurrency, in ABBA order (service, baseline, baseline, service, …). */
  readonly rounds: number;
  /** Load on each server once, before the first case, so JIT compilation is not measured. */
  readonly serverWarmupMs: number;
  /** Per round and side. */
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly transport: TransportKind;
}

/** One side's rounds at one concurrency, merged. */
interface Merged {
  readonly callsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpu: number | undefined;
  readonly clientCpu: number;
  readonly errors: number;
  readonly firstError: string | undefined;
  readonly invalid: number;
  readonly unique: boolean;
  readonly sampled: number;
}

/**
 * Figure b: NextId calls/s and latency against the real service and against the empty-handler baseline
 * (bench/baseline-server.ts), both in child processes, same raw client, alternating rounds.
 */
export async function benchNextId(options: NextIdBenchOptions): Promise<Figure[]> {
  const pinning = pinClient();
  const placement =
    pinning === undefined
      ? 'CPUs not pinned (no taskset or < 2 CPUs)'
      : `client on CPU ${pinning.clientCpu}, servers on CPU ${pinning.serverCpu}`;
  try {
    return await benchPinned(options, pinning?.serverCpu, placement);
  } finally {
    pinning?.release();
  }
}

async function benchPinned(
  options: NextIdBenchOptions,
  serverCpu: number | undefined,
  placement: string,
): Promise<Figure[]> {
  const service = await startService({ cpu: serverCpu });
  const baseline = await startBaseline({ cpu: serverCpu }).catch(async (err: unknown) => {
    await service.stop();
    throw err;
  });
  const sides = [
    { server: service, client: connect(options.transport, service.grpcAddr), distinct: true },
    { server: baseline, client: connect(options.transport, baseline.grpcAddr), distinct: false },
  ];
  try {
    for (const side of sides) await side.client.ready();
    for (const side of sides) {
      await runNextIdLoad(
        side.client,
        { concurrency: 16, warmupMs: 0, measureMs: options.serverWarmupMs },
        false,
      );
    }
    const figures: Figure[] = [];
    for (const concurrency of options.concurrencies) {
      const runs: [NextIdLoadResult[], NextIdLoadResult[]] = [[], []];
      for (let round = 0; round < options.rounds; round++) {
        // ABBA order: drift in the machine's load (other processes) falls on both sides alike.
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (const k of order) {
          const side = sides[k]!;
          runs[k]!.push(await runSide(side.server, side.client, side.distinct, concurrency, options));
        }
      }
      const [ours, base] = [merge(runs[0]), merge(runs[1])];
      figures.push(
        figure({
          id: `next_id.in_flight_${concurrency}`,
          name: `NextId, ${concurrency} in flight`,
          value: ours.callsPerSecond,
          unit: 'calls/s',
          baseline: base.callsPerSecond,
          baselineName: 'empty handler',
          target: { op: '>=', ratio: 0.9 },
          extraPassCondition: ours.unique && ours.errors === 0 && ours.invalid === 0,
          notes: [
            `p50/p99 ${ms(ours.p50Ms, ours.p99Ms)} vs ${ms(base.p50Ms, base.p99Ms)}`,
            `server CPU ${cpuPerCall(ours)} vs ${cpuPerCall(base)} µs/call (${cpu(ours.serverCpu)} vs ${cpu(base.serverCpu)} busy)`,
            `client CPU ${cpu(ours.clientCpu)} vs ${cpu(base.clientCpu)}`,
            placement,
            ...(ours.unique ? [] : ['DUPLICATE IDS']),
            ...(ours.errors + base.errors > 0
              ? [`errors ${ours.errors}/${base.errors}: ${ours.firstError ?? base.firstError ?? ''}`]
              : []),
          ].join('; '),
          details: { concurrency, rounds: options.rounds, placement, service: ours, baseline: base },
        }),
      );
    }
    return figures;
  } finally {
    for (const side of sides) side.client.close();
    await Promise.all([service.stop(), baseline.stop()]);
  }
}

function runSide(
  server: ChildServer,
  client: Transport,
  distinct: boolean,
  concurrency: number,
  options: NextIdBenchOptions,
): Promise<NextIdLoadResult> {
  return runNextIdLoad(
    client,
    {
      concurrency,
      warmupMs: options.warmupMs,
      measureMs: options.measureMs,
      serverCpuSeconds: server.cpuSeconds,
    },
    distinct,
  );
}

function merge(runs: readonly NextIdLoadResult[]): Merged {
  const seconds = runs.reduce((s, r) => s + r.seconds, 0);
  const weighted = (f: (r: NextIdLoadResult) => number | undefined): number | undefined => {
    let sum = 0;
    for (const r of runs) {
      const v = f(r);
      if (v === undefined) return undefined;
      sum += v * r.seconds;
    }
    return sum / seconds;
  };
  const latencies = new Float64Array(runs.reduce((n, r) => n + r.latenciesMs.length, 0));
  let at = 0;
  for (const r of runs) {
    latencies.set(r.latenciesMs, at);
    at += r.latenciesMs.length;
  }
  latencies.sort();
  return {
    callsPerSecond: runs.reduce((n, r) => n + r.calls, 0) / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    serverCpu: weighted((r) => r.serverCpu),
    clientCpu: weighted((r) => r.clientCpu) ?? NaN,
    errors: runs.reduce((n, r) => n + r.errors, 0),
    firstError: runs.find((r) => r.firstError !== undefined)?.firstError,
    invalid: runs.reduce((n, r) => n + r.invalid, 0),
    unique: runs.every((r) => r.unique),
    sampled: runs.reduce((n, r) => n + r.sampled, 0),
  };
}

/** Server CPU time per call in µs (all its threads, GC included), or "n/a". */
function cpuPerCall(m: Merged): string {
  return m.serverCpu === undefined ? 'n/a' : ((m.serverCpu * 1e6) / m.callsPerSecond).toFixed(0);
}

function ms(p50: number, p99: number): string {
  return `${p50.toFixed(2)}/${p99.toFixed(2)} ms`;
}
