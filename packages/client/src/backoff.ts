/** How long to wait between retry rounds: exponential growth, capped, with random jitter. */
export interface BackoffOptions {
  /** Delay before the second round, in ms; 0…60,000. Default 50. */
  readonly initialMs: number;
  /** Largest delay, in ms (applied after jitter); initialMs…60,000. Default 1,000. */
  readonly maxMs: number;
  /** Growth factor per round; 1…10. Default 2. */
  readonly multiplier: number;
  /** Relative spread of each delay: ±jitter × delay, uniformly; 0…1. Default 0.2 (as gRPC's own retries). */
  readonly jitter: number;
}

/** The defaults of {@link BackoffOptions}. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 50, maxMs: 1000, multiplier: 2, jitter: 0.2 };

/**
 * The delay in ms before retry round `round` (0 = the first wait), given `random` uniform in [0, 1):
 * min(maxMs, initialMs × multiplier^round × (1 + jitter × (2 × random − 1))), never negative.
 */
export function backoffDelayMs(round: number, options: BackoffOptions, random: () => number): number {
  const base = Math.min(options.maxMs, options.initialMs * options.multiplier ** round);
  const spread = 1 + options.jitter * (2 * random() - 1);
  return Math.max(0, Math.min(options.maxMs, base * spread));
}
