import { IdClientError } from './errors';
import { fire, type ExpiredEvent, type RefillEvent, type WasteEvent } from './hooks';
import type { PoolLevels, RefillPlan, RefillPolicy } from './prefetch-policy';

/** IDs as a refill delivers them: a BigUint64Array (8 bytes per ID) or an array of bigints. */
export type PrefetchedIds = ArrayLike<bigint>;

/** What the pool needs from outside. */
export interface PrefetchPoolDeps {
  /** Fetches exactly `count` new IDs (a BatchIds call with failover); rejects with {@link IdClientError}. */
  readonly fetch: (count: number) => Promise<PrefetchedIds>;
  /** The servers' max_batch_size (GetInfo); asked when the policy learns batch sizes, until one answer came. */
  readonly maxBatchSize?: () => Promise<number>;
  /** Monotonic clock in ms, for ages. */
  readonly now: () => number;
  /** Called after every refill. */
  readonly onRefill?: (event: RefillEvent) => void;
  /** Called when expired IDs are dropped. */
  readonly onExpired?: (event: ExpiredEvent) => void;
  /** Called whenever IDs are lost unused (expired, with a failed refill, or at close). */
  readonly onWaste?: (event: WasteEvent) => void;
}

/** Counters and levels of a prefetch buffer since it was made (see `IdClient.prefetchStats`). */
export interface PrefetchStats {
  /** IDs handed out by `nextId()` and `tryNextId()`. */
  readonly handedOut: number;
  /** `nextId()` calls that found nothing buffered and waited for a refill (a round trip or more). */
  readonly waited: number;
  /** Refills answered with IDs. */
  readonly refills: number;
  /** Refills that failed (after the client's own retries). */
  readonly failedRefills: number;
  /** IDs dropped unused because they were older than maxAgeMs. */
  readonly droppedForAge: number;
  /** IDs requested by refills that failed: at most this many were issued and lost (maybe none). */
  readonly lostWithFailedCalls: number;
  /** IDs buffered at `close()` or arriving after it. */
  readonly droppedOnClose: number;
  /** IDs buffered now (some may have expired since the last take). */
  readonly buffered: number;
  /** IDs requested by the refills in flight now. */
  readonly inFlightIds: number;
  /** Refills in flight now. */
  readonly inFlightRefills: number;
  /** The policy's current plan: low-water mark, batch size, most refills in flight. */
  readonly plan: RefillPlan;
}

/** One BatchIds answer being handed out front to back. */
interface Segment {
  readonly ids: PrefetchedIds;
  /** Index of the next ID to hand out. */
  next: number;
  /** When the call that fetched it started (monotonic ms). */
  readonly fetchedAtMs: number;
  /** fetchedAtMs + maxAgeMs: from just after this instant its IDs are expired. */
  readonly expiresAtMs: number;
  /** Start order of its refill: segments are handed out in this order (oldest call first). */
  readonly order: number;
}

interface Waiter {
  /** When the caller started waiting (monotonic ms). */
  readonly sinceMs: number;
  resolve(id: bigint): void;
  reject(err: unknown): void;
}

/**
 * Most refills one decision starts: a bound for the loop, above anything a policy plans (4 per address,
 * at most 100 addresses).
 */
const MAX_REFILLS_PER_DECISION = 1000;

/**
 * IDs `take()` hands out on microtasks alone before it lets the event loop turn, while refills are in
 * flight: a few ms of a tight loop (one refill of 10,000 IDs), so the process's I/O, the refills' own
 * included, is never held back longer. Every turn costs a loop iteration: turning every 1,000 IDs
 * measured slower in a tight loop.
 */
export const TAKES_PER_TURN = 10_000;

/** Server code of a BatchIds count above the server's max_batch_size; its ErrorInfo carries `max`. */
const BATCH_SIZE_OUT_OF_RANGE = 'BATCH_SIZE_OUT_OF_RANGE';

