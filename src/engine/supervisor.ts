import type { IdCodec, NodeId } from '../core/codec';
import { layoutEndMs } from '../core/layout';
import { TimeBase, type ClockSources } from '../core/time-base';
import {
  ShuttingDownError,
  StartingError,
  WorkerLeaseLostError,
  type ErrorCode,
  type RefusalError,
} from '../errors';
import type { Timers } from '../timers';
import type { WorkerIdClaim, WorkerIdSource } from '../worker-id/claim';
import type { EngineObserver, SessionCause } from './events';
import type { IdSource, Scheduler } from './issuer';
import { NodeSession, type LocalReservationFile, type SessionDeps } from './session';

/** How often availability, the lease, the clock readings and the reservation renewal are checked, in ms. */
export const HOUSEKEEPING_MS = 100;

/** Backoff between attempts to re-claim a worker ID after losing one, in ms: doubled up to the max. */
export const RECLAIM_BACKOFF_MS = { first: 500, max: 10_000 } as const;

/** How long one re-claim attempt lets the source retry an unreachable coordinator before backing off, in ms. */
export const RECLAIM_RETRY_WINDOW_MS = 30_000;

/** What a {@link Supervisor} runs on: typed settings and every collaborator; it reads no global clock or timer. */
export interface SupervisorOptions {
  /** Where worker IDs come from: claimed at start, and again after each lost claim. */
  readonly source: WorkerIdSource;
  readonly codec: IdCodec;
  /**
   * Wall and monotonic clocks of the ID time base; the monotonic one is also the clock of the claims'
   * {@link WorkerIdClaim.safeUntilMs} (the source must use the same one).
   */
  readonly clockSources: ClockSources;
  /** Largest |wall clock − ID time base| served, in ms. */
  readonly maxClockSkewMs: number;
  /** Longest clock step back (behind the last issued tick) waited out, in ms; beyond it calls are refused. */
  readonly maxClockBackwardsMs: number;
  /** How far ahead of the ID time base each durable reservation reaches, in ms. */
  readonly reservationMs: number;
  /**
   * Longest wait, in ms, for a session to start serving (the clock passing its floor, then the first
   * reservation write); with a source that waits, also the first claim's deadline, counted from the
   * supervisor's construction.
   */
  readonly maxStartupWaitMs: number;
  /** How calls wait for the next tick and activation for the clock. */
  readonly scheduler: Scheduler;
  /** The housekeeping tick, re-claim backoffs and reservation-write timeouts. */
  readonly timers: Timers;
  /** Opens the durable per-machine reservation record of `node` (the state file). */
  openStateFile(node: NodeId): LocalReservationFile;
  /** Receives every engine event (metrics, logs, the simulation's checks). */
  readonly observer: EngineObserver;
}

/**
 * `starting`: the first session is not serving yet. `serving`: the current session issues IDs (or would,
 * but for a refusal it may recover from). `reclaiming`: the current session was lost and a new claim is
 * being made. `stopping`: {@link Supervisor.stop} was called.
 */
type Phase = 'starting' | 'serving' | 'reclaiming' | 'stopping';

/**
 * Owns the session of this process and its whole lifecycle: the first claim (at once with {@link open}
 * for a source that settles at once, in the background from {@link start} for one that waits), the
 * session's activation, a housekeeping tick every {@link HOUSEKEEPING_MS} (clock readings, reservation
 * renewal, lease and availability reports), loss → close → release → re-claim with backoff and a floor
 * at what this process issued, and {@link stop}. Calls go through {@link Supervisor.issuer}; whether IDs
 * may be issued now is {@link Supervisor.refusal}, the one answer that per-call gates and health share.
 */
export class Supervisor {
  /** Where calls get IDs: the current session's issuer, or a refusal ({@link refusal}) without one. */
  readonly issuer: IdSource;
  /** The ID time base of the process: one for every session, so it carries over a re-claim. */
  private readonly timeBase: TimeBase;
  private readonly options: SupervisorOptions;
  private readonly observer: EngineObserver;
  private readonly deps: SessionDeps;
  /** Monotonic ms at construction: the first claim's deadline counts from it. */
  private readonly startedAtMs: number;
  /** Aborted by stop(): ends a pending claim, a clock wait or a first-write retry at once. */
  private readonly stopAbort = new AbortController();
  private phase: Phase = 'starting';
  /** The session calls go to; undefined until the first claim. A lost one stays until its successor serves. */
  private current: NodeSession | undefined;
  /** A re-claimed session that is activating, not serving yet. */
  private pending: NodeSession | undefined;
  private ready: Promise<void> | undefined;
  private reclaiming: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private housekeeping: unknown;
  private wakeBackoff: (() => void) | undefined;
  /** The availability last reported (`null`: serving); undefined before the first report. */
  private reportedCode: ErrorCode | null | undefined;
  private reportedLease: boolean | undefined;

