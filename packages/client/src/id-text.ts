import { IdClientError } from './errors';

/** Largest value a `fixed64` field carries: 2^64 − 1. IDs of this service stay below 2^63. */
export const UINT64_MAX = (1n << 64n) - 1n;

/**
 * Parses an ID written in decimal (`"573478797312139267"`) straight into a bigint, never through a JS
 * number. Accepts only the digits 0–9 (no sign, spaces, `0x` or exponent) with a value from 0 to
 * 2^64 − 1; anything else throws {@link IdClientError} `INVALID_ARGUMENT` naming the text.
 */
export function parseIdText(text: string): bigint {
  if (!/^[0-9]+$/.test(text)) {
    throw new IdClientError(
      'INVALID_ARGUMENT',
      `not an ID: ${JSON.stringify(text)}; an ID is written in decimal digits only, from 0 to ${UINT64_MAX}`,
    );
  }
  const id = BigInt(text);
  if (id > UINT64_MAX) {
    throw new IdClientError(
      'INVALID_ARGUMENT',
      `not an ID: ${text} is larger than ${UINT64_MAX} (2^64 − 1), the largest 64-bit value`,
    );
  }
  return id;
}

/**
 * `id` (0…2^64 − 1) in decimal, as {@link parseIdText} reads it back (JSON and logs carry IDs this way).
 * Throws {@link IdClientError} `INVALID_ARGUMENT` for anything else (a number, a negative or wider value).
 */
export function formatIdText(id: bigint): string {
  if (typeof id !== 'bigint' || id < 0n || id > UINT64_MAX) {
    throw new IdClientError(
      'INVALID_ARGUMENT',
      `formatIdText takes a bigint from 0 to ${UINT64_MAX}; got ${String(id)}`,
    );
  }
  return id.toString();
}
