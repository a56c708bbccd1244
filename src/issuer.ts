import { CancelledError, RefusalError } from './errors';
import type { Allocation, Generator, Wait } from './core/generator';
import { PreciseTimer } from './precise-timer';

/** How the issuer waits without blocking the event loop; injected so tests can drive a fake clock. */
export interface Scheduler {
  /** Resolves after about `ms` ms (may be fractional; ≤ 0 means "yield once"). */
  sleep(ms: number): Promise<void>;
}

/**
 * Waits on real timers, ending within about 0.1–0.3 ms after the deadline without keeping the event
 * loop busy (see {@link PreciseTimer}). The precision matters: a tick's sequence that no waiting call
 * picks up before the tick ends is lost throughput, and a plain setTimeout(1) per waiting batch left
 * 30–40 % of the ms unused under BatchIds load.
 */
export const timerScheduler: Scheduler = new PreciseTimer();

/** Notifications from the issuer for metrics, logs and health. */
export interface IssuerEvents {
  /** `count` IDs were handed out (counted when granted, even if the caller then goes away). */
  issued?(count: number): void;
  /** The issuer refused to issue IDs (`available` false) or can issue again (`available` true). */
  availabilityChanged?(available: boolean, reason: RefusalError | undefined): void;
  /** A call was refused with `err` (every refusal, for the refusals metric). */
  refused?(err: RefusalError): void;
}

/** Tuning for {@link IdIssuer}. */
export interface IssuerOptions {
  /** How often to re-check the clock while refusing, in ms. Default 100. */
  readonly recoveryCheckMs?: number;
  /** Refusal that applies before the generator is asked (e.g. still starting, lease lost); checked on every call. */
  readonly gate?: () => RefusalError | undefined;
  /** Called when the generator reaches the reservation ceiling; resolves once it is extended, rejects with a RefusalError otherwise. */
  readonly extendReservation?: () => Promise<void>;
}

/** What callers (the gRPC handlers) ask of an issuer; {@link IdIssuer} documents each method. */
export interface IdSource {
  next(isCancelled?: () => boolean): Promise<bigint>;
  batch(count: number, isCancelled?: () => boolean): Promise<bigint[]>;
  batchInto(count: number, out: DataView, offset: number, isCancelled?: () => boolean): Promise<void>;
}

/**
 * The asynchronous face of a {@link Generator}: turns its Wait answers into non-blocking sleeps,
 * assembles batches across ticks, and reports when it must refuse and when it recovers.
 */
export class IdIssuer implements IdSource {
  private readonly generator: Generator;
  private readonly scheduler: Scheduler;
  private readonly events: IssuerEvents;
  private readonly recoveryCheckMs: number;
  private readonly gate: () => RefusalError | undefined;
  private readonly extendReservation: () => Promise<void>;
  private refusing = false;
  private recoveryTimer: NodeJS.Timeout | undefined;
  /** The sleep until the next tick that every call waiting for sequence shares; undefined when none waits. */
  private nextTick: Promise<void> | undefined;

  constructor(
    generator: Generator,
    scheduler: Scheduler,
    events: IssuerEvents = {},
    options: IssuerOptions = {},
  ) {
    this.generator = generator;
    this.scheduler = scheduler;
    this.events = events;
    this.recoveryCheckMs = options.recoveryCheckMs ?? 100;
    this.gate = options.gate ?? (() => undefined);
    this.extendReservation = options.extendReservation ?? (() => Promise.resolve());
  }

  /** True unless the last attempt was refused and the clock has not recovered since. */
  get available(): boolean {
    return !this.refusing;
  }

  /** One new ID. Rejects with a {@link RefusalError} when it must refuse. */
  async next(isCancelled: () => boolean = never): Promise<bigint> {
    let grant = this.allocate(1);
    while (grant.kind === 'wait') {
      await this.wait(grant, isCancelled);
      grant = this.allocate(1);
    }
    this.events.issued?.(1);
    return this.generator.idAt(grant.tick, grant.firstSequence);
  }

  /**
   * `count` (≥ 1) new IDs in ascending order, possibly spanning several ticks. Stops early, rejecting,
   * if `isCancelled` turns true while waiting; IDs granted before that are never reissued.
   */
  async batch(count: number, isCancelled: () => boolean = never): Promise<bigint[]> {
    const ids = new Array<bigint>(count);
    await this.assemble(count, isCancelled, (grant, filled) => {
      for (let i = 0; i < grant.count; i++)
        ids[filled + i] = this.generator.idAt(grant.tick, grant.firstSequence + i);
    });
    return ids;
  }

  /**
   * Like {@link batch}, but writes the IDs into `out` from byte `offset` on, 8 little-endian bytes each
   * (protobuf fixed64), with no bigint per ID. `out` must hold count × 8 bytes from `offset`.
   */
  async batchInto(
    count: number,
    out: DataView,
    offset: number,
    isCancelled: () => boolean = never,
  ): Promise<void> {
    await this.assemble(count, isCancelled, (grant, filled) => {
      this.generator.writeIds(grant, out, offset + filled * 8);
    });
  }

  /** Stops background checks; pending calls still finish. */
  close(): void {
    clearTimeout(this.recoveryTimer);
    this.recoveryTimer = undefined;
  }

  /** Grants `count` IDs run by run (one run per tick touched), handing each run to `take` with the number taken before it. */
  private async assemble(
    count: number,
    isCancelled: () => boolean,
    take: (grant: Allocation, filled: number) => void,
  ): Promise<void> {
    let filled = 0;
    while (filled < count) {
      const grant = this.allocate(count - filled);
      if (grant.kind === 'wait') {
        await this.wait(grant, isCancelled);
        continue;
      }
      take(grant, filled);
      filled += grant.count;
      this.events.issued?.(grant.count);
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
      const grant = this.generator.allocate(max);
      // A reservation wait is not a recovery: while the reservation cannot be written it fails again
      // at once, so only a grant that can proceed ends a refusal (no issuing/refusing log flapping).
      if (this.refusing && !(grant.kind === 'wait' && grant.reason === 'reservation')) {
        this.setRefusing(undefined);
      }
      return grant;
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
    if (!(err instanceof RefusalError)) return;
    this.events.refused?.(err);
    this.setRefusing(err);
  }

  private setRefusing(reason: RefusalError | undefined): void {
    const refusing = reason !== undefined;
    if (refusing === this.refusing) return;
    this.refusing = refusing;
    this.events.availabilityChanged?.(!refusing, reason);
    if (refusing) this.scheduleRecoveryCheck();
  }

  private scheduleRecoveryCheck(): void {
    clearTimeout(this.recoveryTimer);
    this.recoveryTimer = setTimeout(() => {
      this.recoveryTimer = undefined;
      if (!this.refusing) return;
      if ((this.gate() ?? this.generator.probe()) === undefined) this.setRefusing(undefined);
      else this.scheduleRecoveryCheck();
    }, this.recoveryCheckMs);
    this.recoveryTimer.unref();
  }
}

function never(): boolean {
  return false;
}
