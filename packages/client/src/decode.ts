import { DEFAULT_LAYOUT, decomposeId, MAX_ID, type Layout } from './contract';
import { IdClientError } from './errors';
import type { DecodeResult } from './id-client';

const WIDTHS = ['timestampBits', 'datacenterBits', 'workerBits', 'sequenceBits'] as const;

/**
 * Why `layout` cannot split IDs (widths that are not integers ≥ 0 summing to 63, an epoch that is not a
 * whole number of ms ≥ 0, a time unit that is not an integer ≥ 1 ms); undefined when it can.
 */
export function layoutProblem(layout: Layout): string | undefined {
  // Checked at run time too: JavaScript callers get no compile-time check.
  if (typeof layout !== 'object' || (layout as Layout | null) === null) return 'not a layout object';
  const widths = WIDTHS.map((w) => layout[w]);
  if (!widths.every((w) => Number.isInteger(w) && w >= 0) || widths.reduce((a, b) => a + b, 0) !== 63) {
    return `layout widths (timestamp | datacenter | worker | sequence) must be integers summing to 63; got ${widths.join(' | ')}`;
  }
  if (!Number.isSafeInteger(layout.epochMs) || layout.epochMs < 0) {
    return `layout epochMs must be a whole number of ms ≥ 0; got ${layout.epochMs}`;
  }
  if (!Number.isSafeInteger(layout.timeUnitMs) || layout.timeUnitMs < 1) {
    return `layout timeUnitMs must be an integer ≥ 1; got ${layout.timeUnitMs}`;
  }
  return undefined;
}

/**
 * The fields of `id` under `layout` (default: the service's default layout, 41 | 5 | 5 | 12 bits from
 * 2020-01-01), computed locally: no server is asked. Pass the layout a server reports (`info()`) when it
 * is not the default. Throws {@link IdClientError} `INVALID_ARGUMENT` for an `id` outside 0…2^63 − 1, a
 * layout {@link layoutProblem} refuses, or one that puts the ID's time outside JS dates.
 */
export function decode(id: bigint, layout: Layout = DEFAULT_LAYOUT): DecodeResult {
  if (typeof id !== 'bigint' || id < 0n || id > MAX_ID) {
    throw new IdClientError(
      'INVALID_ARGUMENT',
      `decode takes a bigint from 0 to ${MAX_ID}; got ${String(id)}`,
    );
  }
  const problem = layoutProblem(layout);
  if (problem !== undefined) throw new IdClientError('INVALID_ARGUMENT', problem);
  const { timestampMs, datacenterId, workerId, sequence } = decomposeId(id, layout);
  const time = new Date(timestampMs);
  if (!Number.isSafeInteger(timestampMs) || Number.isNaN(time.getTime())) {
    throw new IdClientError(
      'INVALID_ARGUMENT',
      `layout epochMs ${layout.epochMs} and timeUnitMs ${layout.timeUnitMs} put id ${id} at ${timestampMs} ms, not a date`,
    );
  }
  return { id, timestampMs, timestamp: time.toISOString(), datacenterId, workerId, sequence };
}
