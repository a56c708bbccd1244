import { ReservationUnavailableError } from '../errors';

/** Where a reservation is made durable (the state file, and etcd in a fleet). */
export interface ReservationStore {
  /** Persists `untilMs` (Unix ms); resolves only once it is durable. */
  write(untilMs: number): Promise<void>;
  /** Human-readable location for error messages. */
  readonly description: string;
}

/** The parts of the generator the keeper drives. */
export interface CeilingTarget {
  /** Never issue an ID whose timestamp is at or after `ceilingMs`. */
  setCeiling(ceilingMs: number): void;
  /** Unix ms just past the last issued tick. */
  readonly issuedUntilMs: number;
}

/** Tuning for {@link ReservationKeeper}. */
export interface KeeperOptions {
  /** How far ahead of now each reservation reaches, in ms (SNOWFLAKE_RESERVATION_MS). */
  readonly aheadMs: number;
  /**
   * Longest {@link ReservationKeeper.ensureCovers} and {@link ReservationKeeper.finalize} wait for one
   * write, in ms, before treating it as failed (a hung disk or coordinator must turn into a refusal, not
   * a hang). The write itself goes on, and no other starts until it settles, so writes never land out
   * of order. Needs `sleep`. Default: no limit.
   */
  readonly writeTimeoutMs?: number;
  /** How to wait for `writeTimeoutMs` (the issuer's scheduler, so simulated time works too). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Notifications for logs and metrics. */
export interface KeeperEvents {
  /** A write failed, or has run longer than `writeTimeoutMs`. */
  failed?(err: Error): void;
}

/**
 * Keeps a durable timestamp reservation ahead of the IDs being issued: the generator's ceiling is the
 * last reservation known to be persisted, so no ID can carry a timestamp that a crash-and-restart could
 * reuse. Renewal starts when less than half of `aheadMs` is left, from a periodic call
 * ({@link maybeRenew}) off the request path; writes never overlap.
 */
export class ReservationKeeper {
  private readonly store: ReservationStore;
  private readonly now: () => number;
  private readonly target: CeilingTarget;
  private readonly options: KeeperOptions;
  private readonly events: KeeperEvents;
  private persistedMs = 0;
  private pending: Promise<void> | undefined;
  private pendingSinceMs = 0;
  private lastError: Error | undefined;

  /** `now`: the ID time base in Unix ms (not refusing, not recording). */
  constructor(
    store: ReservationStore,
    now: () => number,
    target: CeilingTarget,
    options: KeeperOptions,
    events: KeeperEvents = {},
  ) {
    this.store = store;
    this.now = now;
    this.target = target;
    this.options = options;
    this.events = events;
  }

  /** The reservation known to be persisted, in Unix ms. */
  get reservedUntilMs(): number {
    return this.persistedMs;
  }

  /**
   * The last write error until a write succeeds again, or a write running for longer than
   * `writeTimeoutMs` (a stall).
   */
  get failure(): Error | undefined {
    const { writeTimeoutMs } = this.options;
    if (
      this.lastError === undefined &&
      this.pending !== undefined &&
      writeTimeoutMs !== undefined &&
      this.now() - this.pendingSinceMs > writeTimeoutMs
    ) {
      return this.stalled();
    }
    return this.lastError;
  }

  /** Starts from a reservation already persisted (read at boot). */
  init(persistedMs: number): void {
    this.persistedMs = persistedMs;
    this.target.setCeiling(persistedMs);
  }

  /** Starts a renewal if less than half the lead is left and none is running; returns the running write, if any. */
  maybeRenew(): Promise<void> | undefined {
    if (this.pending === undefined && this.persistedMs - this.now() < this.options.aheadMs / 2) {
      void this.persist(this.now() + this.options.aheadMs);
    }
    return this.pending;
  }

  /**
   * Resolves once the persisted reservation is ahead of now (renewing if needed); rejects with
   * {@link ReservationUnavailableError} when it cannot be persisted.
   */
  async ensureCovers(): Promise<void> {
    for (let attempt = 0; attempt < 2 && this.persistedMs <= this.now(); attempt++) {
      const settled = await this.bounded(
        this.maybeRenew() ?? this.persist(this.now() + this.options.aheadMs),
      );
      if (!settled) break;
    }
    if (this.persistedMs <= this.now()) {
      const why = this.lastError?.message ?? 'the write did not complete';
      throw new ReservationUnavailableError(
        `cannot persist the timestamp reservation to ${this.store.description}: ${why}; refusing to issue IDs ` +
          `that a restart could repeat`,
      );
    }
  }

  /**
   * After the last ID: persists exactly what was issued, so a restart need not wait out the lead.
   * Gives up (setting {@link ReservationKeeper.failure}) when a write exceeds `writeTimeoutMs`; the
   * reservation already persisted then still covers every issued ID.
   */
  async finalize(): Promise<void> {
    if (this.pending !== undefined && !(await this.bounded(this.pending))) return;
    await this.bounded(this.persist(Math.max(this.target.issuedUntilMs, 0)));
  }

  /** Waits for `write` at most `writeTimeoutMs`; resolves true if it settled, false on timeout. */
  private async bounded(write: Promise<void>): Promise<boolean> {
    const { writeTimeoutMs, sleep } = this.options;
    if (writeTimeoutMs === undefined || sleep === undefined) {
      await write;
      return true;
    }
    const outcome = { settled: false };
    const done = write.then(() => {
      outcome.settled = true;
    });
    await Promise.race([done, sleep(writeTimeoutMs)]);
    if (!outcome.settled) {
      this.lastError = this.stalled();
      this.events.failed?.(this.lastError);
    }
    return outcome.settled;
  }

  private stalled(): Error {
    return new Error(
      `a write to ${this.store.description} has not completed within ${this.options.writeTimeoutMs} ms`,
    );
  }

  private persist(requestedMs: number): Promise<void> {
    // Whole ms on disk and in etcd; rounding up only widens what is covered.
    const untilMs = Math.ceil(requestedMs);
    const write = this.store.write(untilMs).then(
      () => {
        this.persistedMs = untilMs;
        this.lastError = undefined;
        this.target.setCeiling(untilMs);
      },
      (err: unknown) => {
        this.lastError = err instanceof Error ? err : new Error(String(err));
        this.events.failed?.(this.lastError);
      },
    );
    const tracked = write.finally(() => {
      if (this.pending === tracked) this.pending = undefined;
    });
    this.pending = tracked;
    this.pendingSinceMs = this.now();
    return tracked;
  }
}
