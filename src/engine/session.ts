import type { IdCodec, NodeId } from '../core/codec';
import { Generator } from '../core/generator';
import { layoutEndMs } from '../core/layout';
import type { TimeBase } from '../core/time-base';
import {
  ReservationUnavailableError,
  StartingError,
  WorkerLeaseLostError,
  type RefusalError,
} from '../errors';
import { ReservationKeeper } from '../state/reservation-keeper';
import type { ReadResult } from '../state/state-file';
import type { WorkerIdClaim } from '../worker-id/claim';
import type { SessionObserver } from './events';
import { IdIssuer, type Scheduler } from './issuer';

/** The per-machine reservation record a session reads at creation and writes through its keeper. */
export interface LocalReservationFile {
  /** Where it lives, for logs and errors. */
  readonly path: string;
  /** Reads the reservation (like `StateFile.read`); throws on a corrupt or foreign record. */
  read(nodeMayChange: boolean): ReadResult;
  /** Durably replaces it with `untilMs` (Unix ms). */
  write(untilMs: number): Promise<void>;
}

/** What a {@link NodeSession} is built from; shared by every session of one process. */
export interface SessionDeps {
  readonly codec: IdCodec;
  /** The ID time base (Unix ms); one per process, so it carries over from session to session. */
  readonly timeBase: TimeBase;
  /** Monotonic ms, the clock the claim's {@link WorkerIdClaim.safeUntilMs} is expressed in. */
  readonly monotonicNowMs: () => number;
  /** How the issuer and activation wait. */
  readonly scheduler: Scheduler;
  /** Resolves after `ms` ms: bounds how long a caller waits for a reservation write (half the lead). */
  readonly writeTimeout: (ms: number) => Promise<void>;
  /**
   * Opens the durable per-machine record of `node`'s reservation: the state file in production
   * (`new StateFile(dir, layout, node)`), a simulated disk in the fault simulation.
   */
  openStateFile(node: NodeId): LocalReservationFile;
  /** Longest clock step back waited out, in ms. */
  readonly maxClockBackwardsMs: number;
  /** Reservation lead in ms: how far ahead of the ID time base each reservation reaches. */
  readonly reservationMs: number;
  readonly observer: SessionObserver;
}

/** First pause before {@link NodeSession.activate} retries a failed first reservation write, in ms. */
const FIRST_WRITE_RETRY_MS = 100;
/** Longest pause between those retries, in ms. */
const MAX_FIRST_WRITE_RETRY_MS = 2_000;
/** Upper bound on first-write attempts whatever the wait budget (1 h / 2 s ≈ 1,800). */
const MAX_FIRST_WRITE_ATTEMPTS = 2_000;

/** Longest single sleep of an abortable wait for the clock, in ms: what an abort may leave pending. */
const ABORTABLE_SLICE_MS = 1_000;

/** Settles like `sleep`, or rejects with `signal`'s reason as soon as it is aborted. */
function abortable(sleep: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return sleep;
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      // The abort reason is what a caller of activate() is told, like signal.throwIfAborted() does.
      reject(signal.reason); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors
    };
    signal.addEventListener('abort', onAbort, { once: true });
    void sleep.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/** Why a session is not active yet, until {@link NodeSession.activate} changes it. */
const FIRST_WRITE_PENDING = 'starting: the first timestamp reservation is not durable yet';

/**
 * Everything tied to one held node ID: the claim, the generator stamping it, the reservation keeper
 * (state file + coordinator) and the issuer. A closed session is never revived: the supervisor builds a
 * new session from a new claim, so no generator state crosses from one holder period to the next except
 * through the floor.
 *
 * IDs are issued only while {@link NodeSession.refusal} is undefined — the session is activated and not
 * closed, the claim's fence holds, the reservation covers the tick, the clock is served — checked in the
 * same synchronous step as each grant.
 */
export class NodeSession {
  readonly claim: WorkerIdClaim;
  readonly generator: Generator;
  readonly keeper: ReservationKeeper;
  readonly issuer: IdIssuer;
  readonly stateFile: LocalReservationFile;
  /**
   * Unix ms before which this session issues nothing: the highest of the state file's reservation,
   * the coordinator's reservation left by earlier holders, and `notBeforeMs` given at creation.
   */
  readonly floorMs: number;
  private readonly deps: SessionDeps;
  private startingReason: string | undefined = FIRST_WRITE_PENDING;
  private closedBy: RefusalError | undefined;

