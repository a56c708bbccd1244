import { DEFAULT_LAYOUT, decomposeId, layoutProblem, MAX_ID, type Layout } from './contract';
import { IdClientError } from './errors';
import type { DecodeResult } from './id-client';

/**
 * The fields of `id` under `layout` (default: the service's default layout, 41 | 5 | 5 | 12 bits from
 * 2020-01-01), computed locally: no server is asked. Pass the layout a server reports (`info()`) when it
 * is not the default. Throws {@link IdClientError} `INVALID_ARGUMENT` for an `id` outside 0…2^63 − 1, a
 * layout {@link layoutProblem} refuses (a layout it accepts ends before year 10000, so every ID's time
 * is a date).
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
  return {
    id,
    timestampMs,
    timestamp: new Date(timestampMs).toISOString(),
    datacenterId,
    workerId,
    sequence,
  };
}
