import fc from 'fast-check';
import { MAX_ID } from '../../src/core/codec';
import { encodeBatchIdsResponse } from '../../src/grpc/packed-ids';
import { snowflakeProto } from '../../src/grpc/proto';

// The reference path: protobufjs (through proto-loader) encoding and decoding the same message.
const { BatchIdsResponse } = snowflakeProto();
const reference = BatchIdsResponse as unknown as {
  serialize(v: { ids: string[] }): Buffer;
  deserialize(b: Buffer): { ids: string[] };
};

describe('encodeBatchIdsResponse', () => {
  it('GIVEN any list of IDs THEN protobuf decoding of its bytes yields the same IDs', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { maxLength: 300 }), (ids) => {
        const decoded = reference.deserialize(encodeBatchIdsResponse(ids)).ids.map(BigInt);
        expect(decoded).toEqual(ids);
      }),
    );
  });

  it('GIVEN any list of IDs THEN the bytes equal protobufjs encoding of the same message', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: MAX_ID }), { maxLength: 300 }), (ids) => {
        const expected = reference.serialize({ ids: ids.map(String) });
        expect(encodeBatchIdsResponse(ids).equals(expected)).toBe(true);
      }),
    );
  });

  it.each([0, 1, 15, 16, 2047, 2048, 10_000, 100_000])(
    'GIVEN %d IDs THEN the length prefix and payload round-trip (varint boundaries)',
    (n) => {
      const ids = Array.from({ length: n }, (_, i) => MAX_ID - BigInt(i));
      const bytes = encodeBatchIdsResponse(ids);
      expect(reference.deserialize(bytes).ids.map(BigInt)).toEqual(ids);
    },
  );
});
