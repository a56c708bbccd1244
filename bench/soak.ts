/**
 * `npm run soak`: memory under sustained BatchIds load. Starts `node dist/main.js` as a child, loads it
 * with BatchIds(count=10000) from 4 callers for a warm-up and then SOAK_SECONDS, reads the server's own
 * /metrics (process_resident_memory_bytes, nodejs_heap_size_used_bytes) twice a second, and passes when
 * the end value of each is within 10 % of its post-warm-up value. Each value is the median of the
 * samples in a window (10 % of the load time, 5…30 s) right after the warm-up and at the end: heap use
 * saw-tooths by tens of MB between major GCs under this load, so a single reading would be noise.
 * Not part of `npm test` or `npm run bench`.
 *
 *   npm run soak                                       5 min after a 30 s warm-up
 *   SOAK_SECONDS=20 SOAK_WARMUP_SECONDS=5 npm run soak  a quick check of the harness
 *
 * Writes bench/results/soak-latest.json; exit code 1 when a figure fails (2 on a harness error).
 */
import * as path from 'node:path';
import { cpu } from './batch-ids';
import { runBatchLoad } from './lib/load';
import { RESULTS_DIR } from './lib/paths';
import { figure, machineInfo, publish, runMain } from './lib/report';
import { startService } from './lib/servers';
import { formatMiB, formatNumber, median, sleep } from './lib/stats';
import { connect, TRANSPORT_KINDS, type TransportKind } from './lib/wire';

const SAMPLE_INTERVAL_MS = 500;

interface MemorySample {
  /** s since the load started. */
  readonly t: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

function seconds(name: string, fallback: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || v > max) throw new Error(`${name}=${raw}: seconds in (0, ${max}]`);
  return v;
}

/** Reads one gauge's value from Prometheus text, or undefined when absent. */
function gauge(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

async function readMemory(metricsAddr: string, t: number): Promise<MemorySample> {
  const res = await fetch(`http://${metricsAddr}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  const rssBytes = gauge(text, 'process_resident_memory_bytes');
  const heapUsedBytes = gauge(text, 'nodejs_heap_size_used_bytes');
  if (rssBytes === undefined || heapUsedBytes === undefined) {
    throw new Error('/metrics lacks process_resident_memory_bytes or nodejs_heap_size_used_bytes');
  }
  return { t, rssBytes, heapUsedBytes };
}

async function main(): Promise<number> {
  const loadSeconds = seconds('SOAK_SECONDS', 300, 3600);
  const warmupSeconds = seconds('SOAK_WARMUP_SECONDS', 30, 600);
  // Window whose median is "the value" after warm-up and at the end.
  const windowSeconds = Math.max(5, Math.min(30, loadSeconds / 10));
  const transport = process.env.BENCH_CLIENT ?? 'http2';
  if (!(TRANSPORT_KINDS as readonly string[]).includes(transport)) {
    throw new Error(`BENCH_CLIENT=${transport}: use one of ${TRANSPORT_KINDS.join(', ')}`);
  }
  const machine = machineInfo();
  const started = performance.now();

  const server = await startService();
  if (server.metricsAddr === undefined) throw new Error('the start log line has no metricsAddr');
  const metricsAddr = server.metricsAddr;
  const client = connect(transport as TransportKind, server.grpcAddr);
  const samples: MemorySample[] = [];
  let load;
  try {
    await client.ready();
    const loadStarted = performance.now();
    const loading = runBatchLoad(client, 10_000, {
      concurrency: 4,
      warmupMs: warmupSeconds * 1000,
      measureMs: loadSeconds * 1000,
      serverCpuSeconds: server.cpuSeconds,
    });
    // Set from a callback, so an object: flow analysis would take a plain `let` as a constant.
    const state = { loadEnded: false };
    void loading.finally(() => {
      state.loadEnded = true;
    });
    const totalMs = (warmupSeconds + loadSeconds) * 1000;
    let nextProgress = 0;
    for (let next = loadStarted; !state.loadEnded && performance.now() - loadStarted < totalMs;) {
      next += SAMPLE_INTERVAL_MS;
      await sleep(Math.max(0, next - performance.now()));
      const t = (performance.now() - loadStarted) / 1000;
      if (t * 1000 > totalMs) break;
      const s = await readMemory(metricsAddr, t);
      samples.push(s);
      if (t >= nextProgress) {
        process.stderr.write(
          `soak ${t.toFixed(0)}/${warmupSeconds + loadSeconds} s: RSS ${formatMiB(s.rssBytes)}, heap used ${formatMiB(s.heapUsedBytes)}\n`,
        );
        nextProgress += Math.max(10, (warmupSeconds + loadSeconds) / 20);
      }
    }
    load = await loading;
  } finally {
    client.close();
    await server.stop();
  }

  const end = warmupSeconds + loadSeconds;
  const inWindow = (from: number, to: number) => samples.filter((s) => s.t >= from && s.t <= to);
  const after = inWindow(warmupSeconds, warmupSeconds + windowSeconds);
  const last = inWindow(end - windowSeconds, end);
  if (after.length === 0 || last.length === 0) throw new Error('no /metrics samples in a window');
  const value = (list: MemorySample[], key: 'rssBytes' | 'heapUsedBytes') => median(list.map((s) => s[key]));
  const range = (list: MemorySample[], key: 'rssBytes' | 'heapUsedBytes') =>
    `${formatMiB(Math.min(...list.map((s) => s[key])))}…${formatMiB(Math.max(...list.map((s) => s[key])))}`;
  const loadOk = load.unique && load.errors === 0 && load.invalid === 0;
  const loadNote =
    `${formatNumber(load.idsPerSecond)} IDs/s, ${load.unique ? 'all unique' : 'DUPLICATE IDS'}` +
    (load.errors + load.invalid > 0 ? `, ${load.errors} errors, ${load.invalid} malformed` : '') +
    `, server CPU ${cpu(load.serverCpu)}`;
  const figures = (['rssBytes', 'heapUsedBytes'] as const).map((key) =>
    figure({
      id: key === 'rssBytes' ? 'soak.rss' : 'soak.heap_used',
      name: `${key === 'rssBytes' ? 'server RSS' : 'server heap used'} after ${formatNumber(loadSeconds)} s of BatchIds`,
      value: value(last, key),
      unit: 'bytes',
      baseline: value(after, key),
      baselineName: `after ${formatNumber(warmupSeconds)} s warm-up`,
      target: { op: '±', ratio: 0.1 },
      extraPassCondition: loadOk,
      notes:
        `medians of ${windowSeconds} s windows (ranges ${range(after, key)} then ${range(last, key)}; ` +
        `whole run ${range(samples, key)}); ${loadNote}`,
      details: { windowSeconds, samplesAfterWarmup: after, samplesAtEnd: last },
    }),
  );
  const report = {
    title: 'snowflake-id-service soak: memory under BatchIds load (issue 6, target 4)',
    machine,
    settings: { loadSeconds, warmupSeconds, windowSeconds, client: transport, count: 10_000, callers: 4 },
    figures,
    durationSeconds: (performance.now() - started) / 1000,
  };
  return publish(report, path.join(RESULTS_DIR, 'soak-latest.json'), {
    ...report,
    load: { ...load, latenciesMs: undefined },
    samples,
  });
}

runMain('soak', main);
