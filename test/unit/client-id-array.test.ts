import fc from 'fast-check';
import { decodeBatchIdsToArray } from '../../packages/client/src/id-array';
import { decodeBatchIdsResponse, packedIdsMessage } from '@snowflake-id/client/contract';

const uint64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** BatchIdsResponse of `ids` packed in one run, as our servers send it. */
function packed(ids: readonly bigint[]): Buffer {
  const message = packedIdsMessage(ids.length);
  ids.forEach((id, i) => {
    message.view.setBigUint64(message.idsOffset + i * 8, id, true);
  });
  return message.bytes;
}

/** The same IDs unpacked: one fixed64 field (tag 0x09) per ID, as a protobuf encoder may also send them. */
function unpacked(ids: readonly bigint[]): Buffer {
  const bytes = Buffer.alloc(ids.length * 9);
  ids.forEach((id, i) => {
    bytes[i * 9] = 0x09;
    bytes.writeBigUInt64LE(id, i * 9 + 1);
  });
  return bytes;
}

/** `bytes` copied to `offset` bytes into a larger buffer: a view that does not start 8-byte aligned. */
function at(offset: number, bytes: Buffer): Uint8Array {
  const larger = Buffer.alloc(offset + bytes.length);
  bytes.copy(larger, offset);
  return larger.subarray(offset);
}

describe('decodeBatchIdsToArray', () => {
  it('decodes packed and unpacked responses, at any byte offset, to the IDs decodeBatchIdsResponse gives', () => {
    fc.assert(
      fc.property(
        fc.array(uint64, { maxLength: 300 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 7 }),
        (ids, isPacked, offset) => {
          const bytes = at(offset, isPacked ? packed(ids) : unpacked(ids));
          const decoded = decodeBatchIdsToArray(bytes).ids;
          expect(decoded).toBeInstanceOf(BigUint64Array);
          expect([...decoded]).toEqual(ids);
          expect([...decoded]).toEqual(decodeBatchIdsResponse(bytes).ids);
        },
      ),
    );
  });

  it('returns a copy: the response buffer can be reused afterwards', () => {
    const bytes = packed([1n, 2n]);
    const { ids } = decodeBatchIdsToArray(bytes);
    bytes.fill(0xff);
    expect([...ids]).toEqual([1n, 2n]);
  });

  it.each([
    ['a packed run that is not a whole number of IDs', Buffer.from([0x0a, 0x03, 1, 2, 3])],
    ['a packed run longer than the message', Buffer.from([0x0a, 0x10, 1, 2, 3, 4, 5, 6, 7, 8])],
    ['a truncated fixed64', Buffer.from([0x09, 1, 2, 3])],
    ['field number 0', Buffer.from([0x00, 0x00])],
  ])('throws RangeError for %s', (_name, bytes) => {
    expect(() => decodeBatchIdsToArray(bytes)).toThrow(RangeError);
  });
});
