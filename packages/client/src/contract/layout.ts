/**
 * How a 64-bit ID is divided, from the most significant bit down:
 *
 * ```
 *  63 | 62 ............ 22 | 21 ...... 17 | 16 ..... 12 | 11 ....... 0
 *   0 | timestamp (41)     | datacenter(5)| worker (5)  | sequence (12)   (defaults)
 * ```
 *
 * The sign bit is always 0 so IDs stay positive in every language's signed 64-bit integer. The four
 * widths sum to 63. A server's layout is what its GetInfo answers.
 */
export interface Layout {
  /** Start of time for the timestamp field, in ms since the Unix epoch; integer ≥ 0. Default 2020-01-01T00:00:00Z. */
  readonly epochMs: number;
  /** Length of one timestamp tick in ms; integer 1…86,400,000. Default 1. */
  readonly timeUnitMs: number;
  /** Width of the timestamp field in bits; 1…63. Default 41 (≈ 69.7 years at 1 ms). */
  readonly timestampBits: number;
  /** Width of the datacenter ID field in bits; 0…31. Default 5. */
  readonly datacenterBits: number;
  /** Width of the worker ID field in bits; 0…31. Default 5. */
  readonly workerBits: number;
  /** Width of the sequence field in bits; 0…31. Default 12 (4,096 IDs per tick). */
  readonly sequenceBits: number;
}

/** 2020-01-01T00:00:00Z in ms since the Unix epoch: the default epoch. */
export const DEFAULT_EPOCH_MS = Date.UTC(2020, 0, 1);

/** The default layout: 41-bit ms timestamp since 2020, 5-bit datacenter, 5-bit worker, 12-bit sequence. */
export const DEFAULT_LAYOUT: Layout = Object.freeze({
  epochMs: DEFAULT_EPOCH_MS,
  timeUnitMs: 1,
  timestampBits: 41,
  datacenterBits: 5,
  workerBits: 5,
  sequenceBits: 12,
});

/** Largest value a field of `bits` bits holds (2^bits − 1); bits ≤ 63. */
export function fieldMax(bits: number): number {
  return 2 ** bits - 1;
}
