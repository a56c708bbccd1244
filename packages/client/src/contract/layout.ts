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

/** Total bits available to the four fields: 64 minus the sign bit. */
export const PAYLOAD_BITS = 63;

/** Largest time unit accepted, in ms (one day). */
export const MAX_TIME_UNIT_MS = 86_400_000;

/**
 * First Unix ms after the RFC 3339 range (10000-01-01T00:00:00Z). A layout must end before it so every
 * ID's timestamp can be written as RFC 3339 and stays an exact JS number of ms.
 */
export const MAX_LAYOUT_END_MS = Date.UTC(10000, 0, 1);

/** Each width's allowed range in bits (the {@link Layout} fields' documented limits). */
const WIDTH_LIMITS = [
  ['timestampBits', 1, 63],
  ['datacenterBits', 0, 31],
  ['workerBits', 0, 31],
  ['sequenceBits', 0, 31],
] as const;

/**
 * First Unix ms the timestamp field cannot represent: epoch + 2^timestampBits × timeUnit. At or after
 * it the layout is exhausted.
 */
export function layoutEndMs(layout: Layout): number {
  return layout.epochMs + 2 ** layout.timestampBits * layout.timeUnitMs;
}

/** What to call each layout field in messages (e.g. the environment variable or option that set it). */
export type LayoutFieldNames = Readonly<Record<keyof Layout, string>>;

/** The property names themselves: the default of {@link layoutProblem}. */
const PROPERTY_NAMES: LayoutFieldNames = {
  epochMs: 'epochMs',
  timeUnitMs: 'timeUnitMs',
  timestampBits: 'timestampBits',
  datacenterBits: 'datacenterBits',
  workerBits: 'workerBits',
  sequenceBits: 'sequenceBits',
};

/**
 * Why `layout` cannot divide IDs, or undefined when it can: every width in its range, the widths summing
 * to 63, the epoch a whole number of ms ≥ 0, the time unit 1…{@link MAX_TIME_UNIT_MS} ms, and the layout
 * ending before year 10000. The one rule set of servers and clients; messages name the fields by
 * `names` (default: the property names).
 */
export function layoutProblem(layout: Layout, names: LayoutFieldNames = PROPERTY_NAMES): string | undefined {
  // Checked at run time too: JavaScript callers get no compile-time check.
  if (typeof layout !== 'object' || (layout as Layout | null) === null) return 'not a layout object';
  for (const [field, min, max] of WIDTH_LIMITS) {
    const v = layout[field];
    if (!Number.isInteger(v) || v < min || v > max) {
      return `${names[field]} must be an integer from ${min} to ${max}; got ${v}`;
    }
  }
  const { timestampBits: t, datacenterBits: d, workerBits: w, sequenceBits: s } = layout;
  if (t + d + w + s !== PAYLOAD_BITS) {
    return (
      `${names.timestampBits} + ${names.datacenterBits} + ${names.workerBits} + ${names.sequenceBits} must sum to ` +
      `${PAYLOAD_BITS}; got ${t} + ${d} + ${w} + ${s} = ${t + d + w + s}`
    );
  }
  if (!Number.isSafeInteger(layout.epochMs) || layout.epochMs < 0) {
    return `${names.epochMs} must be a whole number of ms at or after 1970-01-01; got ${layout.epochMs}`;
  }
  if (!Number.isInteger(layout.timeUnitMs) || layout.timeUnitMs < 1 || layout.timeUnitMs > MAX_TIME_UNIT_MS) {
    return `${names.timeUnitMs} must be an integer from 1 to ${MAX_TIME_UNIT_MS} ms; got ${layout.timeUnitMs}`;
  }
  if (layoutEndMs(layout) > MAX_LAYOUT_END_MS) {
    return (
      `${t} timestamp bits (${names.timestampBits}) of ${layout.timeUnitMs} ms (${names.timeUnitMs}) run past ` +
      `year 9999 (the RFC 3339 limit); use fewer timestamp bits or a smaller time unit`
    );
  }
  return undefined;
}
