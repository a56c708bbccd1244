/** One finished RPC attempt (successful or not). */
export interface AttemptEvent {
  /** RPC name: `NextId`, `BatchIds`, `DecodeId` or `GetInfo`. */
  readonly method: string;
  /** The `host:port` the attempt went to. */
  readonly address: string;
  /** gRPC status name, e.g. `OK`, `UNAVAILABLE`, `INVALID_ARGUMENT` (the `grpc_code` label convention). */
  readonly code: string;
  /** Time from sending to the answer, in ms. */
  readonly durationMs: number;
}

/** A wait before another round over the addresses, after every address failed with a retryable status. */
export interface RetryEvent {
  /** RPC name. */
  readonly method: string;
  /** Failed attempts so far in this call (≥ 1). */
  readonly failedAttempts: number;
  /** How long the call waits before the next attempt, in ms (backoff with jitter). */
  readonly delayMs: number;
}

/** One prefetch refill: a BatchIds call made by the buffer. */
export interface RefillEvent {
  /** IDs requested (the free space of the buffer when the refill started). */
  readonly requested: number;
  /** IDs received: `requested` on success, 0 on failure. */
  readonly received: number;
  /** Time the refill took, in ms (including retries). */
  readonly durationMs: number;
  /** The error code (`ALL_SERVERS_UNAVAILABLE`, …) when the refill failed; undefined on success. */
  readonly errorCode: string | undefined;
}

/** Buffered IDs dropped unused because they were older than the buffer's maxAgeMs. */
export interface ExpiredEvent {
  /** How many IDs were dropped. */
  readonly count: number;
}

/** Why prefetched IDs were lost unused (each is a gap in the ID space, never a duplicate). */
export type WasteReason =
  /** Buffered longer than prefetch.maxAgeMs. */
  | 'expired'
  /** Requested by a refill that failed: the server may have issued them (an answer lost) or not. */
  | 'failed'
  /** Buffered when the client closed, or arriving after it. */
  | 'closed';

/** Prefetched IDs lost unused: the price of the buffer. */
export interface WasteEvent {
  readonly reason: WasteReason;
  /** How many IDs (for `failed`: how many the failed refill requested, an upper bound). */
  readonly count: number;
}

/**
 * Optional metrics callbacks, e.g. to feed prom-client counters and histograms; the client itself depends
 * on no metrics library. Called synchronously; an exception thrown by a hook is caught and ignored so
 * that observability can never break ID issuance.
 */
export interface IdClientHooks {
  /** After every RPC attempt. */
  readonly onAttempt?: (event: AttemptEvent) => void;
  /** Before each backoff wait between retry rounds. */
  readonly onRetry?: (event: RetryEvent) => void;
  /** After every prefetch refill. */
  readonly onRefill?: (event: RefillEvent) => void;
  /** When expired IDs are dropped from the prefetch buffer. */
  readonly onExpired?: (event: ExpiredEvent) => void;
  /** When prefetched IDs are lost unused: expired (also reported by onExpired), with a failed refill, or at close. */
  readonly onWaste?: (event: WasteEvent) => void;
}

/** Calls `hook` with `event` if it is set, swallowing anything it throws. */
export function fire<E>(hook: ((event: E) => void) | undefined, event: E): void {
  if (hook === undefined) return;
  try {
    hook(event);
  } catch {
    // A broken metrics callback must not fail or slow the call it reports on.
  }
}
