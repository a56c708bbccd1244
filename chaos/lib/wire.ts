import * as grpc from '@grpc/grpc-js';
import type { ServerInfo as ClientServerInfo } from '@snowflake-id/client';
import { decodeBatchIdsResponse } from '@snowflake-id/client/contract';

/** Method paths of snowflake.v1.IdGenerator. */
export const METHOD = {
  nextId: '/snowflake.v1.IdGenerator/NextId',
  batchIds: '/snowflake.v1.IdGenerator/BatchIds',
  getInfo: '/snowflake.v1.IdGenerator/GetInfo',
} as const;

/** Outcome of one raw unary call: the response bytes, or the status the client saw. */
export type RawResult =
  | { readonly ok: true; readonly bytes: Buffer }
  | { readonly ok: false; readonly code: grpc.status; readonly details: string };

/**
 * A grpc-js client with its own connection (a local subchannel pool, so 200 of them really are 200
 * channels) and no client-side retries: every outcome the server produced reaches the caller.
 */
export function rawClient(addr: string): grpc.Client {
  return new grpc.Client(addr, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.enable_retries': 0,
  });
}

/** One unary call with identity (de)serializers and a deadline `deadlineMs` from now; never rejects. */
export function callRaw(
  client: grpc.Client,
  method: string,
  request: Buffer,
  deadlineMs: number,
): Promise<RawResult> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method,
      (b: Buffer) => b,
      (b: Buffer) => b,
      request,
      { deadline: Date.now() + deadlineMs },
      (error, value) => {
        if (error) resolve({ ok: false, code: error.code, details: error.details });
        else resolve({ ok: true, bytes: value ?? Buffer.alloc(0) });
      },
    );
  });
}

/** `BatchIdsRequest { count }` on the wire: tag 0x08 then the varint (omitted for 0, as proto3 does). */
export function encodeBatchIdsRequest(count: number): Buffer {
  if (count === 0) return Buffer.alloc(0);
  const bytes = [0x08];
  for (let v = count; ; v = Math.floor(v / 128)) {
    if (v < 128) {
      bytes.push(v);
      break;
    }
    bytes.push((v % 128) | 0x80);
  }
  return Buffer.from(bytes);
}

/** Protobuf wire reader over a Buffer: just what the responses of this service need. */
class Reader {
  offset = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.offset >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const byte = this.buf[this.offset++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return result;
    }
    throw new Error('varint longer than 10 bytes');
  }

  take(n: number): Buffer {
    if (this.offset + n > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** Skips a field of `wireType` (after its tag). */
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.take(8);
    else if (wireType === 2) this.take(Number(this.varint()));
    else if (wireType === 5) this.take(4);
    else throw new Error(`unsupported wire type ${wireType}`);
  }
}

/**
 * The `ids` of a BatchIdsResponse, in wire order: the contract's decoder (packed or unpacked fixed64,
 * unknown fields skipped), which the client package uses too; throws on malformed bytes.
 */
export function decodeIds(buf: Buffer): bigint[] {
  return decodeBatchIdsResponse(buf).ids;
}

/**
 * The layout and node IDs a server reports through GetInfo: the client package's `ServerInfo`, without
 * the address (a raw call knows whom it asked).
 */
export type ServerInfo = Omit<ClientServerInfo, 'address'>;

/** Decodes a GetInfoResponse; absent fields are proto3 zeros. */
export function decodeInfo(buf: Buffer): ServerInfo {
  const values = new Map<number, bigint>();
  const r = new Reader(buf);
  while (!r.done) {
    const tag = Number(r.varint());
    if ((tag & 7) === 0) values.set(tag >>> 3, r.varint());
    else r.skip(tag & 7);
  }
  const n = (field: number) => Number(values.get(field) ?? 0n);
  return {
    epochMs: n(1),
    timestampBits: n(2),
    datacenterBits: n(3),
    workerBits: n(4),
    sequenceBits: n(5),
    timeUnitMs: n(6),
    datacenterId: n(7),
    workerId: n(8),
    maxBatchSize: n(9),
  };
}