  /**
   * Reads the state file (synchronously; throws `StateFileError` naming it when it is corrupt or
   * belongs to another layout — or node, unless the claim's node may change) and sets up the generator's
   * floor. `notBeforeMs`: Unix ms this process already issued up to (a lost session), or 0.
   */
  constructor(deps: SessionDeps, claim: WorkerIdClaim, notBeforeMs: number) {
    this.deps = deps;
    this.claim = claim;
    const { codec, timeBase, observer } = deps;
    this.stateFile = deps.openStateFile(claim.node);
    const { nodeMayChange, remoteReservation: remote } = claim.capabilities;
    const fromFile = this.stateFile.read(nodeMayChange);
    if (fromFile.ignoredNode !== undefined) {
      observer.foreignStateFileIgnored(this.stateFile.path, fromFile.ignoredNode, claim.node);
    }
    this.floorMs = Math.max(fromFile.reservedUntilMs, claim.previousReservationMs, notBeforeMs);
    this.generator = new Generator(
      codec,
      claim.node,
      timeBase,
      { maxBackwardsMs: deps.maxClockBackwardsMs, maxBackwardsName: 'SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS' },
      {
        sequenceExhausted() {
          observer.sequenceExhausted();
        },
      },
    );
    this.generator.restoreFloor(this.floorMs);
    const stateFile = this.stateFile;
    const endMs = layoutEndMs(codec.layout);
    const description = remote === undefined ? stateFile.path : `${stateFile.path} and ${remote}`;
    this.keeper = new ReservationKeeper(
      {
        // Durable in both places before the ceiling moves: the file protects a restart on this machine,
        // the coordinator a later holder of the worker ID on another machine. No ID's timestamp reaches
        // the layout's end, so a reservation there covers every ID; readers refuse one beyond it as damage.
        write: async (ms) => {
          const untilMs = Math.min(ms, endMs);
          await Promise.all([stateFile.write(untilMs), claim.storeReservation(untilMs)]);
        },
        description,
      },
      () => timeBase.peekMs(),
      this.generator,
      // A write still running after half the lead has let the ceiling come close: refuse rather than hang.
      { aheadMs: deps.reservationMs, writeTimeoutMs: deps.reservationMs / 2, sleep: deps.writeTimeout },
      {
        failed(err) {
          observer.stateWriteFailed(err, description);
        },
      },
    );
    // Nothing is known to be durable in both stores for this node yet: the first grant waits for a write.
    this.keeper.init(remote === undefined ? fromFile.reservedUntilMs : 0);
    this.issuer = new IdIssuer(this.generator, deps.scheduler, observer, {
      gate: () => this.gate(),
      extendReservation: () => this.keeper.ensureCovers(),
    });
  }

  /** True while the claim's lease is proven valid now (always, for static and ordinal sources). */
  get leaseValid(): boolean {
    return this.deps.monotonicNowMs() < this.claim.safeUntilMs();
  }

  /** True once {@link NodeSession.activate} has finished, until the session is closed. */
  get active(): boolean {
    return this.startingReason === undefined && this.closedBy === undefined;
  }

  /** True once {@link NodeSession.close} was called: the session never issues again. */
  get closed(): boolean {
    return this.closedBy !== undefined;
  }

  /** ms the ID time base still has to advance to pass the floor (≤ 0 when it already has). */
  private get behindFloorMs(): number {
    return this.floorMs - this.deps.timeBase.peekMs();
  }

