import fc from 'fast-check';
import { BASE32_ID_LENGTH, formatIdBase32, parseIdBase32 } from '../../packages/client/src/id-base32';
import { UINT64_MAX } from '../../packages/client/src/id-text';
import { thrown } from '../helpers/client-rejection';

const MAX_ID = (1n << 63n) - 1n;

/** Any 64-bit value, with the edges (0, 2^63 − 1, 2^63, 2^64 − 1) drawn often. */
const anyUint64 = fc.oneof(
  fc.bigInt({ min: 0n, max: UINT64_MAX }),
  fc.constantFrom(0n, 1n, 31n, 32n, MAX_ID, MAX_ID + 1n, UINT64_MAX - 1n, UINT64_MAX),
);

describe('IDs as fixed-width Crockford base32', () => {
  // Golden texts, computed digit by digit (value mod 32, alphabet 0-9A-Z without I, L, O, U).
  it.each<[bigint, string]>([
    [0n, '0000000000000'],
    [31n, '000000000000Z'],
    [32n, '0000000000010'],
    [573478797312139267n, '0FXB7XP004803'],
    [1234567890123456789n, '128GGYHYYK08N'],
    [MAX_ID, '7ZZZZZZZZZZZZ'],
    [MAX_ID + 1n, '8000000000000'],
    [UINT64_MAX, 'FZZZZZZZZZZZZ'],
  ])('GIVEN %s THEN it is written %s and read back', (id, text) => {
    expect(formatIdBase32(id)).toBe(text);
    expect(parseIdBase32(text)).toBe(id);
  });

  it('GIVEN any 64-bit value THEN it round-trips exactly through 13 characters of the alphabet', () => {
    fc.assert(
      fc.property(anyUint64, (id) => {
        const text = formatIdBase32(id);
        expect(text).toMatch(/^[0-9A-HJKMNP-TV-Z]{13}$/);
        expect(parseIdBase32(text)).toBe(id);
      }),
      { numRuns: 20_000 },
    );
  });

  it('GIVEN any two IDs THEN their texts sort as the IDs do', () => {
    fc.assert(
      fc.property(anyUint64, anyUint64, (a, b) => {
        const [ta, tb] = [formatIdBase32(a), formatIdBase32(b)];
        expect(Math.sign(ta < tb ? -1 : ta > tb ? 1 : 0)).toBe(a < b ? -1 : a > b ? 1 : 0);
      }),
      { numRuns: 20_000 },
    );
  });

  it('GIVEN any ID written in lower case or with I, L, O for 1, 1, 0 THEN it reads the same ID', () => {
    fc.assert(
      fc.property(anyUint64, fc.boolean(), (id, lowerL) => {
        const text = formatIdBase32(id);
        const aliased = text.replaceAll('1', lowerL ? 'l' : 'I').replaceAll('0', 'O');
        expect(parseIdBase32(text.toLowerCase())).toBe(id);
        expect(parseIdBase32(aliased)).toBe(id);
        expect(parseIdBase32(aliased.toLowerCase())).toBe(id);
      }),
    );
  });

  it.each<[string, unknown, string]>([
    ['12 characters', '000000000000', 'has 12 characters; a base32 ID has exactly 13'],
    ['14 characters', '00000000000000', 'has 14 characters; a base32 ID has exactly 13'],
    ['empty', '', 'has 0 characters'],
    ['U (not a digit)', '000000000000U', 'character 13 ("U") is not a Crockford base32 digit'],
    ['a hyphen', '000000-000000', 'character 7 ("-") is not a Crockford base32 digit'],
    ['a space', ' 000000000000', 'character 1 (" ") is not a Crockford base32 digit'],
    ['a check symbol', '00000000000*0', 'character 12 ("*") is not a Crockford base32 digit'],
    ['a non-ASCII letter', '00000000000É0', 'character 12 ("É") is not a Crockford base32 digit'],
    ['2^64 (first character G)', 'G000000000000', 'larger than 18446744073709551615'],
    ['2^65 − 1', 'ZZZZZZZZZZZZZ', 'the first character must be 0 to F'],
    ['a number', 42, 'is not a string'],
  ])('GIVEN %s THEN parseIdBase32 refuses it with INVALID_ARGUMENT saying why', (_name, text, message) => {
    const err = thrown(() => parseIdBase32(text as string));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain(`not a base32 ID: ${JSON.stringify(text)}`);
    expect(err.message).toContain(message);
  });

  it.each<[string, unknown]>([
    ['-1', -1n],
    ['2^64', UINT64_MAX + 1n],
    ['a number', 42],
    ['a decimal string', '42'],
  ])('GIVEN %s THEN formatIdBase32 refuses it with INVALID_ARGUMENT', (_name, id) => {
    const err = thrown(() => formatIdBase32(id as bigint));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('formatIdBase32 takes a bigint from 0 to 18446744073709551615');
  });

  it('has 13 characters: 65 bits, enough for every 64-bit value', () => {
    expect(BASE32_ID_LENGTH).toBe(13);
    expect(2n ** BigInt(5 * BASE32_ID_LENGTH) > UINT64_MAX).toBe(true);
  });
});