/**
 * A client-side buffer of prefetched IDs (the idea behind Leaf's double buffer and Baidu's ring buffer):
 * `take()` and `tryTake()` hand out a buffered ID without a network round trip, and a
 * {@link RefillPolicy} decides when refills start, how large they are and how many run at once. Callers
 * arriving while the buffer is empty wait for a refill, first come first served. A failed refill rejects
 * the callers waiting at that moment; the next take starts another.
 *
 * Ages count from the start of the BatchIds call that fetched an ID: an ID older than maxAgeMs is never
 * handed out, except to a caller that was already waiting when that call started (it is as fresh as
 * any answer it could get). Segments are kept in the order their refills started (so also oldest
 * first): the oldest IDs go first and expired ones are always at the front.
 *
 * A caller awaiting `take()` in a loop runs on microtasks only, which would starve the event loop and
 * with it the pool's own refills (their requests and answers need turns of the loop). So while refills
 * are in flight, every {@link TAKES_PER_TURN}th ID since the loop last turned is handed out through
 * setImmediate.
 */
export class PrefetchPool {
  private readonly policy: RefillPolicy;
  private readonly maxAgeMs: number;
  private readonly deps: PrefetchPoolDeps;
  private readonly segments: Segment[] = [];
  private readonly waiters: Waiter[] = [];
  /** IDs in `segments` not yet handed out (some may have expired). */
  private buffered = 0;
  private inFlightIds = 0;
  private inFlightRefills = 0;
  private demanded = 0;
  private refillsStarted = 0;
  private handedOut = 0;
  private waited = 0;
  private refills = 0;
  private failedRefills = 0;
  private droppedForAge = 0;
  private lostWithFailedCalls = 0;
  private droppedOnClose = 0;
  /** IDs handed out by take() since the event loop last turned (counted while refills are in flight). */
  private takesThisTurn = 0;
  /** True while a setImmediate is pending that resets takesThisTurn. */
  private watchingTurn = false;
  private readonly turned = (): void => {
    this.watchingTurn = false;
    this.takesThisTurn = 0;
  };
  /** 'asking' while a GetInfo for max_batch_size is in flight, 'known' once one answered. */
  private batchSizeLimit: 'unknown' | 'asking' | 'known' = 'unknown';
  private closedWith: IdClientError | undefined;

  /** `maxAgeMs` > 0 (Infinity keeps IDs forever). */
  constructor(policy: RefillPolicy, maxAgeMs: number, deps: PrefetchPoolDeps) {
    this.policy = policy;
    this.maxAgeMs = maxAgeMs;
    this.deps = deps;
  }

  /** IDs currently buffered and not expired (expired ones are dropped first, firing onExpired). */
  get size(): number {
    this.dropExpired(this.deps.now());
    return this.buffered;
  }

  /** Counters and levels since the pool was made. */
  stats(): PrefetchStats {
    return {
      handedOut: this.handedOut,
      waited: this.waited,
      refills: this.refills,
      failedRefills: this.failedRefills,
      droppedForAge: this.droppedForAge,
      lostWithFailedCalls: this.lostWithFailedCalls,
      droppedOnClose: this.droppedOnClose,
      buffered: this.buffered,
      inFlightIds: this.inFlightIds,
      inFlightRefills: this.inFlightRefills,
      plan: this.policy.plan,
    };
  }

  /**
   * A buffered ID at once, or undefined when none is (buffer empty, callers already waiting, or closed);
   * either way a refill starts if the policy wants one.
   */
  tryTake(): bigint | undefined {
    return this.closedWith === undefined ? this.tryTakeAt(this.deps.now()) : undefined;
  }

