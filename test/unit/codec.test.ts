import fc from 'fast-check';
import { formatRfc3339, IdCodec, MAX_ID } from '../../src/core/codec';
import { DEFAULT_LAYOUT, fieldMax, type Layout } from '../../src/core/layout';
import { InvalidIdError, InvalidLayoutError } from '../../src/errors';

const codec = new IdCodec(DEFAULT_LAYOUT);
const sonyLike: Layout = {
  epochMs: Date.UTC(2014, 8, 1),
  timeUnitMs: 10,
  timestampBits: 39,
  datacenterBits: 0,
  workerBits: 16,
  sequenceBits: 8,
};

describe('IdCodec golden IDs', () => {
  it.each([
    // [layout name, layout, tick, datacenter, worker, sequence, id]
    ['default', DEFAULT_LAYOUT, 0, 0, 0, 0, 0n],
    ['default', DEFAULT_LAYOUT, 0, 0, 0, 1, 1n],
    ['default', DEFAULT_LAYOUT, 0, 0, 1, 0, 4096n],
    ['default', DEFAULT_LAYOUT, 0, 1, 0, 0, 131072n],
    ['default', DEFAULT_LAYOUT, 1, 0, 0, 0, 4194304n],
    ['default', DEFAULT_LAYOUT, 123456789, 3, 17, 42, 517815304392746n],
    ['default', DEFAULT_LAYOUT, 136728000000, 1, 2, 3, 573478797312139267n],
    ['default', DEFAULT_LAYOUT, 2 ** 41 - 1, 31, 31, 4095, 9223372036854775807n],
    ['sonyflake-like', sonyLike, 1000, 0, 0x1234, 7, 16778408967n],
  ] as const)(
    'GIVEN %s layout, fields (%d, %d, %d, %d) THEN the ID is %s',
    (_n, layout, tick, dc, w, seq, id) => {
      const c = new IdCodec(layout);
      expect(c.encode({ tick, datacenterId: dc, workerId: w, sequence: seq })).toBe(id);
      expect(c.decode(id)).toEqual({
        id,
        tick,
        datacenterId: dc,
        workerId: w,
        sequence: seq,
        timestampMs: layout.epochMs + tick * layout.timeUnitMs,
      });
    },
  );

  it('GIVEN the ID of 2024-05-01T12:00:00Z THEN its timestamp formats as RFC 3339 with ms', () => {
    const decoded = codec.decode(573478797312139267n);
    expect(formatRfc3339(decoded.timestampMs)).toBe('2024-05-01T12:00:00.000Z');
  });
});

describe('IdCodec round trip', () => {
  const layouts: [string, Layout][] = [
    ['default', DEFAULT_LAYOUT],
    ['sonyflake-like', sonyLike],
    [
      '21-bit sequence',
      { ...DEFAULT_LAYOUT, timestampBits: 42, datacenterBits: 0, workerBits: 0, sequenceBits: 21 },
    ],
    [
      '31-bit node fields',
      { ...DEFAULT_LAYOUT, timestampBits: 1, datacenterBits: 31, workerBits: 31, sequenceBits: 0 },
    ],
  ];
  it.each(layouts)('GIVEN the %s layout THEN decode(encode(fields)) returns the fields', (_n, layout) => {
    const c = new IdCodec(layout);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: fieldMax(layout.timestampBits) }),
        fc.integer({ min: 0, max: fieldMax(layout.datacenterBits) }),
        fc.integer({ min: 0, max: fieldMax(layout.workerBits) }),
        fc.integer({ min: 0, max: fieldMax(layout.sequenceBits) }),
        (tick, datacenterId, workerId, sequence) => {
          const id = c.encode({ tick, datacenterId, workerId, sequence });
          expect(id >= 0n && id <= MAX_ID).toBe(true);
          expect(c.decode(id)).toMatchObject({ tick, datacenterId, workerId, sequence });
        },
      ),
    );
  });

  it('GIVEN any ID with the sign bit clear THEN encode(decode(id)) returns it', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_ID }), (id) => {
        expect(codec.encode(codec.decode(id))).toBe(id);
      }),
    );
  });

  it('GIVEN IDs ordered by (tick, sequence) THEN the IDs are ordered the same way', () => {
    fc.assert(
      fc.property(
        fc.tuple(fc.integer({ min: 0, max: fieldMax(41) }), fc.integer({ min: 0, max: 4095 })),
        fc.tuple(fc.integer({ min: 0, max: fieldMax(41) }), fc.integer({ min: 0, max: 4095 })),
        ([t1, s1], [t2, s2]) => {
          const a = codec.encode({ tick: t1, datacenterId: 7, workerId: 9, sequence: s1 });
          const b = codec.encode({ tick: t2, datacenterId: 7, workerId: 9, sequence: s2 });
          expect(a < b).toBe(t1 < t2 || (t1 === t2 && s1 < s2));
        },
      ),
    );
  });
});

describe('IdCodec limits', () => {
  it.each([
    ['2^63 (sign bit set)', 1n << 63n],
    ['2^64 − 1', (1n << 64n) - 1n],
    ['a negative value', -1n],
  ])('GIVEN %s THEN decode refuses it with InvalidIdError', (_n, id) => {
    expect(() => codec.decode(id)).toThrow(InvalidIdError);
    expect(() => codec.decode(id)).toThrow(/sign bit/);
  });

  it.each([
    [
      'worker 32 with 5 worker bits',
      { datacenterId: 0, workerId: 32 },
      /worker ID must be an integer from 0 to 31/,
    ],
    [
      'datacenter 32 with 5 datacenter bits',
      { datacenterId: 32, workerId: 0 },
      /datacenter ID must be an integer from 0 to 31/,
    ],
    ['a negative worker', { datacenterId: 0, workerId: -1 }, /worker ID/],
    ['a fractional worker', { datacenterId: 0, workerId: 1.5 }, /worker ID/],
  ])('GIVEN %s THEN nodeBits refuses instead of masking', (_n, node, message) => {
    expect(() => codec.nodeBits(node)).toThrow(InvalidLayoutError);
    expect(() => codec.nodeBits(node)).toThrow(message);
  });

  it.each([
    ['a tick of 2^41', { tick: 2 ** 41, sequence: 0 }, /tick must be an integer from 0 to 2199023255551/],
    ['a sequence of 4096', { tick: 0, sequence: 4096 }, /sequence must be an integer from 0 to 4095/],
    ['a negative tick', { tick: -1, sequence: 0 }, /tick/],
  ])('GIVEN %s THEN encode refuses instead of masking', (_n, fields, message) => {
    expect(() => codec.encode({ datacenterId: 0, workerId: 0, ...fields })).toThrow(RangeError);
    expect(() => codec.encode({ datacenterId: 0, workerId: 0, ...fields })).toThrow(message);
  });
});
