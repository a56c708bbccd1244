import { DEFAULT_LAYOUT, decomposeId, MAX_ID, type Layout } from './contract';
import { IdClientError } from './errors';
import type { DecodeResult } from './id-client';

const WIDTHS = ['timestampBits', 'datacenterBits', 'workerBits', 'sequenceBits'] as const;

/**
 * The fields of `id` under `layout` (default: the service's default layout, 41 | 5 | 5 | 12 bits from
 * 2020-01-01), computed locally: no server is asked. Pass the layout a server reports (`info()`) when it
 * is not the default. Throws {@link IdClientError} `INVALID_ARGUMENT` for an `id` outside 0…2^63 − 1, a
 * layout whose four integer widths do not sum to 63, or one that puts the ID's time outside JS dates.
 */
export function decode(id: bigint, layout: Layout = DEFAULT_LAYOUT): DecodeResult {
  if (typeof id !== 'bigint' || id < 0n || id > MAX_ID) {
    throw new IdClientError(
      'INVALID_ARGUMENT',
      `decode takes a bigint from 0 to ${MAX_ID}; got ${String(id)}`,
    );
  }
  const widths = WIDTHS.map((w) => layout[w]);
  if (!widths.every((w) => Number.isInteger(w) && w >= 0) || widths.reduce((a, b) => a + b, 0) !== 63) {
    throw new IdClientError(
      'INVALID_ARGUMENT',
      `layout widths (timestamp | datacenter | worker | sequence) must be integers summing to 63; got ${widths.join(' | ')}`,
    );
  }
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
