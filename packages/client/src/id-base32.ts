import { IdClientError } from './errors';
import { UINT64_MAX } from './id-text';

/** Crockford's base32 digits in value order (no I, L, O, U): ascending in ASCII, so text order is numeric order. */
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Characters of every base32 ID: 13 × 5 = 65 bits hold any 64-bit value. */
export const BASE32_ID_LENGTH = 13;

/** `Number.prototype.toString(32)` digit → Crockford digit of the same value. */
const FROM_RADIX32 = new Map(
  Array.from('0123456789abcdefghijklmnopqrstuv', (c, i) => [c, ALPHABET[i] as string] as const),
);

/** Character code → digit value, for both cases and Crockford's aliases (I, L → 1; O → 0); -1 otherwise. */
const DIGIT_VALUE = (() => {
  const table = new Int8Array(128).fill(-1);
  Array.from(ALPHABET).forEach((c, i) => {
    table[c.charCodeAt(0)] = i;
    table[c.toLowerCase().charCodeAt(0)] = i;
  });
  for (const [alias, value] of [
    ['I', 1],
    ['L', 1],
    ['O', 0],
  ] as const) {
    table[alias.charCodeAt(0)] = value;
    table[alias.toLowerCase().charCodeAt(0)] = value;
  }
  return table;
})();

/**
 * `id` (0…2^64 − 1) as 13 characters of Crockford's base32 (`0-9A-Z` without I, L, O, U), zero-padded,
 * upper case: fixed width, so sorting the texts sorts the IDs (e.g. `0FXB7XP004803` for
 * 573478797312139267). Throws {@link IdClientError} `INVALID_ARGUMENT` for anything else.
 */
export function formatIdBase32(id: bigint): string {
  if (typeof id !== 'bigint' || id < 0n || id > UINT64_MAX) {
    throw new IdClientError(
      'INVALID_ARGUMENT',
      `formatIdBase32 takes a bigint from 0 to ${UINT64_MAX}; got ${String(id)}`,
    );
  }
  let text = '';
  for (const c of id.toString(32)) text += FROM_RADIX32.get(c) as string;
  return text.padStart(BASE32_ID_LENGTH, '0');
}

/**
 * The ID written as {@link formatIdBase32} writes it: exactly 13 characters, any case, with Crockford's
 * aliases I and L read as 1 and O as 0, of a value up to 2^64 − 1 (first character 0…F). Anything else
 * (another length, U, a hyphen or space, a check symbol) throws {@link IdClientError} `INVALID_ARGUMENT`
 * naming the text and what is wrong.
 */
export function parseIdBase32(text: string): bigint {
  if (typeof text !== 'string' || text.length !== BASE32_ID_LENGTH) {
    throw notBase32(
      text,
      `${typeof text === 'string' ? `has ${text.length} characters` : 'is not a string'}; a base32 ID has exactly ${BASE32_ID_LENGTH}`,
    );
  }
  const digits: number[] = [];
  for (let i = 0; i < BASE32_ID_LENGTH; i++) {
    const code = text.charCodeAt(i);
    const value = code < 128 ? (DIGIT_VALUE[code] as number) : -1;
    if (value < 0) {
      throw notBase32(
        text,
        `character ${i + 1} (${JSON.stringify(text[i])}) is not a Crockford base32 digit (0-9 and A-Z ` +
          'without U, any case; I and L read as 1, O as 0)',
      );
    }
    digits.push(value);
  }
  if ((digits[0] as number) > 15) {
    throw notBase32(
      text,
      `its value is larger than ${UINT64_MAX} (2^64 − 1): the first character must be 0 to F`,
    );
  }
  // Two exact JS numbers (35 and 30 bits) instead of thirteen bigint steps.
  const number = (from: number, to: number) => digits.slice(from, to).reduce((n, d) => n * 32 + d, 0);
  return (BigInt(number(0, 7)) << 30n) | BigInt(number(7, BASE32_ID_LENGTH));
}

function notBase32(text: unknown, why: string): IdClientError {
  return new IdClientError('INVALID_ARGUMENT', `not a base32 ID: ${JSON.stringify(text)} ${why}`);
}