  /**
   * Waits (without issuing, on the injected scheduler) until the time base has passed the floor, then
   * persists a reservation, retrying a failed write with backoff (100 ms doubling to 2 s) while the
   * session is open, the claim holds and `maxWaitMs` (ms, counted from the call) has not run out. Rejects
   * with {@link StartingError} when the clock wait alone would exceed `maxWaitMs`, and with
   * `ReservationUnavailableError` when no write succeeded in time. Until it resolves every call is
   * refused with STARTING. `where` names the reservation's origin in messages. Aborting `signal` ends the
   * waits at once (rejecting with its reason), so a shutdown never sits out the clock wait.
   */
  async activate(maxWaitMs: number, where: string, signal?: AbortSignal): Promise<void> {
    const giveUpAtMs = this.deps.monotonicNowMs() + maxWaitMs;
    await this.waitForFloor(maxWaitMs, where, signal);
    this.throwIfClosed();
    let backoffMs = FIRST_WRITE_RETRY_MS;
    // Bounded: every round but the last sleeps ≥ 100 ms within maxWaitMs (≤ 1 h), or gives up.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.keeper.ensureCovers();
        break;
      } catch (err) {
        const retry =
          err instanceof ReservationUnavailableError &&
          !this.closed &&
          this.leaseValid &&
          attempt < MAX_FIRST_WRITE_ATTEMPTS &&
          this.deps.monotonicNowMs() + backoffMs < giveUpAtMs;
        if (!retry) throw err;
        this.deps.observer.firstWriteRetry(err, attempt, backoffMs);
        await abortable(this.deps.scheduler.sleep(backoffMs), signal);
        backoffMs = Math.min(backoffMs * 2, MAX_FIRST_WRITE_RETRY_MS);
      }
    }
    this.throwIfClosed();
    this.startingReason = undefined;
  }

  /** A session closed while it activated (its claim lost) ends the activation with its reason. */
  private throwIfClosed(): void {
    if (this.closedBy !== undefined) throw this.closedBy;
  }

  private async waitForFloor(
    maxWaitMs: number,
    where: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    signal?.throwIfAborted();
    const behindMs = this.behindFloorMs;
    if (behindMs > 0) {
      const reservedUntil = new Date(this.floorMs).toISOString();
      if (behindMs > maxWaitMs) {
        throw new StartingError(
          `clock is ${Math.ceil(behindMs)} ms behind the timestamp reservation ${where} (${reservedUntil}), ` +
            `more than SNOWFLAKE_MAX_STARTUP_WAIT_MS=${maxWaitMs}: IDs issued before could be ` +
            'repeated; refusing to start',
        );
      }
      this.startingReason = `waiting ${Math.ceil(behindMs)} ms for the clock to pass the reservation ${reservedUntil}`;
      this.deps.observer.waitingForFloor(Math.ceil(behindMs), this.floorMs);
      // Bounded: each sleep lasts at least what is left — or, when `signal` may cut the wait short, a slice
      // of it, so that an abort leaves no long timer behind — so the extra rounds only cover timer jitter.
      const slices = signal === undefined ? 1 : Math.ceil(behindMs / ABORTABLE_SLICE_MS);
      for (let round = 0; round < slices + 100 && this.behindFloorMs > 0 && !this.closed; round++) {
        const ms =
          signal === undefined ? this.behindFloorMs : Math.min(this.behindFloorMs, ABORTABLE_SLICE_MS);
        await abortable(this.deps.scheduler.sleep(ms), signal);
      }
      this.startingReason = FIRST_WRITE_PENDING;
    }
  }

  /**
   * Ends the session for good: from now on every call on it — in flight, or waiting for a tick or a
   * write — is refused with `why` (WORKER_LEASE_LOST after a lost claim, SHUTTING_DOWN at stop). A
   * second close keeps the first reason.
   */
  close(why: RefusalError): void {
    this.closedBy ??= why;
  }

  /**
   * Why this session may not issue an ID now, or undefined when it may: closed (the reason given to
   * close), not activated yet (STARTING), the reservation neither durable ahead of the time base nor
   * writable (RESERVATION_UNAVAILABLE), the claim's lease not proven (WORKER_LEASE_LOST), the wall clock
   * too far behind (CLOCK_SKEW), the clock behind the last issued tick beyond the bound
   * (CLOCK_MOVED_BACKWARDS), or past the layout's range (TIME_OVERFLOW). Health reads it through the
   * supervisor; the issuer asks its first part before every grant, and the generator's grant answers
   * the clock part itself in the same synchronous step (with the same errors). Reads the clocks, grants
   * nothing.
   */
  refusal(): RefusalError | undefined {
    const blocked = this.gate();
    if (blocked !== undefined) return blocked;
    const { timeBase } = this.deps;
    const nowMs = timeBase.peekMs();
    return timeBase.refusal() ?? this.generator.probe(nowMs);
  }

  /** The part of {@link NodeSession.refusal} that does not depend on the clock: asked before every grant. */
  private gate(): RefusalError | undefined {
    if (this.closedBy !== undefined) return this.closedBy;
    if (this.startingReason !== undefined) return new StartingError(this.startingReason);
    const { failure, reservedUntilMs } = this.keeper;
    if (failure !== undefined && reservedUntilMs <= this.deps.timeBase.peekMs()) {
      // Housekeeping retries the write (maybeRenew); until one lands there is nothing durable to issue under.
      return new ReservationUnavailableError(
        `cannot persist the timestamp reservation to ${this.stateFile.path}: ${failure.message}; refusing to ` +
          'issue IDs that a restart could repeat',
      );
    }
    if (!this.leaseValid) {
      const { node, capabilities } = this.claim;
      return new WorkerLeaseLostError(
        `cannot prove the lease on datacenter ${node.datacenterId} worker ${node.workerId} is still valid ` +
          `(no recent keepalive acknowledged by ${capabilities.remoteReservation ?? 'its source'}); refusing ` +
          'rather than risk a duplicate',
      );
    }
    return undefined;
  }
}
