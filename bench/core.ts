import * as v8 from 'node:v8';
import { Snowflake as SapphireSnowflake } from '@sapphire/snowflake';
import FlakeId from 'flake-idgen';
import { Snowflake as WasmSnowflake } from 'nodejs-snowflake';
import type { Clock } from '../src/core/clock';
import { IdCodec } from '../src/core/codec';
import { Generator } from '../src/core/generator';
import { DEFAULT_LAYOUT } from '../src/core/layout';
import { figure, type Figure } from './lib/report';
import { median } from './lib/stats';

/** Figure c settings. */
export interface CoreBenchOptions {
  /** Interleaved rounds; each contestant's figure is the median of its per-round ns/ID. */
  readonly rounds: number;
  /** Chunks per contestant per round. */
  readonly chunksPerRound: number;
}

/**
 * IDs per timed chunk. Each chunk starts at a fresh millisecond, and every contestant can issue this
 * many in one ms without waiting (nodejs-snowflake's sequence has 10 bits, 1,024 per ms): so the figure
 * is CPU cost per ID, never time spent waiting for the clock.
 */
const CHUNK = 1000;

/** One ID source in the comparison. */
interface Contestant {
  readonly name: string;
  /** Writes CHUNK new IDs into `out`. */
  readonly fill: (out: unknown[]) => void;
  /** What its IDs are, and what it does when a ms runs out of sequence numbers. */
  readonly remark: string;
  readonly peer: boolean;
}

/** Upper bound on Wait answers tolerated in one chunk (a fresh ms never needs one; protects the loop). */
const MAX_WAITS_PER_CHUNK = 10_000_000;

function contestants(): Contestant[] {
  const systemClock: Clock = { nowMs: () => Date.now() };
  const generator = (): Generator =>
    new Generator(new IdCodec(DEFAULT_LAYOUT), { datacenterId: 0, workerId: 0 }, systemClock, {
      maxBackwardsMs: 10,
    });
  const bulk = generator();
  const single = generator();
  const sapphire = new SapphireSnowflake(DEFAULT_LAYOUT.epochMs);
  const wasm = new WasmSnowflake({ custom_epoch: DEFAULT_LAYOUT.epochMs, instance_id: 0 });
  const flake = new FlakeId({ datacenter: 0, worker: 0, epoch: DEFAULT_LAYOUT.epochMs });
  return [
    {
      name: `ours: allocate(${CHUNK}) + idAt per ID`,
      peer: false,
      remark: 'waits for the next ms when 4,096/ms are used',
      fill(out) {
        let filled = 0;
        let waits = 0;
        while (filled < CHUNK) {
          const grant = bulk.allocate(CHUNK - filled);
          if (grant.kind === 'wait') {
            if (++waits > MAX_WAITS_PER_CHUNK) throw new Error(`generator kept waiting: ${grant.reason}`);
            continue;
          }
          for (let i = 0; i < grant.count; i++)
            out[filled++] = bulk.idAt(grant.tick, grant.firstSequence + i);
        }
      },
    },
    {
      name: 'ours: allocate(1) + idAt per ID',
      peer: false,
      remark: 'one call per ID, like the peers',
      fill(out) {
        let waits = 0;
        for (let filled = 0; filled < CHUNK;) {
          const grant = single.allocate(1);
          if (grant.kind === 'wait') {
            if (++waits > MAX_WAITS_PER_CHUNK) throw new Error(`generator kept waiting: ${grant.reason}`);
            continue;
          }
          out[filled++] = single.idAt(grant.tick, grant.firstSequence);
        }
      },
    },
    {
      name: '@sapphire/snowflake generate()',
      peer: true,
      remark: 'wraps its sequence past 4,096/ms (duplicates), never waits',
      fill(out) {
        for (let i = 0; i < CHUNK; i++) out[i] = sapphire.generate();
      },
    },
    {
      name: 'nodejs-snowflake getUniqueID()',
      peer: true,
      remark: 'Rust/WASM; 10-bit sequence (1,024/ms), spins to the next ms',
      fill(out) {
        for (let i = 0; i < CHUNK; i++) out[i] = wasm.getUniqueID();
      },
    },
    {
      name: 'flake-idgen next()',
      peer: true,
      remark: 'throws when 4,096/ms are used (sync API)',
      fill(out) {
        for (let i = 0; i < CHUNK; i++) out[i] = flake.next();
      },
    },
  ];
}

/** Busy-waits (bounded to 5 ms) until Date.now() moves to a new ms, so the next chunk starts a fresh tick. */
function awaitFreshMs(): void {
  const start = Date.now();
  const limit = performance.now() + 5;
  while (Date.now() === start && performance.now() < limit);
}

const gc: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

