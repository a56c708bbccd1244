import type { Clock } from './clock';
import { type IdCodec, type NodeId } from './codec';
import { ClockMovedBackwardsError, RefusalError, TimeOverflowError } from './errors';
import { fieldMax, layoutEndMs } from './layout';

/** A run of consecutive IDs granted by {@link Generator.allocate}: same tick, sequences first…first+count−1. */
export interface Allocation {
  readonly kind: 'ids';
  /** Timestamp field of every ID in the run. */
  readonly tick: number;
  /** Sequence of the first ID in the run. */
  readonly firstSequence: number;
  /** Number of IDs in the run; 1…the `max` asked for. */
  readonly count: number;
}

/** Why {@link Generator.allocate} granted nothing, and how long to wait before asking again. */
export interface Wait {
  readonly kind: 'wait';
  /**
   * `sequence_exhausted`: this tick's sequence is used up. `clock_behind`: the clock reads before the
   * last issued tick. `reservation`: the tick is at or past the persisted reservation ceiling (see
   * {@link Generator.setCeiling}); wait until the reservation is extended.
   */
  readonly reason: 'sequence_exhausted' | 'clock_behind' | 'reservation';
  /** Time until the condition can clear, in ms (> 0, may be fractional; 0 for `reservation`: unknown). */
  readonly ms: number;
}

/** Synchronous notifications for metrics and logs; called at most once per event. */
export interface GeneratorObserver {
  /** The sequence of `tick` ran out; callers now wait for the next tick. */
  sequenceExhausted?(tick: number): void;
}

/** Tuning for {@link Generator}. */
export interface GeneratorOptions {
  /** Longest the clock may be behind the last issued timestamp and still be waited out, in ms; beyond it allocation throws. */
  readonly maxBackwardsMs: number;
  /** What refusals call `maxBackwardsMs` (e.g. the setting that chose it). Default `maxBackwardsMs`. */
  readonly maxBackwardsName?: string;
}

/**
 * The snowflake state machine: hands out (tick, sequence) runs for one node, strictly increasing.
 *
 * Pure and synchronous: time comes from the injected {@link Clock}; when it cannot grant IDs right now it
 * returns a {@link Wait} instead of sleeping, so the caller decides how to wait without blocking others.
 * It never wraps the sequence, never issues a tick older than one already issued, and never masks a
 * field: it refuses with {@link ClockMovedBackwardsError} or {@link TimeOverflowError} instead.
 */
export class Generator {
  private readonly codec: IdCodec;
  private readonly clock: Clock;
  private readonly options: GeneratorOptions;
  private readonly observer: GeneratorObserver;
  private readonly nodeBits: bigint;
  private readonly maxSequence: number;
  private readonly maxTick: number;
  private lastTick = -1;
  private nextSequence = 0;
  private exhaustedTick = -1;
  private ceilingTick = Infinity;
  /** The tick whose first ID is cached below: computed once per tick, not once per ID. */
  private baseTick = -1;
  private baseId = 0n;
  /** baseId as unsigned 32-bit halves, for writing IDs without a bigint each. */
  private baseHi = 0;
  private baseLo = 0;

  constructor(
    codec: IdCodec,
    node: NodeId,
    clock: Clock,
    options: GeneratorOptions,
    observer: GeneratorObserver = {},
  ) {
    this.codec = codec;
    this.clock = clock;
    this.options = options;
    this.observer = observer;
    this.nodeBits = codec.nodeBits(node);
    this.maxSequence = fieldMax(codec.layout.sequenceBits);
    this.maxTick = fieldMax(codec.layout.timestampBits);
  }

  /**
   * Never issue an ID whose timestamp (start of its tick) is before `floorMs` (Unix ms): used at start
   * with the reservation persisted by an earlier run, so every new ID is greater than every old one.
   * Call before the first allocation.
   */
  restoreFloor(floorMs: number): void {
    const { epochMs, timeUnitMs } = this.codec.layout;
    const floorTick = Math.max(0, Math.ceil((floorMs - epochMs) / timeUnitMs));
    if (floorTick - 1 > this.lastTick) {
      this.lastTick = floorTick - 1;
      this.nextSequence = this.maxSequence + 1;
    }
  }

  /**
   * Never issue an ID whose timestamp (start of its tick) is at or after `ceilingMs` (Unix ms): the
   * reservation persisted so far. Allocations past it answer a `reservation` {@link Wait}.
   */
  setCeiling(ceilingMs: number): void {
    const { epochMs, timeUnitMs } = this.codec.layout;
    this.ceilingTick = Math.ceil((ceilingMs - epochMs) / timeUnitMs);
  }

  /** Unix ms just past the last issued tick: persisting this as the reservation covers every issued ID. */
  get issuedUntilMs(): number {
    return this.startOfTick(this.lastTick + 1);
  }