  constructor(options: SupervisorOptions) {
    this.options = options;
    const { clockSources, observer, timers } = options;
    this.observer = observer;
    this.timeBase = new TimeBase(
      clockSources,
      options.maxClockSkewMs,
      {
        skewChanged(change) {
          observer.skewChanged(change);
        },
      },
      'SNOWFLAKE_MAX_CLOCK_SKEW_MS',
    );
    const monotonicNowMs = () => clockSources.monotonicMs();
    this.startedAtMs = monotonicNowMs();
    this.deps = {
      codec: options.codec,
      timeBase: this.timeBase,
      monotonicNowMs,
      scheduler: options.scheduler,
      writeTimeout: (ms) =>
        new Promise((resolve) => {
          timers.after(ms, resolve);
        }),
      openStateFile: (node) => options.openStateFile(node),
      maxClockBackwardsMs: options.maxClockBackwardsMs,
      reservationMs: options.reservationMs,
      // Calls report a change of availability at once (health follows without waiting for the tick):
      // a refusal with a new code, or an ID issued while a refusal is reported.
      observer: {
        issued: (n) => {
          observer.issued(n);
          if (this.reportedCode !== null) this.checkAvailability();
        },
        refused: (err) => {
          observer.refused(err);
          if (this.reportedCode !== err.code) this.checkAvailability();
        },
        sequenceExhausted: () => {
          observer.sequenceExhausted();
        },
        stateWriteFailed: (err, where) => {
          observer.stateWriteFailed(err, where);
        },
        foreignStateFileIgnored: (path, fileNode, node) => {
          observer.foreignStateFileIgnored(path, fileNode, node);
        },
        waitingForFloor: (behindMs, floorMs) => {
          observer.waitingForFloor(behindMs, floorMs);
        },
        firstWriteRetry: (err, attempt, retryInMs) => {
          observer.firstWriteRetry(err, attempt, retryInMs);
        },
      },
    };
    // A call waiting across a re-claim stays on the session it started on, whose gate then refuses it.
    this.issuer = {
      next: (isCancelled) => this.current?.issuer.next(isCancelled) ?? this.refuseCall(),
      batchInto: (count, out, offset, isCancelled) =>
        this.current?.issuer.batchInto(count, out, offset, isCancelled) ?? this.refuseCall(),
    };
  }

  /** The session calls go to (a lost one until its successor serves); undefined before the first claim. */
  get session(): NodeSession | undefined {
    return this.current;
  }

  /** The node ID stamped into IDs: the current session's; undefined before the first claim. */
  node(): NodeId | undefined {
    return this.current?.claim.node;
  }

  /**
   * Why no ID may be issued now, or undefined when IDs are issued: SHUTTING_DOWN once {@link stop} was
   * called; STARTING before the first claim; otherwise the current session's refusal
   * ({@link NodeSession.refusal}: STARTING until it serves, WORKER_LEASE_LOST once its claim is lost and
   * until a re-claimed session serves, or what keeps a serving session from issuing). Health is
   * NOT_SERVING exactly while this returns a refusal; every call is gated on its session's part of it.
   */
  refusal(): RefusalError | undefined {
    if (this.stopping()) return new ShuttingDownError();
    if (this.current === undefined) return this.unclaimed();
    return this.current.refusal();
  }

  /**
   * For a source that settles at once (not `claimWaits`): claims now and opens the first session, so a
   * bad state file fails the caller; a claim is given back if its session cannot be opened. Does nothing
   * for a source that waits: {@link start} claims in the background. Aborting `signal` gives the claim up.
   */
  async open(signal?: AbortSignal): Promise<void> {
    if (this.options.source.capabilities.claimWaits || this.current !== undefined) return;
    const claim = await this.options.source.claim(signal, 0);
    this.adopt(await this.openSession(claim, 0, 'start', signal));
  }

