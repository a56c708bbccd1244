import * as os from 'node:os';
import { decodeBatchIdsResponse } from './contract';

/** True where a BigUint64Array's memory layout is the wire's: fixed64 is little-endian. */
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

/**
 * Decodes `BatchIdsResponse` bytes into a BigUint64Array: 8 bytes per ID and no bigint until an ID is
 * read, which is what the prefetch buffer holds. The usual encoding (field 1 packed in one run, as our
 * servers send it) is one copy; any other valid encoding goes through {@link decodeBatchIdsResponse}.
 * Throws RangeError when the bytes are not such a message.
 */
export function decodeBatchIdsToArray(bytes: Uint8Array): { ids: BigUint64Array } {
  const packed = LITTLE_ENDIAN_HOST ? packedRun(bytes) : undefined;
  if (packed !== undefined) {
    const ids = new BigUint64Array(packed.length / 8);
    new Uint8Array(ids.buffer).set(bytes.subarray(packed.start, packed.start + packed.length));
    return { ids };
  }
  return { ids: BigUint64Array.from(decodeBatchIdsResponse(bytes).ids) };
}

/** Where the IDs are when the message is exactly tag 0x0A, a varint length (multiple of 8), the IDs. */
function packedRun(bytes: Uint8Array): { start: number; length: number } | undefined {
  if (bytes[0] !== 0x0a) return undefined;
  let length = 0;
  // A message of one field spanning the rest: its length fits in 5 varint bytes (< 2^35).
  for (let at = 1, shift = 0; at <= 5; at++, shift += 7) {
    const b = bytes[at];
    if (b === undefined) return undefined;
    length += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) {
      const start = at + 1;
      return start + length === bytes.length && length % 8 === 0 ? { start, length } : undefined;
    }
  }
  return undefined;
}
