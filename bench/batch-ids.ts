import { runBatchLoad } from './lib/load';
import { figure, type Figure } from './lib/report';
import { startService } from './lib/servers';
import { formatNumber, formatPercent } from './lib/stats';
import { connect, type TransportKind } from './lib/wire';

/** The default layout's limit for one worker: 4,096 IDs per 1 ms tick. */
export const LAYOUT_LIMIT_IDS_PER_SECOND = 4_096_000;

/** One BatchIds load case. */
export interface BatchCase {
  readonly count: number;
  readonly concurrency: number;
}

/** Figure a settings. */
export interface BatchBenchOptions {
  readonly cases: readonly BatchCase[];
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly transport: TransportKind;
}

/**
 * Figure a: BatchIds throughput over loopback against `node dist/main.js` in a child process, each case
 * with its own warm-up and measured window, against the layout's limit.
 */
export async function benchBatchIds(options: BatchBenchOptions): Promise<Figure[]> {
  const server = await startService();
  const client = connect(options.transport, server.grpcAddr);
  try {
    await client.ready();
    const figures: Figure[] = [];
    for (const { count, concurrency } of options.cases) {
      const r = await runBatchLoad(client, count, {
        concurrency,
        warmupMs: options.warmupMs,
        measureMs: options.measureMs,
        serverCpuSeconds: server.cpuSeconds,
      });
      figures.push(
        figure({
          id: `batch_ids.count_${count}.callers_${concurrency}`,
          name: `BatchIds count=${count}, ${concurrency} callers`,
          value: r.idsPerSecond,
          unit: 'IDs/s',
          baseline: LAYOUT_LIMIT_IDS_PER_SECOND,
          baselineName: 'layout limit',
          target: { op: '>=', ratio: 0.9 },
          extraPassCondition: r.unique && r.errors === 0 && r.invalid === 0,
          notes: [
            `${formatNumber(r.callsPerSecond)} calls/s`,
            `p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`,
            `server CPU ${cpu(r.serverCpu)}${r.serverCpu === undefined ? '' : ` = ${((r.serverCpu * 1e9) / r.idsPerSecond).toFixed(0)} ns/ID`}, client ${cpu(r.clientCpu)}`,
            `ticks: ${formatPercent(r.ticks.used / r.ticks.elapsed)} of ms used, ${formatPercent(r.ticks.full / r.ticks.used)} of those full`,
            `${r.unique ? 'all unique' : 'DUPLICATE IDS'} (${formatNumber(r.idsChecked)} IDs checked${r.complete ? '' : ', partially'}, ${formatNumber(r.sampled)} sampled as bigint)`,
            ...(r.errors > 0 ? [`${r.errors} errors: ${r.firstError ?? ''}`] : []),
            ...(r.invalid > 0 ? [`${r.invalid} malformed responses`] : []),
          ].join('; '),
          details: {
            count,
            concurrency,
            seconds: r.seconds,
            ids: r.ids,
            calls: r.calls,
            callsPerSecond: r.callsPerSecond,
            p50Ms: r.p50Ms,
            p99Ms: r.p99Ms,
            serverCpuCores: r.serverCpu,
            clientCpuCores: r.clientCpu,
            idsChecked: r.idsChecked,
            sampledAsBigint: r.sampled,
            unique: r.unique,
            uniquenessCheckComplete: r.complete,
            ticks: r.ticks,
            errors: r.errors,
            firstError: r.firstError,
            invalid: r.invalid,
          },
        }),
      );
    }
    return figures;
  } finally {
    client.close();
    await server.stop();
  }
}

/** CPU use in cores as a percentage of one core ("97 %"), or "n/a". */
export function cpu(cores: number | undefined): string {
  return cores === undefined ? 'n/a' : `${(cores * 100).toFixed(0)} %`;
}