/** What the values in `out` are, for the table ("bigint", "Buffer (8 B big-endian)"). */
function outputType(out: readonly unknown[]): string {
  const v = out[0];
  if (typeof v === 'bigint') return 'bigint';
  if (Buffer.isBuffer(v)) return `Buffer (${v.length} B big-endian)`;
  return typeof v;
}

/** True when `out` holds CHUNK distinct IDs (bigint or Buffer). */
function allDistinct(out: readonly unknown[]): boolean {
  const seen = new Set(out.map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : String(v))));
  return seen.size === out.length;
}

/**
 * Heap bytes per ID, from the used-heap growth over one chunk after a full GC (median of 15 chunks,
 * minus an empty chunk's growth). Off-heap memory (Buffer backing stores, WASM memory) is not seen.
 */
function heapBytesPerId(c: Contestant, out: unknown[]): number | undefined {
  const collect = gc;
  if (collect === undefined) return undefined;
  const growth = (fill: () => void): number => {
    const samples: number[] = [];
    for (let i = 0; i < 15; i++) {
      awaitFreshMs();
      collect();
      const before = v8.getHeapStatistics().used_heap_size;
      fill();
      samples.push(v8.getHeapStatistics().used_heap_size - before);
    }
    return median(samples);
  };
  const empty = growth(() => undefined);
  const full = growth(() => {
    c.fill(out);
  });
  return Math.max(0, (full - empty) / CHUNK);
}

/** Figure c: core ns/ID, ours vs the npm peers, same process, interleaved rounds. */
export function benchCore(options: CoreBenchOptions): Figure[] {
  const all = contestants();
  const outs = all.map(() => new Array<unknown>(CHUNK));
  const perRound = all.map((): number[] => []);
  const distinct = all.map(() => true);

  // Warm-up: a few chunks each so every fill is optimised before timing.
  for (let w = 0; w < 20; w++) {
    all.forEach((c, k) => {
      awaitFreshMs();
      c.fill(outs[k]!);
    });
  }
  for (let round = 0; round < options.rounds; round++) {
    all.forEach((c, k) => {
      const out = outs[k]!;
      gc?.();
      let ns = 0n;
      for (let chunk = 0; chunk < options.chunksPerRound; chunk++) {
        awaitFreshMs();
        const t0 = process.hrtime.bigint();
        c.fill(out);
        ns += process.hrtime.bigint() - t0;
      }
      if (!allDistinct(out)) distinct[k] = false;
      perRound[k]!.push(Number(ns) / (options.chunksPerRound * CHUNK));
    });
  }

  const results = all.map((c, k) => ({
    contestant: c,
    nsPerId: median(perRound[k]!),
    roundsNsPerId: perRound[k]!,
    heapBytesPerId: heapBytesPerId(c, outs[k]!),
    output: outputType(outs[k]!),
    distinctInChunk: distinct[k]!,
  }));
  const peers = results.filter((r) => r.contestant.peer);
  const fastest = peers.reduce((a, b) => (b.nsPerId < a.nsPerId ? b : a));
  const ours = results.filter((r) => !r.contestant.peer);

  const notes = (r: (typeof results)[number]) =>
    [
      `out: ${r.output}`,
      r.heapBytesPerId === undefined
        ? 'heap n/a (run with --expose-gc)'
        : `heap ${r.heapBytesPerId.toFixed(0)} B/ID`,
      r.contestant.remark,
      ...(r.distinctInChunk ? [] : ['DUPLICATES within a chunk']),
    ].join('; ');
  const details = (r: (typeof results)[number]) => ({
    output: r.output,
    heapBytesPerId: r.heapBytesPerId,
    roundsNsPerId: r.roundsNsPerId,
    idsPerChunk: CHUNK,
    chunksPerRound: options.chunksPerRound,
    distinctInChunk: r.distinctInChunk,
  });
  const baselineName = `fastest peer: ${fastest.contestant.name.split(' ')[0] ?? ''}`;
  return [
    ...ours.map((r, i) =>
      figure({
        id: i === 0 ? 'core.ours_bulk' : 'core.ours_per_id',
        name: `core ns/ID, ${r.contestant.name}`,
        value: r.nsPerId,
        unit: 'ns/ID',
        baseline: fastest.nsPerId,
        baselineName,
        target: i === 0 ? { op: '<=', ratio: 1 / 3 } : undefined,
        extraPassCondition: r.distinctInChunk && r.output === 'bigint',
        notes: notes(r),
        details: details(r),
      }),
    ),
    ...peers.map((r) =>
      figure({
        id: `core.peer.${r.contestant.name.split(' ')[0] ?? ''}`,
        name: `core ns/ID, ${r.contestant.name}`,
        value: r.nsPerId,
        unit: 'ns/ID',
        baseline: undefined,
        baselineName: '',
        target: undefined,
        notes: notes(r),
        details: details(r),
      }),
    ),
  ];
}