  /**
   * Starts the housekeeping tick and, in the background, the first claim (unless {@link open} made it)
   * and the session's activation. Returns the promise (the same on every call) that resolves once IDs are
   * issued, and rejects if that cannot happen: the claim fails for good (a source that waits retries an
   * unreachable coordinator until maxStartupWaitMs after construction), the clock wait would exceed
   * maxStartupWaitMs, no reservation write succeeds in time, the claim is lost before serving, or
   * {@link stop} came first. Whatever it held is given back by {@link stop}.
   */
  start(): Promise<void> {
    if (this.ready === undefined) {
      this.ready = this.serveFirst();
      this.ready.catch(() => undefined);
      this.checkLease();
      this.checkAvailability();
      this.scheduleHousekeeping();
    }
    return this.ready;
  }

  /**
   * Stops, in this order: ends the housekeeping tick and aborts a pending claim, re-claim, backoff or
   * activation wait (reporting SHUTTING_DOWN: health turns NOT_SERVING); runs `drain` (the caller's: calls
   * in flight go on issuing on their session meanwhile); then closes the sessions (later calls:
   * SHUTTING_DOWN), persists exactly what was issued if the session served and its lease is still proven
   * (so a restart need not wait out the lead), and releases the claim. Later calls return the first
   * call's promise.
   */
  stop(drain: () => Promise<void>): Promise<void> {
    this.stopped ??= this.stopOnce(drain);
    return this.stopped;
  }