  /** The next ID: from the buffer if it has one, else after a refill. */
  take(): Promise<bigint> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    const nowMs = this.deps.now();
    const id = this.tryTakeAt(nowMs);
    if (id !== undefined) return this.handOut(id);
    this.demanded++;
    this.waited++;
    this.policy.starved();
    const waiting = new Promise<bigint>((resolve, reject) => {
      this.waiters.push({ sinceMs: nowMs, resolve, reject });
    });
    this.maybeRefill(nowMs);
    return waiting;
  }

  /** Rejects every waiting caller and later `take()`s with `reason`, and forgets the buffered IDs. */
  close(reason: IdClientError): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = reason;
    const dropped = this.buffered;
    this.segments.length = 0;
    this.buffered = 0;
    this.wasteOnClose(dropped);
    this.rejectWaiters(reason);
  }

  /** `id` as take()'s answer: at once, or after a turn of the event loop (see the class comment). */
  private handOut(id: bigint): Promise<bigint> {
    if (this.inFlightRefills === 0) return Promise.resolve(id);
    if (!this.watchingTurn) {
      this.watchingTurn = true;
      setImmediate(this.turned);
    }
    if (++this.takesThisTurn < TAKES_PER_TURN) return Promise.resolve(id);
    return new Promise((resolve) => setImmediate(resolve, id));
  }

  private tryTakeAt(nowMs: number): bigint | undefined {
    const id = this.waiters.length === 0 ? this.shift(nowMs) : undefined;
    if (id !== undefined) {
      this.demanded++;
      this.handedOut++;
    }
    const plan = this.policy.plan;
    if (
      this.buffered + this.inFlightIds < plan.lowWaterMark + this.waiters.length &&
      this.inFlightRefills < plan.maxRefillsInFlight
    ) {
      this.maybeRefill(nowMs);
    }
    return id;
  }

  private levels(): PoolLevels {
    return {
      buffered: this.buffered,
      inFlightIds: this.inFlightIds,
      inFlightRefills: this.inFlightRefills,
      waiting: this.waiters.length,
      demanded: this.demanded,
    };
  }

  private maybeRefill(nowMs: number): void {
    if (this.closedWith !== undefined) return;
    this.dropExpired(nowMs);
    for (let started = 0; started < MAX_REFILLS_PER_DECISION; started++) {
      const count = this.policy.refillSize(this.levels(), nowMs);
      if (!(count >= 1)) return;
      this.startRefill(Math.floor(count), nowMs);
    }
  }

  private startRefill(requested: number, startedAtMs: number): void {
    this.inFlightIds += requested;
    this.inFlightRefills++;
    const order = this.refillsStarted++;
    this.askMaxBatchSize();
    this.deps.fetch(requested).then(
      (ids) => {
        this.landed(requested, ids, startedAtMs, order);
      },
      (err: unknown) => {
        this.failed(requested, err, startedAtMs);
      },
    );
  }

  private landed(requested: number, ids: PrefetchedIds, startedAtMs: number, order: number): void {
    this.inFlightIds -= requested;
    this.inFlightRefills--;
    const nowMs = this.deps.now();
    fire(this.deps.onRefill, {
      requested,
      received: ids.length,
      durationMs: nowMs - startedAtMs,
      errorCode: undefined,
    });
    if (this.closedWith !== undefined) {
      this.wasteOnClose(ids.length);
      return;
    }
    if (ids.length === 0) {
      // Guards against a refill loop on a misbehaving fetch; the client's fetch never returns [].
      this.rejectWaiters(new IdClientError('INVALID_RESPONSE', 'refill returned no IDs'));
      return;
    }
    this.refills++;
    this.policy.refilled(nowMs - startedAtMs);
    const segment: Segment = {
      ids,
      next: 0,
      fetchedAtMs: startedAtMs,
      expiresAtMs: startedAtMs + this.maxAgeMs,
      order,
    };
    // A call slower than maxAgeMs still serves the callers that were waiting when it started.
    while (nowMs > segment.expiresAtMs && segment.next < ids.length) {
      const waiter = this.waiters[0];
      if (waiter === undefined || waiter.sinceMs > startedAtMs) break;
      this.waiters.shift();
      this.handedOut++;
      waiter.resolve(ids[segment.next++] as bigint);
    }
    this.insert(segment);
    this.dropExpired(nowMs);
    while (this.waiters.length > 0) {
      const id = this.shift(nowMs);
      if (id === undefined) break;
      this.handedOut++;
      this.waiters.shift()?.resolve(id);
    }
    this.maybeRefill(nowMs);
  }

  private failed(requested: number, err: unknown, startedAtMs: number): void {
    this.inFlightIds -= requested;
    this.inFlightRefills--;
    const nowMs = this.deps.now();
    const error =
      err instanceof IdClientError
        ? err
        : new IdClientError('INVALID_RESPONSE', `refill failed: ${String(err)}`);
    fire(this.deps.onRefill, {
      requested,
      received: 0,
      durationMs: nowMs - startedAtMs,
      errorCode: error.code,
    });
    if (this.closedWith !== undefined) {
      this.wasteOnClose(requested);
      return;
    }
    const serverMax = batchSizeLimit(error);
    if (this.policy.learnsBatchSize && serverMax !== undefined && serverMax < requested) {
      // The server issued nothing; a smaller refill can serve the same callers.
      this.policy.limitBatchSize(serverMax);
      this.maybeRefill(nowMs);
      return;
    }
    this.failedRefills++;
    this.lostWithFailedCalls += requested;
    fire(this.deps.onWaste, { reason: 'failed', count: requested });
    this.rejectWaiters(error);
  }

  /** Asks the servers' max_batch_size once (again after a failure, with the next refill). */
  private askMaxBatchSize(): void {
    const ask = this.deps.maxBatchSize;
    if (ask === undefined || !this.policy.learnsBatchSize || this.batchSizeLimit !== 'unknown') return;
    this.batchSizeLimit = 'asking';
    ask().then(
      (max) => {
        this.batchSizeLimit = 'known';
        if (Number.isInteger(max) && max >= 1) this.policy.limitBatchSize(max);
      },
      () => {
        this.batchSizeLimit = 'unknown';
      },
    );
  }

  private insert(segment: Segment): void {
    let at = this.segments.length;
    while (at > 0 && (this.segments[at - 1] as Segment).order > segment.order) at--;
    this.segments.splice(at, 0, segment);
    this.buffered += segment.ids.length - segment.next;
  }

  private rejectWaiters(reason: IdClientError): void {
    for (const w of this.waiters.splice(0)) w.reject(reason);
  }

  /** Removes the oldest unexpired buffered ID, dropping expired ones on the way; undefined if none is left. */
  private shift(nowMs: number): bigint | undefined {
    // Each pass either returns or discards one segment, so this ends.
    while (this.segments.length > 0) {
      const head = this.segments[0] as Segment;
      if (head.next < head.ids.length && nowMs <= head.expiresAtMs) {
        this.buffered--;
        return head.ids[head.next++];
      }
      this.segments.shift();
      this.expired(head.ids.length - head.next);
    }
    return undefined;
  }

  /** Drops whole expired segments (all at the front: segments are oldest first). */
  private dropExpired(nowMs: number): void {
    while (this.segments.length > 0) {
      const head = this.segments[0] as Segment;
      if (nowMs <= head.expiresAtMs) break;
      this.segments.shift();
      this.expired(head.ids.length - head.next);
    }
  }

  private expired(count: number): void {
    if (count <= 0) return;
    this.buffered -= count;
    this.droppedForAge += count;
    fire(this.deps.onExpired, { count });
    fire(this.deps.onWaste, { reason: 'expired', count });
  }

  private wasteOnClose(count: number): void {
    if (count <= 0) return;
    this.droppedOnClose += count;
    fire(this.deps.onWaste, { reason: 'closed', count });
  }
}

/** The `max` of a BATCH_SIZE_OUT_OF_RANGE refusal's ErrorInfo, if that is what `error` is. */
function batchSizeLimit(error: IdClientError): number | undefined {
  if (error.code !== 'INVALID_ARGUMENT' || error.serverCode !== BATCH_SIZE_OUT_OF_RANGE) return undefined;
  const max = Number(error.errorInfo?.metadata.max);
  return Number.isInteger(max) && max >= 1 ? max : undefined;
}
