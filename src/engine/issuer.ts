import type { Allocation, Generator, Wait } from '../core/generator';
import { CancelledError, RefusalError } from '../errors';
import type { IssuerObserver } from './events';

/**
 * How the issuer waits without blocking the event loop; injected (production: `timerScheduler` of
 * src/precise-timer.ts) so tests and the simulation drive a fake clock.
 */
export interface Scheduler {
  /** Resolves after about `ms` ms (may be fractional; ≤ 0 means "yield once"). */
  sleep(ms: number): Promise<void>;
}

/** Tuning for {@link IdIssuer}. */
export interface IssuerOptions {
  /**
   * Why no ID may be issued now, checked before every grant (the session's: closed, still starting,
   * reservation unavailable, lease not proven); undefined to go ahead. The generator answers for the
   * clock itself, in the same step.
   */
  readonly gate: () => RefusalError | undefined;
  /** Called when the generator reaches the reservation ceiling; resolves once it is extended, rejects with a RefusalError otherwise. */
  readonly extendReservation: () => Promise<void>;
}

/** What callers (the gRPC handlers) ask of an issuer; {@link IdIssuer} documents each method. */
export interface IdSource {
  next(isCancelled?: () => boolean): Promise<bigint>;
  batchInto(count: number, out: DataView, offset: number, isCancelled?: () => boolean): Promise<void>;
}

/**
 * The asynchronous face of a {@link Generator}: turns its Wait answers into non-blocking sleeps and
 * assembles batches across ticks. Whether it may issue at all is its gate's answer, asked before every
 * grant; it keeps no state of its own about that, and sets no timer.
 */
export class IdIssuer implements IdSource {
  private readonly generator: Generator;
  private readonly scheduler: Scheduler;
  private readonly observer: IssuerObserver;
  private readonly gate: () => RefusalError | undefined;
  private readonly extendReservation: () => Promise<void>;
  /** The sleep until the next tick that every call waiting for sequence shares; undefined when none waits. */
  private nextTick: Promise<void> | undefined;

  constructor(generator: Generator, scheduler: Scheduler, observer: IssuerObserver, options: IssuerOptions) {
    this.generator = generator;
    this.scheduler = scheduler;
    this.observer = observer;
    this.gate = options.gate;
    this.extendReservation = options.extendReservation;
  }

  /** One new ID. Rejects with a {@link RefusalError} when it must refuse. */
  async next(isCancelled: () => boolean = never): Promise<bigint> {
    let grant = this.allocate(1);
    while (grant.kind === 'wait') {
      await this.wait(grant, isCancelled);
      grant = this.allocate(1);
    }
    this.observer.issued(1);
    return this.generator.idAt(grant.tick, grant.firstSequence);
  }

  /**
   * `count` (≥ 1) new IDs in ascending order, possibly spanning several ticks, written into `out` from
   * byte `offset` on, 8 little-endian bytes each (protobuf fixed64), with no bigint per ID. `out` must
   * hold count × 8 bytes from `offset`. Stops early, rejecting, if `isCancelled` turns true while
   * waiting; IDs granted before that are never reissued.
   */
  async batchInto(
    count: number,
    out: DataView,
    offset: number,
    isCancelled: () => boolean = never,
  ): Promise<void> {
    let filled = 0;
    while (filled < count) {
      const grant = this.allocate(count - filled);
      if (grant.kind === 'wait') {
        await this.wait(grant, isCancelled);
        continue;
      }
      this.generator.writeIds(grant, out, offset + filled * 8);
      filled += grant.count;
      this.observer.issued(grant.count);
    }
  }

  /**
   * Waits until `grant` may clear, then throws CancelledError if the caller went away meanwhile.
   * Every call waiting for the next tick shares one sleep: they wake together at the tick boundary and
   * retry in arrival order, so the first takes the new tick's sequence whole and the rest find what it
   * left, instead of each waking on its own timer somewhere in a later ms.
   */
  private async wait(grant: Wait, isCancelled: () => boolean): Promise<void> {
    if (grant.reason === 'reservation') await this.refuseOnError(this.extendReservation());
    else if (grant.reason === 'sequence_exhausted') {
      this.nextTick ??= this.scheduler.sleep(grant.ms).finally(() => {
        this.nextTick = undefined;
      });
      await this.nextTick;
    } else await this.scheduler.sleep(grant.ms);
    if (isCancelled()) throw new CancelledError();
  }

  private allocate(max: number): Allocation | Wait {
    try {
      const blocked = this.gate();
      if (blocked !== undefined) throw blocked;
      return this.generator.allocate(max);
    } catch (err) {
      this.noteRefusal(err);
      throw err;
    }
  }

  private async refuseOnError(work: Promise<void>): Promise<void> {
    try {
      await work;
    } catch (err) {
      this.noteRefusal(err);
      throw err;
    }
  }

  private noteRefusal(err: unknown): void {
    if (err instanceof RefusalError) this.observer.refused(err);
  }
}

function never(): boolean {
  return false;
}
