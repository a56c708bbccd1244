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

/** Response serializer for a handler that answers with the encoded message itself. */
export function preEncoded(message: Buffer): Buffer {
  return message;
}

/** `NextIdResponse { fixed64 id = 1; }`: tag 0x09 (field 1, 64-bit), then the ID as 8 little-endian bytes. */
export function encodeNextIdResponse(id: bigint): Buffer {
  const bytes = Buffer.allocUnsafe(9);
  bytes[0] = 0x09;
  bytes.writeBigUInt64LE(id, 1);
  return bytes;
}

function varintSize(v: number): number {
  let size = 1;
  while (v >= 0x80) {
    v >>>= 7;
    size++;
  }
  return size;
}

/**
 * Decodes `BatchIdsResponse` bytes straight to bigints (no string or Long per ID), accepting whatever a
 * protobuf encoder may send: field 1 packed or not, in one run or several, unknown fields skipped.
 * Throws RangeError when the bytes are not such a message.
 */
export function decodeBatchIdsResponse(bytes: Uint8Array): { ids: bigint[] } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const ids: bigint[] = [];
  const reader = { at: 0 };
  while (reader.at < buf.length) {
    const key = readVarint(buf, reader);
    const wireType = key % 8;
    if (key < 8) throw new RangeError(`BatchIdsResponse: invalid field number 0 at byte ${reader.at}`);
    if (key === 0x0a) {
      const length = readVarint(buf, reader);
      const end = reader.at + length;
      if (end > buf.length || length % 8 !== 0) {
        throw new RangeError('BatchIdsResponse: packed ids are not a whole number of 8-byte values');
      }
      for (let at = reader.at; at < end; at += 8) ids.push(buf.readBigUInt64LE(at));
      reader.at = end;
    } else if (key === 0x09) {
      if (reader.at + 8 > buf.length) throw new RangeError('BatchIdsResponse: truncated id');
      ids.push(buf.readBigUInt64LE(reader.at));
      reader.at += 8;
    } else skipField(buf, reader, wireType);
  }
  return { ids };
}

/** Skips the value of an unknown field of `wireType` (groups, deprecated, are refused). */
function skipField(buf: Buffer, reader: { at: number }, wireType: number): void {
  if (wireType === 0) readVarint(buf, reader);
  else if (wireType === 1) reader.at += 8;
  else if (wireType === 2) {
    const length = readVarint(buf, reader);
    reader.at += length;
  } else if (wireType === 5) reader.at += 4;
  else throw new RangeError(`BatchIdsResponse: unsupported wire type ${wireType}`);
  if (reader.at > buf.length) throw new RangeError('BatchIdsResponse: truncated field');
}

/** Reads a varint of at most 10 bytes as a number (exact up to 2^53; larger values only need skipping). */
function readVarint(buf: Buffer, reader: { at: number }): number {
  let value = 0;
  for (let shift = 0; shift < 70; shift += 7) {
    const b = buf[reader.at++];
    if (b === undefined) throw new RangeError('BatchIdsResponse: truncated varint');
    value += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return value;
  }
  throw new RangeError('BatchIdsResponse: varint longer than 10 bytes');
}
