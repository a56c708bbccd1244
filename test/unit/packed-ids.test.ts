import fc from 'fast-check';
import { IdCodec, MAX_ID } from '../../src/core/codec';
import { Generator, type Allocation } from '../../src/core/generator';
import { DEFAULT_LAYOUT, fieldMax, type Layout } from '../../src/core/layout';
import {
  batchIdsResponseBytes,
  decodeBatchIdsResponse,
  encodeNextIdResponse,
  packedIdsMessage,
} from '@snowflake-id/client/contract';
import { snowflakeProto } from '../../src/grpc/proto';
import { FakeClock } from '../helpers/fake-clock';

// The reference path: protobufjs (through proto-loader, 64-bit fields as decimal strings) encoding and
// decoding the same messages.
const { BatchIdsResponse, NextIdResponse } = snowflakeProto();
const batchReference = BatchIdsResponse as unknown as {
  serialize(v: { ids: string[] }): Buffer;
  deserialize(b: Buffer): { ids: string[] };
};
const nextReference = NextIdResponse as unknown as {
  serialize(v: { id: string }): Buffer;
  deserialize(b: Buffer): { id: string };
};

/** A BatchIdsResponse of `ids` through the fast encoder: header from packedIdsMessage, IDs as LE halves. */
function packed(ids: readonly bigint[]): Buffer {
  const message = packedIdsMessage(ids.length);
  ids.forEach((id, i) => {
    message.view.setBigUint64(message.idsOffset + i * 8, id, true);
  });
  return message.bytes;
}

const uint64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** Any layout whose four widths sum to 63 (checkLayout's range limits aside: the codec does not need them). */
const layouts: fc.Arbitrary<Layout> = fc
  .tuple(fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 31 }))
  .filter(([d, w, s]) => d + w + s <= 62)
  .map(([datacenterBits, workerBits, sequenceBits]) => ({
    ...DEFAULT_LAYOUT,
    datacenterBits,
    workerBits,
    sequenceBits,
    timestampBits: 63 - datacenterBits - workerBits - sequenceBits,
  }));

/** A layout, a node, and one run of IDs within a tick, all in range for that layout. */
const runs = layouts.chain((layout) =>
  fc.record({
    layout: fc.constant(layout),
    datacenterId: fc.integer({ min: 0, max: fieldMax(layout.datacenterBits) }),
    workerId: fc.integer({ min: 0, max: fieldMax(layout.workerBits) }),
    tick: fc
      .bigInt({ min: 0n, max: BigInt(Math.min(fieldMax(layout.timestampBits), Number.MAX_SAFE_INTEGER)) })
      .map(Number),
    run: fc.integer({ min: 0, max: fieldMax(layout.sequenceBits) }).chain((first) =>
      fc.record({
        firstSequence: fc.constant(first),
        count: fc.integer({ min: 1, max: Math.min(200, fieldMax(layout.sequenceBits) - first + 1) }),
      }),
    ),
  }),
);

describe('BatchIdsResponse fast encoder', () => {
  it('GIVEN any list of IDs THEN protobuf decoding of its bytes yields the same IDs', () => {
    fc.assert(
      fc.property(fc.array(uint64, { maxLength: 300 }), (ids) => {
        expect(batchReference.deserialize(packed(ids)).ids.map(BigInt)).toEqual(ids);
      }),
    );
  });

  it('GIVEN any list of IDs THEN the bytes equal protobufjs encoding of the same message', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: MAX_ID }), { minLength: 1, maxLength: 300 }), (ids) => {
        const expected = batchReference.serialize({ ids: ids.map(String) });
        expect(packed(ids).equals(expected)).toBe(true);
      }),
    );
  });

  it.each([1, 15, 16, 2047, 2048, 10_000, 100_000])(
    'GIVEN %d IDs THEN the length prefix and payload round-trip (varint boundaries)',
    (n) => {
      const ids = Array.from({ length: n }, (_, i) => MAX_ID - BigInt(i));
      expect(batchReference.deserialize(packed(ids)).ids.map(BigInt)).toEqual(ids);
    },
  );

  it.each([
    [1, 15],
    [15, 127],
    [16, 136],
    [10_000, 80_009],
    [100_000, 800_009],
  ])('GIVEN %d IDs THEN the message takes %d bytes on the wire with its 5-byte gRPC prefix', (n, bytes) => {
    const ids = Array.from({ length: n }, () => MAX_ID);
    expect(batchIdsResponseBytes(n)).toBe(bytes);
    expect(batchReference.serialize({ ids: ids.map(String) }).length + 5).toBe(bytes);
  });

  it('GIVEN any layout, node and run THEN the IDs the generator writes as halves decode to codec.encode of each sequence', () => {
    fc.assert(
      fc.property(runs, ({ layout, datacenterId, workerId, tick, run }) => {
        const codec = new IdCodec(layout);
        const node = { datacenterId, workerId };
        const gen = new Generator(codec, node, new FakeClock(0), { maxBackwardsMs: 0 });
        const grant: Allocation = { kind: 'ids', tick, ...run };
        const message = packedIdsMessage(run.count);
        const end = gen.writeIds(grant, message.view, message.idsOffset);
        expect(end).toBe(message.bytes.length);

        const expected = Array.from({ length: run.count }, (_, i) =>
          codec.encode({ tick, ...node, sequence: run.firstSequence + i }),
        );
        expect(batchReference.deserialize(message.bytes).ids.map(BigInt)).toEqual(expected);
        expect(expected.map((_, i) => gen.idAt(tick, run.firstSequence + i))).toEqual(expected);
      }),
    );
  });
});