  private async stopOnce(drain: () => Promise<void>): Promise<void> {
    this.phase = 'stopping';
    this.options.timers.cancel(this.housekeeping);
    this.wakeBackoff?.();
    this.stopAbort.abort(new ShuttingDownError());
    this.checkAvailability();
    await drain();
    // Both end at once on the abort above (a coordinator call in flight: within its own timeout).
    await Promise.all([this.reclaiming, this.ready?.catch(() => undefined)]);
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined) {
      pending.close(new ShuttingDownError());
      await pending.claim.release();
    }
    const last = this.current;
    if (last === undefined) return;
    const wasActive = last.active;
    last.close(new ShuttingDownError());
    if (wasActive && last.leaseValid) await last.keeper.finalize();
    if (last.keeper.failure !== undefined) this.observer.finalWriteFailed(last.keeper.failure);
    await last.claim.release();
  }

  /** Read through a method: the phase changes across awaits, which flow analysis does not see. */
  private stopping(): boolean {
    return this.phase === 'stopping';
  }

  private unclaimed(): RefusalError {
    return new StartingError(
      `waiting for ${this.options.source.name} to grant a worker ID; no IDs until one is claimed`,
    );
  }

  private refuseCall(): Promise<never> {
    const err = this.refusal() ?? this.unclaimed();
    this.observer.refused(err);
    return Promise.reject(err);
  }

  /** A session on `claim`, watched for loss; the claim is given back if the session cannot be opened. */
  private async openSession(
    claim: WorkerIdClaim,
    notBeforeMs: number,
    cause: SessionCause,
    signal: AbortSignal | undefined,
  ): Promise<NodeSession> {
    let session: NodeSession;
    try {
      signal?.throwIfAborted();
      session = new NodeSession(this.deps, claim, notBeforeMs);
    } catch (err) {
      await claim.release();
      throw err;
    }
    claim.onLost((reason) => {
      this.lost(session, reason);
    });
    this.observer.sessionOpened(session, cause);
    return session;
  }

  /** Makes the first session the current one (serving once activated). */
  private adopt(session: NodeSession): void {
    this.current = session;
    this.observer.nodeChanged(session.claim.node);
    this.checkLease();
  }

  private async serveFirst(): Promise<void> {
    const { source, maxStartupWaitMs } = this.options;
    let session = this.current;
    if (session === undefined) {
      this.observer.claiming(source.name, maxStartupWaitMs);
      const claim = await source.claim(
        this.stopAbort.signal,
        this.startedAtMs + maxStartupWaitMs - this.deps.monotonicNowMs(),
      );
      session = await this.openSession(claim, 0, 'start', this.stopAbort.signal);
      this.adopt(session);
    }
    const remote = session.claim.capabilities.remoteReservation;
    await this.activate(
      session,
      `in ${session.stateFile.path}${remote === undefined ? '' : ` or left in ${remote} by an earlier holder`}`,
    );
    if (this.stopping()) throw new ShuttingDownError();
    this.phase = 'serving';
    this.observer.serving(session, 'start', session.keeper.reservedUntilMs);
    this.checkLease();
    this.checkAvailability();
  }

  /** Activates `session`; rejects with the session's own reason if it was closed (its claim lost) meanwhile. */
  private async activate(session: NodeSession, where: string): Promise<void> {
    try {
      await session.activate(this.options.maxStartupWaitMs, where, this.stopAbort.signal);
    } catch (err) {
      throw (session.closed ? session.refusal() : undefined) ?? err;
    }
  }

  private lost(session: NodeSession, reason: string): void {
    if (this.stopping() || session.closed) return;
    const { node } = session.claim;
    this.observer.claimLost(node, reason);
    const serving = this.phase === 'serving' && session === this.current;
    session.close(
      new WorkerLeaseLostError(
        `the claim on datacenter ${node.datacenterId} worker ${node.workerId} was lost (${reason}); ` +
          (serving ? 'claiming a worker ID again' : 'refusing'),
      ),
    );
    void session.claim.release();
    // A pending session's loss ends its activation, and the re-claim loop tries again; a first session's
    // loss ends the start (start() rejects).
    if (serving) {
      this.phase = 'reclaiming';
      this.reclaiming = this.reclaim(session).finally(() => {
        this.reclaiming = undefined;
      });
    }
    this.checkLease();
    this.checkAvailability();
  }

  /** Claims a worker ID again (possibly another one) and serves a new session after the lost one's IDs. */
  private async reclaim(lost: NodeSession): Promise<void> {
    // Nothing this process issued may come again, whichever worker ID it gets: a new holder of the same
    // ID reads the reservation, but this process's own last IDs may lie beyond what the state file says.
    const notBeforeMs = Math.max(lost.generator.issuedUntilMs, lost.floorMs);
    const { source } = this.options;
    const signal = this.stopAbort.signal;
    // Bounded by stop(): every round either serves, or waits out a backoff that stop() cuts short.
    for (
      let backoffMs: number = RECLAIM_BACKOFF_MS.first;
      !this.stopping();
      backoffMs = Math.min(backoffMs * 2, RECLAIM_BACKOFF_MS.max)
    ) {
      try {
        const claim = await source.claim(signal, RECLAIM_RETRY_WINDOW_MS);
        const next = await this.openSession(claim, notBeforeMs, 'reclaim', signal);
        this.pending = next;
        const remote = next.claim.capabilities.remoteReservation;
        await this.activate(
          next,
          `left in ${remote ?? 'the state file'} by this process or an earlier holder`,
        );
        // stop() closes and releases the pending session.
        if (this.stopping()) return;
        this.pending = undefined;
        this.current = next;
        this.phase = 'serving';
        this.observer.nodeChanged(next.claim.node);
        this.observer.serving(next, 'reclaim', next.keeper.reservedUntilMs);
        this.checkLease();
        this.checkAvailability();
        return;
      } catch (err) {
        if (this.stopping()) return;
        const failed = this.pending;
        this.pending = undefined;
        if (failed !== undefined) {
          failed.close(new WorkerLeaseLostError('this re-claimed worker ID is being given up'));
          await failed.claim.release();
        }
        this.observer.reclaimFailed(err, backoffMs);
      }
      // stop() may have come while this attempt ran: its wake-up then reached no sleep.
      if (this.stopping()) return;
      await this.backoff(backoffMs);
    }
  }

  /** Resolves after `ms` ms, or at once when stop() wakes it. */
  private backoff(ms: number): Promise<void> {
    const { timers } = this.options;
    return new Promise((resolve) => {
      const wake = () => {
        timers.cancel(timer);
        this.wakeBackoff = undefined;
        resolve();
      };
      const timer = timers.after(ms, wake);
      this.wakeBackoff = wake;
    });
  }

  private scheduleHousekeeping(): void {
    this.housekeeping = this.options.timers.after(HOUSEKEEPING_MS, () => {
      if (this.stopping()) return;
      this.housekeep();
      this.scheduleHousekeeping();
    });
  }

  /** One housekeeping tick: clock readings, the reservation renewal off the request path, lease and health. */
  private housekeep(): void {
    const nowMs = this.timeBase.peekMs();
    this.observer.clockRead(this.timeBase.skewMs, layoutEndMs(this.options.codec.layout) - nowMs);
    const current = this.current;
    if (current?.active === true && !this.timeBase.isRefusing) void current.keeper.maybeRenew();
    this.checkLease();
    this.checkAvailability();
  }

  private checkLease(): void {
    const current = this.current;
    const valid = current !== undefined && !current.closed && current.leaseValid;
    if (valid === this.reportedLease) return;
    this.reportedLease = valid;
    this.observer.leaseStateChanged(valid);
  }

  private checkAvailability(): void {
    const refusal = this.refusal();
    const code = refusal === undefined ? null : refusal.code;
    if (code === this.reportedCode) return;
    this.reportedCode = code;
    this.observer.availabilityChanged(refusal);
  }
}
