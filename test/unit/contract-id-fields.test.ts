import fc from 'fast-check';
import {
  composeId,
  decomposeId,
  DEFAULT_LAYOUT,
  fieldMax,
  fieldProblem,
  MAX_ID,
  type IdFields,
  type Layout,
} from '@snowflake-id/client/contract';

/** Any layout whose four widths sum to 63, with any epoch and time unit. */
const layouts: fc.Arbitrary<Layout> = fc
  .tuple(fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 31 }))
  .filter(([d, w, s]) => d + w + s <= 62)
  .chain(([datacenterBits, workerBits, sequenceBits]) =>
    fc.record({
      epochMs: fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }),
      timeUnitMs: fc.integer({ min: 1, max: 86_400_000 }),
      timestampBits: fc.constant(63 - datacenterBits - workerBits - sequenceBits),
      datacenterBits: fc.constant(datacenterBits),
      workerBits: fc.constant(workerBits),
      sequenceBits: fc.constant(sequenceBits),
    }),
  );

const upTo = (bits: number) =>
  fc.bigInt({ min: 0n, max: BigInt(Math.min(fieldMax(bits), Number.MAX_SAFE_INTEGER)) }).map(Number);

/** A layout and fields that fit it. */
const cases = layouts.chain((layout) =>
  fc.record({
    layout: fc.constant(layout),
    fields: fc.record({
      tick: upTo(layout.timestampBits),
      datacenterId: upTo(layout.datacenterBits),
      workerId: upTo(layout.workerBits),
      sequence: upTo(layout.sequenceBits),
    }),
  }),
);

/** The ID by multiplication (the layout read as a mixed-radix number), independent of the shifts under test. */
function byArithmetic(f: IdFields, l: Layout): bigint {
  const radix = (bits: number) => 2n ** BigInt(bits);
  return (
    ((BigInt(f.tick) * radix(l.datacenterBits) + BigInt(f.datacenterId)) * radix(l.workerBits) +
      BigInt(f.workerId)) *
      radix(l.sequenceBits) +
    BigInt(f.sequence)
  );
}

describe('composeId / decomposeId (the contract, offline)', () => {
  it('GIVEN the golden ID 573478797312139267 and no layout THEN the default layout splits it', () => {
    const fields = { tick: 136728000000, datacenterId: 1, workerId: 2, sequence: 3 };
    expect(composeId(fields)).toBe(573478797312139267n);
    expect(decomposeId(573478797312139267n)).toEqual({
      ...fields,
      id: 573478797312139267n,
      timestampMs: Date.UTC(2024, 4, 1, 12),
    });
    expect(decomposeId(573478797312139267n, DEFAULT_LAYOUT)).toEqual(decomposeId(573478797312139267n));
  });

  it('GIVEN any layout and fields that fit THEN compose equals the arithmetic ID and decompose gives the fields back', () => {
    fc.assert(
      fc.property(cases, ({ layout, fields }) => {
        const id = composeId(fields, layout);
        expect(id).toBe(byArithmetic(fields, layout));
        expect(id <= MAX_ID).toBe(true);
        expect(decomposeId(id, layout)).toEqual({
          ...fields,
          id,
          timestampMs: layout.epochMs + fields.tick * layout.timeUnitMs,
        });
      }),
    );
  });

  it.each<[string, keyof IdFields, number, string]>([
    [
      'a tick of 2^41',
      'tick',
      2 ** 41,
      'tick must be an integer from 0 to 2199023255551 (41 timestamp bits); got 2199023255552',
    ],
    [
      'datacenter 32',
      'datacenterId',
      32,
      'datacenter ID must be an integer from 0 to 31 (5 datacenter bits); got 32',
    ],
    ['worker −1', 'workerId', -1, 'worker ID must be an integer from 0 to 31 (5 worker bits); got -1'],
    ['worker 1.5', 'workerId', 1.5, 'worker ID must be an integer from 0 to 31 (5 worker bits); got 1.5'],
    [
      'sequence 4096',
      'sequence',
      4096,
      'sequence must be an integer from 0 to 4095 (12 sequence bits); got 4096',
    ],
  ])(
    'GIVEN %s THEN compose refuses it, naming the field and its range, instead of masking',
    (_n, field, value, message) => {
      const fields = { tick: 0, datacenterId: 0, workerId: 0, sequence: 0, [field]: value };
      expect(fieldProblem(DEFAULT_LAYOUT, field, value)).toBe(message);
      expect(() => composeId(fields)).toThrow(new RangeError(message));
    },
  );

  it.each([
    ['2^63 (sign bit set)', 1n << 63n],
    ['2^64 − 1', (1n << 64n) - 1n],
    ['−1', -1n],
  ])('GIVEN %s THEN decompose refuses it: never issued', (_n, id) => {
    expect(() => decomposeId(id)).toThrow(RangeError);
    expect(() => decomposeId(id)).toThrow(/sign bit/);
  });
});
