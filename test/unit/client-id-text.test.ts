import fc from 'fast-check';
import { IdClientError } from '../../packages/client/src/errors';
import { formatIdText, parseIdText, UINT64_MAX } from '../../packages/client/src/id-text';

describe('parseIdText', () => {
  it.each([
    ['0', 0n],
    ['573478797312139267', 573478797312139267n],
    ['9223372036854775807', (1n << 63n) - 1n],
    ['18446744073709551615', UINT64_MAX],
    ['000042', 42n],
    // Above 2^53: a trip through a JS number would change the last digits.
    ['9007199254740993', 9007199254740993n],
  ])('parses %s exactly', (text, expected) => {
    expect(parseIdText(text)).toBe(expected);
  });

  it.each([
    ['12x', 'decimal digits only'],
    ['-1', 'decimal digits only'],
    ['', 'decimal digits only'],
    [' 1', 'decimal digits only'],
    ['1e3', 'decimal digits only'],
    ['0x10', 'decimal digits only'],
    ['+1', 'decimal digits only'],
    ['1.0', 'decimal digits only'],
    ['18446744073709551616', 'larger than 18446744073709551615'],
    ['99999999999999999999999', 'larger than'],
  ])('rejects %j as INVALID_ARGUMENT saying why', (text, message) => {
    let caught: unknown;
    try {
      parseIdText(text);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IdClientError);
    expect((caught as IdClientError).code).toBe('INVALID_ARGUMENT');
    expect((caught as IdClientError).message).toContain(message);
  });
});

describe('formatIdText', () => {
  it('GIVEN any 64-bit value THEN parseIdText reads its text back exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: UINT64_MAX }), (id) => {
        const text = formatIdText(id);
        expect(text).toMatch(/^(0|[1-9][0-9]*)$/);
        expect(parseIdText(text)).toBe(id);
      }),
    );
    expect(formatIdText(UINT64_MAX)).toBe('18446744073709551615');
  });

  it.each<[string, unknown]>([
    ['-1', -1n],
    ['2^64', UINT64_MAX + 1n],
    ['a number', 42],
  ])('GIVEN %s THEN it throws INVALID_ARGUMENT', (_name, id) => {
    expect(() => formatIdText(id as bigint)).toThrow(IdClientError);
    expect(() => formatIdText(id as bigint)).toThrow(
      'formatIdText takes a bigint from 0 to 18446744073709551615',
    );
  });
});
