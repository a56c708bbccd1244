import type { Layout } from '@snowflake-id/client/contract';
import { InvalidLayoutError } from './errors';

// The layout type and defaults are part of the contract (clients decode offline with them).
export { DEFAULT_EPOCH_MS, DEFAULT_LAYOUT, fieldMax, type Layout } from '@snowflake-id/client/contract';

/** Total bits available to the four fields: 64 minus the sign bit. */
export const PAYLOAD_BITS = 63;

/** Largest time unit accepted, in ms (one day). */
export const MAX_TIME_UNIT_MS = 86_400_000;

/**
 * First Unix ms after the RFC 3339 range (10000-01-01T00:00:00Z). A layout must end before it so every
 * ID's timestamp can be written as RFC 3339 and stays an exact JS number of ms.
 */
export const MAX_LAYOUT_END_MS = Date.UTC(10000, 0, 1);

const FIELD_LIMITS = [
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

/** What to call each layout field in error messages (e.g. the environment variable that set it). */
export type LayoutFieldNames = Readonly<Record<keyof Layout, string>>;

const FIELD_NAMES: LayoutFieldNames = {
  epochMs: 'epochMs',
  timeUnitMs: 'timeUnitMs',
  timestampBits: 'timestampBits',
  datacenterBits: 'datacenterBits',
  workerBits: 'workerBits',
  sequenceBits: 'sequenceBits',
};

/**
 * Throws {@link InvalidLayoutError} unless every width is in range, the widths sum to 63, the epoch and
 * time unit are non-negative integers in range, and the layout ends before year 10000. Messages name
 * fields by `names` (default: the property names).
 */
export function checkLayout(layout: Layout, names: LayoutFieldNames = FIELD_NAMES): void {
  for (const [field, min, max] of FIELD_LIMITS) {
    const v = layout[field];
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new InvalidLayoutError(`${names[field]} must be an integer from ${min} to ${max}; got ${v}`);
    }
  }
  const { timestampBits: t, datacenterBits: d, workerBits: w, sequenceBits: s } = layout;
  if (t + d + w + s !== PAYLOAD_BITS) {
    throw new InvalidLayoutError(
      `${names.timestampBits} + ${names.datacenterBits} + ${names.workerBits} + ${names.sequenceBits} must sum to ` +
        `${PAYLOAD_BITS}; got ${t} + ${d} + ${w} + ${s} = ${t + d + w + s}`,
    );
  }
  if (!Number.isSafeInteger(layout.epochMs) || layout.epochMs < 0) {
    throw new InvalidLayoutError(
      `${names.epochMs} must be a whole number of ms at or after 1970-01-01; got ${layout.epochMs}`,
    );
  }
  if (!Number.isInteger(layout.timeUnitMs) || layout.timeUnitMs < 1 || layout.timeUnitMs > MAX_TIME_UNIT_MS) {
    throw new InvalidLayoutError(
      `${names.timeUnitMs} must be an integer from 1 to ${MAX_TIME_UNIT_MS} ms; got ${layout.timeUnitMs}`,
    );
  }
  if (layoutEndMs(layout) > MAX_LAYOUT_END_MS) {
    throw new InvalidLayoutError(
      `${t} timestamp bits (${names.timestampBits}) of ${layout.timeUnitMs} ms (${names.timeUnitMs}) run past ` +
        `year 9999 (the RFC 3339 limit); use fewer timestamp bits or a smaller time unit`,
    );
  }
}
