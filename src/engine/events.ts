import type { NodeId } from '../core/codec';
import type { SkewChange } from '../core/time-base';
import type { RefusalError } from '../errors';
import type { NodeSession } from './session';

/**
 * What an {@link IdIssuer} reports. Every engine observer method is called synchronously, on the path
 * that caused it, and must neither throw nor block.
 */
export interface IssuerObserver {
  /** `count` IDs were granted to a call (counted when granted, even if the caller then goes away). */
  issued(count: number): void;
  /** A call was refused with `err` (every refusal, whatever its code). */
  refused(err: RefusalError): void;
}

/** What a {@link NodeSession} reports, besides its issuer's events. */
export interface SessionObserver extends IssuerObserver {
  /** A tick's sequence ran out: callers wait for the next tick. */
  sequenceExhausted(): void;
  /** A reservation write to `where` (the state file, and the coordinator if any) failed or stalled. */
  stateWriteFailed(err: Error, where: string): void;
  /**
   * The state file at `path` holds the reservation of `fileNode`, not of the claimed `node` (a worker ID
   * claimed earlier): its reservation does not apply.
   */
  foreignStateFileIgnored(path: string, fileNode: NodeId, node: NodeId): void;
  /** Activation waits `behindMs` ms for the ID time base to pass the floor (Unix ms `floorMs`). */
  waitingForFloor(behindMs: number, floorMs: number): void;
  /** Activation's first reservation write failed (`attempt`, from 1); it retries in `retryInMs` ms. */
  firstWriteRetry(err: Error, attempt: number, retryInMs: number): void;
}

/** Why a session was opened: the first claim of the process, or a re-claim after a lost one. */
export type SessionCause = 'start' | 'reclaim';

/**
 * Everything the engine (supervisor, sessions, issuers, time base) reports: the one input of the metrics
 * and the lifecycle logs (src/metrics/engine-metrics.ts), and of the fault simulation's checker.
 */
export interface EngineObserver extends SessionObserver {
  /**
   * The answer of {@link Supervisor.refusal} changed: `refusal` is why IDs are not issued now, undefined
   * once they are. Reported once at start, then whenever it changes code: checked at every lifecycle
   * step, every housekeeping tick, when a call is refused with another code, and when an ID is issued
   * while a refusal stands.
   */
  availabilityChanged(refusal: RefusalError | undefined): void;
  /** The current claim is held and proven (true), or not (false); reported when it changes. */
  leaseStateChanged(valid: boolean): void;
  /** IDs are stamped with `node` from now on (the first claim, or a re-claim that serves). */
  nodeChanged(node: NodeId): void;
  /** The wall clock stepped against the ID time base, or its refusal began or ended. */
  skewChanged(change: SkewChange): void;
  /**
   * Housekeeping reading, every tick: `skewMs` wall clock minus the ID time base, and
   * `timeRemainingMs` until the layout's timestamp field is used up, both in ms.
   */
  clockRead(skewMs: number, timeRemainingMs: number): void;
  /** The first claim is being asked of `source` (which may wait up to `maxWaitMs` ms); not serving until then. */
  claiming(source: string, maxWaitMs: number): void;
  /** A session was opened on a fresh claim (not serving yet: it activates next). */
  sessionOpened(session: NodeSession, cause: SessionCause): void;
  /** `session` serves: IDs are issued on it from now on (`reservedUntilMs`: its first durable reservation). */
  serving(session: NodeSession, cause: SessionCause, reservedUntilMs: number): void;
  /** The claim on `node` was lost (`reason`, from the source): its session is closed and a re-claim starts. */
  claimLost(node: NodeId, reason: string): void;
  /** A re-claim attempt failed with `err`; the next one starts in `retryInMs` ms. */
  reclaimFailed(err: unknown, retryInMs: number): void;
  /** The final reservation write at stop failed: the reservation already durable still covers every ID. */
  finalWriteFailed(err: Error): void;
}
