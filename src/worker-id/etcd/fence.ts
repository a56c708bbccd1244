/**
 * The default fence margin in ms for a lease of `ttlMs`: ttl/5, at least 1000 ms, at most ttl/2.
 *
 * The margin absorbs what the send-time rule does not: the rate difference between our monotonic clock
 * and the etcd leader's (ppm, but over a whole TTL), event-loop stalls between checking the fence and
 * stamping an ID, and a GC pause right after the check. One second covers a long stall on any sane
 * host; ttl/5 scales with operators who pick long TTLs precisely because their network is slow. The
 * ttl/2 cap keeps a usable window for the shortest TTL etcd grants (1 s → 500 ms window).
 */
export function defaultFenceMarginMs(ttlMs: number): number {
  return Math.min(Math.max(1000, ttlMs / 5), ttlMs / 2);
}

/** Inputs of a {@link LeaseFence}; every time is in ms on one monotonic clock. */
export interface LeaseFenceOptions {
  /** Lease TTL in ms as granted by etcd; finite and > 0. */
  readonly ttlMs: number;
  /** Safety margin in ms subtracted from every deadline; 0 ≤ margin < ttlMs; default {@link defaultFenceMarginMs}. */
  readonly marginMs?: number;
  /** Monotonic ms at which the LeaseGrant request was sent (not when it was answered). */
  readonly grantSentAtMs: number;
}

/**
 * Fencing arithmetic for one etcd lease: until when may this process assume the lease is alive?
 *
 * etcd restarts a lease's TTL when it processes a keepalive, which is no earlier than when we sent it.
 * So an acknowledged request sent at `s` proves the lease lives until at least `s + ttl` on etcd's side;
 * we stop at `s + ttl − margin`. Using the send time (never the ack time) makes a slow answer shorten
 * the window instead of stretching it past the real expiry.
 *
 * Pure: no I/O, no timers, no clock reads — every time is passed in. Not re-armable: once
 * {@link LeaseFence.invalidate} is called the fence stays invalid.
 */
export class LeaseFence {
  /** Lease TTL in ms. */
  readonly ttlMs: number;
  /** Margin in ms subtracted from every deadline. */
  readonly marginMs: number;
  private deadlineMs: number;
  private lastSentMs: number;
  private lastAckedSentMs: number;
  private invalidated = false;

  /** Throws RangeError when ttlMs, marginMs or grantSentAtMs are out of range (a programming error). */
  constructor(options: LeaseFenceOptions) {
    const { ttlMs, grantSentAtMs } = options;
    const marginMs = options.marginMs ?? defaultFenceMarginMs(ttlMs);
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be > 0; got ${ttlMs}`);
    if (!Number.isFinite(marginMs) || marginMs < 0 || marginMs >= ttlMs) {
      throw new RangeError(`marginMs must be from 0 to less than ttlMs (${ttlMs}); got ${marginMs}`);
    }
    checkTime('grantSentAtMs', grantSentAtMs);
    this.ttlMs = ttlMs;
    this.marginMs = marginMs;
    this.lastSentMs = grantSentAtMs;
    this.lastAckedSentMs = grantSentAtMs;
    this.deadlineMs = grantSentAtMs + ttlMs - marginMs;
  }

  /**
   * How often to send keepalives, in ms: a third of the fenced window (ttl − margin), so two rounds in a
   * row may fail before the fence lapses.
   */
  get keepaliveIntervalMs(): number {
    return (this.ttlMs - this.marginMs) / 3;
  }

  /** Monotonic ms at which the newest acknowledged request (keepalive or the grant) was sent. */
  get lastAckedSentAtMs(): number {
    return this.lastAckedSentMs;
  }

  /** Records that a keepalive is being sent at `atMs`; throws RangeError if `atMs` is before the previous send. */
  keepaliveSent(atMs: number): void {
    checkTime('atMs', atMs);
    if (atMs < this.lastSentMs) {
      throw new RangeError(`keepalive sent at ${atMs} ms, before the previous send at ${this.lastSentMs} ms`);
    }
    this.lastSentMs = atMs;
  }

  /**
   * Records that etcd acknowledged (TTL > 0) the keepalive sent at `sentAtMs`. The deadline never moves
   * backwards, so a late answer to an older request is harmless. Throws RangeError if `sentAtMs` is
   * after the newest recorded send (it is then not a send time — most likely the ack time by mistake).
   */
  keepaliveAcked(sentAtMs: number): void {
    checkTime('sentAtMs', sentAtMs);
    if (sentAtMs > this.lastSentMs) {
      throw new RangeError(
        `acknowledged send time ${sentAtMs} ms is after the newest recorded send (${this.lastSentMs} ms); ` +
          'pass the time the request was sent, after calling keepaliveSent',
      );
    }
    if (this.invalidated) return;
    this.lastAckedSentMs = Math.max(this.lastAckedSentMs, sentAtMs);
    this.deadlineMs = Math.max(this.deadlineMs, sentAtMs + this.ttlMs - this.marginMs);
  }

  /** Marks the lease as known lost (expired, revoked, key gone): the fence is invalid from now on. */
  invalidate(): void {
    this.invalidated = true;
  }

  /** Monotonic ms until which the lease is proven alive (exclusive); −Infinity once invalidated. */
  safeUntilMs(): number {
    return this.invalidated ? -Infinity : this.deadlineMs;
  }

  /** True while `nowMs` is strictly before {@link LeaseFence.safeUntilMs}. */
  isValid(nowMs: number): boolean {
    return nowMs < this.safeUntilMs();
  }
}

function checkTime(name: string, ms: number): void {
  if (!Number.isFinite(ms)) throw new RangeError(`${name} must be a finite number of ms; got ${ms}`);
}