describe('NextIdResponse fast encoder', () => {
  it('GIVEN any 64-bit ID THEN protobuf decoding of its bytes yields the same ID', () => {
    fc.assert(
      fc.property(uint64, (id) => {
        expect(BigInt(nextReference.deserialize(encodeNextIdResponse(id)).id)).toBe(id);
      }),
    );
  });

  it('GIVEN any non-zero ID THEN the bytes equal protobufjs encoding of the same message', () => {
    // protobufjs leaves a zero field out (proto3 default); both forms decode to 0.
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: MAX_ID }), (id) => {
        expect(encodeNextIdResponse(id).equals(nextReference.serialize({ id: String(id) }))).toBe(true);
      }),
    );
  });
});

/** `id` as an unpacked field-1 entry: key 0x09 (field 1, 64-bit), then 8 little-endian bytes. */
function unpacked(id: bigint): Buffer {
  const b = Buffer.alloc(9);
  b[0] = 0x09;
  b.writeBigUInt64LE(id, 1);
  return b;
}

/** Unknown fields a newer server might add: field 2 varint, 3 bytes, 4 fixed32, 5 fixed64. */
const unknownFields = fc.constantFrom(
  Buffer.from([0x10, 0x96, 0x01]),
  Buffer.from([0x1a, 0x03, 0x61, 0x62, 0x63]),
  Buffer.from([0x25, 1, 2, 3, 4]),
  Buffer.from([0x29, 1, 2, 3, 4, 5, 6, 7, 8]),
);

describe('decodeBatchIdsResponse', () => {
  it('GIVEN protobufjs or fast-encoder bytes of any IDs THEN it decodes the same IDs', () => {
    fc.assert(
      fc.property(fc.array(uint64, { maxLength: 300 }), (ids) => {
        expect(decodeBatchIdsResponse(batchReference.serialize({ ids: ids.map(String) })).ids).toEqual(ids);
        expect(decodeBatchIdsResponse(packed(ids)).ids).toEqual(ids);
      }),
    );
  });

  it('GIVEN IDs unpacked or in several packed runs, with unknown fields between THEN it decodes them in order', () => {
    const part = fc.oneof(
      fc.array(uint64, { minLength: 1, maxLength: 5 }).map((ids) => ({ ids, bytes: packed(ids) })),
      uint64.map((id) => ({ ids: [id], bytes: unpacked(id) })),
      unknownFields.map((bytes) => ({ ids: [] as bigint[], bytes })),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 20 }), (parts) => {
        const bytes = Buffer.concat(parts.map((p) => p.bytes));
        const ids = parts.flatMap((p) => p.ids);
        expect(batchReference.deserialize(bytes).ids.map(BigInt)).toEqual(ids);
        expect(decodeBatchIdsResponse(bytes).ids).toEqual(ids);
      }),
    );
  });

  it.each([
    ['a truncated packed run', [0x0a, 0x10, 1, 2, 3]],
    ['a packed length that is not a multiple of 8', [0x0a, 0x03, 1, 2, 3]],
    ['a truncated unpacked ID', [0x09, 1, 2, 3]],
    ['a truncated varint', [0x10, 0x80]],
    ['field number 0', [0x00, 0x01]],
    ['a group (wire type 3)', [0x1b, 0x1c]],
    ['an unknown field running past the end', [0x1a, 0x05, 1]],
  ])('GIVEN %s THEN it throws RangeError', (_name, bytes) => {
    expect(() => decodeBatchIdsResponse(Buffer.from(bytes))).toThrow(RangeError);
  });
});
