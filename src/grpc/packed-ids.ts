/**
 * Hand-written protobuf encoding of `BatchIdsResponse { repeated fixed64 ids = 1; }` straight from
 * bigints: one Buffer, no per-ID string or Long object. Wire format: tag 0x0A (field 1, length-delimited),
 * varint byte length, then 8 little-endian bytes per ID (proto3 packs repeated scalars).
 */
export function encodeBatchIdsResponse(ids: readonly bigint[]): Buffer {
  if (ids.length === 0) return Buffer.alloc(0);
  const payload = ids.length * 8;
  const header = 1 + varintSize(payload);
  const buf = Buffer.allocUnsafe(header + payload);
  buf[0] = 0x0a;
  let offset = 1;
  for (let v = payload; ;) {
    if (v < 0x80) {
      buf[offset++] = v;
      break;
    }
    buf[offset++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  for (const id of ids) {
    buf.writeBigUInt64LE(id, offset);
    offset += 8;
  }
  return buf;
}

function varintSize(v: number): number {
  let size = 1;
  while (v >= 0x80) {
    v >>>= 7;
    size++;
  }
  return size;
}
