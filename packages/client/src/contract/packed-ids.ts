import { varintSize, WireReader } from './wire';

/**
 * A `BatchIdsResponse { repeated fixed64 ids = 1; }` encoded by hand, for IDs written in place: tag 0x0A
 * (field 1, length-delimited), the varint byte length, then 8 little-endian bytes per ID (proto3 packs
 * repeated scalars). One Buffer, no per-ID bigint, string or Long.
 */
export interface PackedIdsMessage {
  /** The whole message; the ID bytes are left for the caller to fill. */
  readonly bytes: Buffer;
  /** A view of `bytes` for writing the IDs. */
  readonly view: DataView;
  /** Byte offset of the first ID in `bytes` and `view`. */
  readonly idsOffset: number;
}

/** An encoded BatchIdsResponse with room for `count` (≥ 0) IDs: the header written, the IDs not yet. */
export function packedIdsMessage(count: number): PackedIdsMessage {
  const payload = count * 8;
  const idsOffset = 1 + varintSize(payload);
  const bytes = Buffer.allocUnsafe(idsOffset + payload);
  bytes[0] = 0x0a;
  let at = 1;
  for (let v = payload; ; v >>>= 7) {
    if (v < 0x80) {
      bytes[at] = v;
      break;
    }
    bytes[at++] = (v & 0x7f) | 0x80;
  }
  return { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.length), idsOffset };
}

/** Bytes of the gRPC length prefix in front of every message on the wire. */
const GRPC_MESSAGE_PREFIX_BYTES = 5;

/**
 * Bytes a BatchIdsResponse of `count` (≥ 0) IDs takes on the wire as one gRPC message: the 5-byte length
 * prefix, the tag, the varint length and 8 bytes per ID (80,009 for 10,000 IDs; never more than 8 × count + 9
 * below 262,144 IDs).
 */
export function batchIdsResponseBytes(count: number): number {
  const payload = count * 8;
  return GRPC_MESSAGE_PREFIX_BYTES + 1 + varintSize(payload) + payload;
}

/** `NextIdResponse { fixed64 id = 1; }`: tag 0x09 (field 1, 64-bit), then the ID as 8 little-endian bytes. */
export function encodeNextIdResponse(id: bigint): Buffer {
  const bytes = Buffer.allocUnsafe(9);
  bytes[0] = 0x09;
  bytes.writeBigUInt64LE(id, 1);
  return bytes;
}

/**
 * Decodes `BatchIdsResponse` bytes straight to bigints (no string or Long per ID), accepting whatever a
 * protobuf encoder may send: field 1 packed or not, in one run or several, unknown fields skipped.
 * Throws RangeError when the bytes are not such a message.
 */
export function decodeBatchIdsResponse(bytes: Uint8Array): { ids: bigint[] } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const ids: bigint[] = [];
  const reader = new WireReader(buf, 'BatchIdsResponse');
  while (reader.more) {
    const { field, wireType } = reader.key();
    if (field === 1 && wireType === 2) {
      const length = reader.varint();
      const end = reader.at + length;
      if (end > buf.length || length % 8 !== 0) {
        throw reader.error('packed ids are not a whole number of 8-byte values');
      }
      for (let at = reader.at; at < end; at += 8) ids.push(buf.readBigUInt64LE(at));
      reader.at = end;
    } else if (field === 1 && wireType === 1) {
      if (reader.at + 8 > buf.length) throw reader.error('truncated id');
      ids.push(buf.readBigUInt64LE(reader.at));
      reader.at += 8;
    } else reader.skip(wireType);
  }
  return { ids };
}
