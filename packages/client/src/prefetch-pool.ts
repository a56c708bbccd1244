import { IdClientError } from './errors';
import { fire, type ExpiredEvent, type RefillEvent } from './hooks';

/** Sizes and ageing of a {@link PrefetchPool}. */
export interface PrefetchPoolOptions {
  /** IDs the buffer holds when full; a refill asks for the free space. 1…100,000. */
  readonly bufferSize: number;
  /** A refill starts in the background as soon as fewer IDs than this remain; 0…bufferSize − 1. */
  readonly lowWaterMark: number;
  /**
   * Largest age of a buffered ID, in ms, counted from the start of the BatchIds call that fetched it
   * (so the ID's own timestamp is never older than that): older IDs are dropped unused. > 0; Infinity
   * keeps IDs forever.
   */
  readonly maxAgeMs: number;
}

/** What the pool needs from outside. */
export interface PrefetchPoolDeps {
  /** Fetches exactly `count` new IDs (a BatchIds call with failover); rejects with {@link IdClientError}. */
  readonly fetch: (count: number) => Promise<readonly bigint[]>;
  /** Monotonic clock in ms, for ages. */
  readonly now: () => number;
  /** Called after every refill. */
  readonly onRefill?: (event: RefillEvent) => void;
  /** Called when expired IDs are dropped. */
  readonly onExpired?: (event: ExpiredEvent) => void;
}

/** One BatchIds answer being handed out front to back. */
interface Segment {
  readonly ids: readonly bigint[];
  /** Index of the next ID to hand out. */
  next: number;
  /** When the call that fetched it started (monotonic ms). */
  readonly fetchedAtMs: number;
}

interface Waiter {
  resolve(id: bigint): void;
  reject(err: unknown): void;
}

/**
 * A client-side buffer of prefetched IDs (the idea behind Leaf's double buffer and Baidu's ring buffer):
 * `take()` hands out a buffered ID without a network round trip; when fewer than `lowWaterMark` remain,
 * one refill (never two at once) tops the buffer up to `bufferSize` in the background. Callers arriving
 * while the buffer is empty wait for that refill, first come first served. A failed refill rejects the
 * callers waiting for it and is not retried until the next `take()`.
 */
export class PrefetchPool {
  private readonly options: PrefetchPoolOptions;
  private readonly deps: PrefetchPoolDeps;
  private readonly segments: Segment[] = [];
  private readonly waiters: Waiter[] = [];
  /** IDs in `segments` not yet handed out (some may have expired). */
  private buffered = 0;
  private refilling = false;
  private closedWith: IdClientError | undefined;

  constructor(options: PrefetchPoolOptions, deps: PrefetchPoolDeps) {
    this.options = options;
    this.deps = deps;
  }

  /** IDs currently buffered and not expired (expired ones are dropped first, firing onExpired). */
  get size(): number {
    this.dropExpired();
    return this.buffered;
  }

  /** The next ID: from the buffer if it has one, else after the refill that this call starts or joins. */
  take(): Promise<bigint> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    this.dropExpired();
    const id = this.waiters.length === 0 ? this.shift() : undefined;
    const result =
      id !== undefined
        ? Promise.resolve(id)
        : new Promise<bigint>((resolve, reject) => {
            this.waiters.push({ resolve, reject });
          });
    this.maybeRefill();
    return result;
  }

  /** Rejects every waiting caller and later `take()`s with `reason`, and forgets the buffered IDs. */
  close(reason: IdClientError): void {
    this.closedWith ??= reason;
    this.segments.length = 0;
    this.buffered = 0;
    this.rejectWaiters(reason);
  }

  private rejectWaiters(reason: IdClientError): void {
    for (const w of this.waiters.splice(0)) w.reject(reason);
  }

  private maybeRefill(): void {
    if (this.refilling || this.closedWith !== undefined) return;
    if (this.waiters.length === 0 && this.buffered >= this.options.lowWaterMark) return;
    const requested = this.options.bufferSize - this.buffered;
    if (requested <= 0) return;
    this.refilling = true;
    const startedAt = this.deps.now();
    this.deps.fetch(requested).then(
      (ids) => {
        this.refilling = false;
        fire(this.deps.onRefill, {
          requested,
          received: ids.length,
          durationMs: this.deps.now() - startedAt,
          errorCode: undefined,
        });
        if (this.closedWith !== undefined) return;
        if (ids.length === 0) {
          // Guards against a refill loop on a misbehaving fetch; the client's fetch never returns [].
          this.rejectWaiters(new IdClientError('INVALID_RESPONSE', 'refill returned no IDs'));
          return;
        }
        this.segments.push({ ids, next: 0, fetchedAtMs: startedAt });
        this.buffered += ids.length;
        // Callers already waiting get these IDs even if the call took longer than maxAgeMs: they are
        // as fresh as any answer could be.
        while (this.waiters.length > 0) {
          const id = this.shift();
          if (id === undefined) break;
          this.waiters.shift()?.resolve(id);
        }
        this.maybeRefill();
      },
      (err: unknown) => {
        this.refilling = false;
        const error =
          err instanceof IdClientError
            ? err
            : new IdClientError('INVALID_RESPONSE', `refill failed: ${String(err)}`);
        fire(this.deps.onRefill, {
          requested,
          received: 0,
          durationMs: this.deps.now() - startedAt,
          errorCode: error.code,
        });
        this.rejectWaiters(error);
      },
    );
  }

  /** Removes the oldest buffered ID, or undefined if none is left. */
  private shift(): bigint | undefined {
    // Each pass either returns or discards one used-up segment, so this ends.
    while (this.segments.length > 0) {
      const head = this.segments[0] as Segment;
      const id = head.ids[head.next];
      if (id !== undefined) {
        head.next++;
        this.buffered--;
        return id;
      }
      this.segments.shift();
    }
    return undefined;
  }

  /** Drops whole segments older than maxAgeMs (segments are in fetch order, so only the front ones). */
  private dropExpired(): void {
    const now = this.deps.now();
    let dropped = 0;
    while (this.segments.length > 0) {
      const head = this.segments[0] as Segment;
      if (now - head.fetchedAtMs <= this.options.maxAgeMs) break;
      dropped += head.ids.length - head.next;
      this.segments.shift();
    }
    if (dropped > 0) {
      this.buffered -= dropped;
      fire(this.deps.onExpired, { count: dropped });
    }
  }
}
