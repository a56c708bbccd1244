import { CancelledError, RefusalError } from './errors';
import type { Generator } from './core/generator';

/** How the issuer waits without blocking the event loop; injected so tests can drive a fake clock. */
export interface Scheduler {
  /** Resolves after about `ms` ms (may be fractional; ≤ 0 means "yield once"). */
  sleep(ms: number): Promise<void>;
}

/** Waits on real timers: whole ms with setTimeout, the sub-ms remainder by yielding with setImmediate. */
export const timerScheduler: Scheduler = {
  sleep(ms) {
    return new Promise((resolve) => {
      if (ms >= 1) setTimeout(resolve, Math.floor(ms));
      else setImmediate(resolve);
    });
  },
};

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

/**
 * The asynchronous face of a {@link Generator}: turns its Wait answers into non-blocking sleeps,
 * assembles batches across ticks, and reports when it must refuse and when it recovers.
 */
export class IdIssuer {
  private readonly generator: Generator;
  private readonly scheduler: Scheduler;
  private readonly events: IssuerEvents;
  private readonly recoveryCheckMs: number;
  private readonly gate: () => RefusalError | undefined;
  private readonly extendReservation: () => Promise<void>;
  private refusing = false;
  private recoveryTimer: NodeJS.Timeout | undefined;

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
    const ids = await this.batch(1, isCancelled);
    return ids[0] as bigint;
  }

  /**
   * `count` (≥ 1) new IDs in ascending order, possibly spanning several ticks. Stops early, rejecting,
   * if `isCancelled` turns true while waiting; IDs granted before that are never reissued.
   */
  async batch(count: number, isCancelled: () => boolean = never): Promise<bigint[]> {
    const ids = new Array<bigint>(count);
    let filled = 0;
    while (filled < count) {
      const grant = this.allocate(count - filled);
      if (grant.kind === 'wait') {
        if (grant.reason === 'reservation') await this.refuseOnError(this.extendReservation());
        else await this.scheduler.sleep(grant.ms);
        if (isCancelled()) throw new CancelledError();
        continue;
      }
      for (let i = 0; i < grant.count; i++)
        ids[filled++] = this.generator.idAt(grant.tick, grant.firstSequence + i);
      this.events.issued?.(grant.count);
    }
    return ids;
  }

  /** Stops background checks; pending calls still finish. */
  close(): void {
    clearTimeout(this.recoveryTimer);
    this.recoveryTimer = undefined;
  }

  private allocate(max: number): ReturnType<Generator['allocate']> {
    try {
      const blocked = this.gate();
      if (blocked !== undefined) throw blocked;
      const grant = this.generator.allocate(max);
      if (this.refusing) this.setRefusing(undefined);
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
