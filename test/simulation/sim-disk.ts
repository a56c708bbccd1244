import type { NodeId } from '../../src/core/codec';
import { StateFileError } from '../../src/errors';
import type { ReadResult } from '../../src/state/state-file';
import type { SimTimer } from './event-loop';
import { count, type World } from './world';

/** What the state file holds: the node it belongs to and the reservation, as StateFile writes it. */
export interface DiskRecord {
  readonly datacenterId: number;
  readonly workerId: number;
  /** Unix ms, rounded up as StateFile.write does. */
  readonly reservedUntilMs: number;
}

interface InFlight {
  readonly record: DiskRecord;
  /** Undefined for a write that hangs (never completes). */
  readonly timer: SimTimer | undefined;
  readonly fails: boolean;
}

/**
 * The state-file device of one machine, at the granularity of StateFile's contract: a write is atomic
 * (temp file, fsync, rename), so the durable record is either the old one or the new one, never torn.
 * A write becomes durable when it completes; a crash drops every write still in flight, except that
 * one whose rename already happened (the crash landed between the rename and the process hearing of
 * it) is kept. Faults: failing writes (ENOSPC, EIO), slow writes, and writes that never complete.
 */
export class SimDisk {
  /** The content that survives a crash. */
  durable: DiskRecord | undefined;
  /** Writes completing before this true time fail. */
  failUntilMs = -Infinity;
  /** Writes started before this true time are slow (hundreds of ms). */
  slowUntilMs = -Infinity;
  /** How many of the next writes hang forever (until a crash drops them). */
  hangNext = 0;
  /** Called once with the duration of the next write that starts (to crash in the middle of it). */
  onNextWrite: ((writeMs: number) => void) | undefined;
  private readonly world: World;
  private readonly inFlight = new Set<InFlight>();

  constructor(world: World) {
    this.world = world;
  }

  /**
   * What StateFile.read(nodeMayChange) returns for `node`: 0 without a file; another node's file is
   * ignored when the node may change (etcd) and an error otherwise.
   */
  read(node: NodeId, nodeMayChange: boolean): ReadResult {
    const d = this.durable;
    if (d === undefined) return { reservedUntilMs: 0 };
    if (d.datacenterId !== node.datacenterId || d.workerId !== node.workerId) {
      const ignoredNode = { datacenterId: d.datacenterId, workerId: d.workerId };
      if (nodeMayChange) return { reservedUntilMs: 0, ignoredNode };
      throw new StateFileError(`simulated state file belongs to ${JSON.stringify(ignoredNode)}`);
    }
    return { reservedUntilMs: d.reservedUntilMs };
  }

  /**
   * Starts a write of `untilMs` for `node`; the promise settles when it completes, and never if the
   * process crashes first (`alive` turns false) or the write hangs.
   */
  write(node: NodeId, untilMs: number, alive: () => boolean): Promise<void> {
    const { loop, rng } = this.world;
    const record: DiskRecord = {
      datacenterId: node.datacenterId,
      workerId: node.workerId,
      reservedUntilMs: Math.ceil(untilMs),
    };
    return new Promise<void>((resolve, reject) => {
      // StateFile.write uses one temp file name per process (`<path>.<pid>.tmp`): two writes in flight at
      // once (an old session's and its successor's) would share it. Modelled as atomic here; counted.
      for (const other of this.inFlight) {
        if (other.timer === undefined) continue;
        count(this.world.counters, 'event.overlapping state-file writes');
        this.world.trace?.(
          `t=${loop.now.toFixed(3)} state-file write of ${record.reservedUntilMs} overlaps another`,
        );
        break;
      }
      if (this.hangNext > 0) {
        this.hangNext--;
        count(this.world.counters, 'event.disk write hung');
        this.inFlight.add({ record, timer: undefined, fails: false });
        return;
      }
      const delayMs = loop.now < this.slowUntilMs ? rng.range(100, 1500) : rng.range(0.2, 8);
      const fails = loop.now + delayMs < this.failUntilMs;
      const onWrite = this.onNextWrite;
      this.onNextWrite = undefined;
      onWrite?.(delayMs);
      const op: InFlight = {
        record,
        fails,
        timer: loop.after(delayMs, () => {
          this.inFlight.delete(op);
          if (!alive()) return;
          this.world.dirty = true;
          if (fails) {
            count(this.world.counters, 'event.disk write failed');
            reject(new Error('ENOSPC: no space left on device, write'));
          } else {
            this.durable = record;
            resolve();
          }
        }),
      };
      this.inFlight.add(op);
    });
  }

  /**
   * The process died (`crashed`) or exited: writes in flight are lost, unless (half the time) their
   * rename already happened.
   */
  crash(crashed = true): void {
    for (const op of this.inFlight) {
      this.world.loop.cancel(op.timer);
      const kept = op.timer !== undefined && !op.fails && this.world.rng.chance(0.5);
      if (kept) this.durable = op.record;
      if (crashed) {
        count(
          this.world.counters,
          kept ? 'event.crash after rename (write kept)' : 'event.crash mid-write (write lost)',
        );
      }
    }
    this.inFlight.clear();
    this.hangNext = 0;
  }
}