  /**
   * Grants up to `max` (≥ 1) consecutive IDs from the current tick, or says how long to wait.
   * Throws {@link ClockMovedBackwardsError} when the clock is more than `maxBackwardsMs` behind the last
   * issued tick, and {@link TimeOverflowError} when the clock is outside the layout's time range.
   */
  allocate(max: number): Allocation | Wait {
    const now = this.clock.nowMs();
    const tick = this.tickAt(now);
    if (tick > this.lastTick) {
      if (tick >= this.ceilingTick) return { kind: 'wait', reason: 'reservation', ms: 0 };
      this.lastTick = tick;
      this.nextSequence = 0;
    } else if (tick < this.lastTick) {
      return { kind: 'wait', reason: 'clock_behind', ms: this.behindMs(now) };
    }

    if (this.nextSequence > this.maxSequence) {
      if (this.exhaustedTick !== tick) {
        this.exhaustedTick = tick;
        this.observer.sequenceExhausted?.(tick);
      }
      return { kind: 'wait', reason: 'sequence_exhausted', ms: this.startOfTick(tick + 1) - now };
    }
    const firstSequence = this.nextSequence;
    const count = Math.min(max, this.maxSequence - firstSequence + 1);
    this.nextSequence = firstSequence + count;
    return { kind: 'ids', tick, firstSequence, count };
  }

  /** The ID at `sequence` within an allocated `tick` (no range checks: use values from {@link allocate}). */
  idAt(tick: number, sequence: number): bigint {
    if (tick !== this.baseTick) this.loadBase(tick);
    return this.baseId + BigInt(sequence);
  }

  /**
   * Writes the IDs of `run` (from {@link allocate}) into `out` from byte `offset` on, ascending, each as
   * 8 little-endian bytes (protobuf fixed64), with no bigint per ID; returns the offset past the last.
   * `out` must hold run.count × 8 bytes from `offset`.
   */
  writeIds(run: Allocation, out: DataView, offset: number): number {
    if (run.tick !== this.baseTick) this.loadBase(run.tick);
    const hi = this.baseHi;
    // The sequence field lies in the low 31 bits, where the tick's first ID has only zeros: adding a
    // sequence to the low half never carries into the high half.
    const lo = this.baseLo;
    const end = run.firstSequence + run.count;
    for (let sequence = run.firstSequence; sequence < end; sequence++) {
      out.setUint32(offset, lo + sequence, true);
      out.setUint32(offset + 4, hi, true);
      offset += 8;
    }
    return offset;
  }

  /**
   * The refusal {@link allocate} would throw if its clock read `now` (Unix ms): clock behind the last
   * issued tick beyond the bound, or outside the layout's time range; undefined when IDs can be issued,
   * possibly after a short wait. Reads no clock and grants nothing.
   */
  probe(now: number): RefusalError | undefined {
    try {
      const tick = this.tickAt(now);
      if (tick < this.lastTick) this.behindMs(now);
      return undefined;
    } catch (err) {
      if (err instanceof RefusalError) return err;
      throw err;
    }
  }

  /** Tick of Unix time `now`; throws {@link TimeOverflowError} outside the layout's range. */
  private tickAt(now: number): number {
    const { epochMs, timeUnitMs } = this.codec.layout;
    const tick = Math.floor((now - epochMs) / timeUnitMs);
    if (tick > this.maxTick) {
      throw new TimeOverflowError(
        `clock reads ${new Date(now).toISOString()}, past the end of this layout's time range ` +
          `(${new Date(layoutEndMs(this.codec.layout)).toISOString()}); no further IDs can be issued with it`,
      );
    }
    if (tick < 0 && this.lastTick < 0) {
      throw new TimeOverflowError(
        `clock reads ${new Date(now).toISOString()}, before the layout's epoch ${new Date(epochMs).toISOString()}`,
      );
    }
    return tick;
  }

  /** ms until `now` reaches the last issued tick; throws when that exceeds maxBackwardsMs. */
  private behindMs(now: number): number {
    const behind = this.startOfTick(this.lastTick) - now;
    if (behind > this.options.maxBackwardsMs) {
      const { maxBackwardsMs, maxBackwardsName = 'maxBackwardsMs' } = this.options;
      throw new ClockMovedBackwardsError(Math.ceil(behind), maxBackwardsMs, maxBackwardsName);
    }
    return behind;
  }

  private loadBase(tick: number): void {
    const base = this.codec.tickBase(tick, this.nodeBits);
    this.baseTick = tick;
    this.baseId = base;
    this.baseHi = Number(base >> 32n);
    this.baseLo = Number(base & 0xffff_ffffn);
  }

  private startOfTick(tick: number): number {
    return this.codec.layout.epochMs + tick * this.codec.layout.timeUnitMs;
  }
}
