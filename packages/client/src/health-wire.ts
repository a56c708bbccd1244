import { WireReader, writeVarint } from './contract/wire';
import type { ServingStatus } from './messages';
import type { UnaryMethod } from './transport';

// grpc.health.v1 as published (grpc/grpc-proto health.proto), by field number:
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }  UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3
// Written out by hand so that a health check loads no proto-loader or protobufjs: an exec probe runs
// every few seconds, and they are most of its start-up time.
const STATUSES: readonly ServingStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];
const VARINT = 0;
const LENGTH_DELIMITED = 2;

/** The HealthCheckRequest bytes asking about `service` (`""`: the whole server). */
export function encodeHealthCheckRequest(request: { readonly service: string }): Buffer {
  const name = Buffer.from(request.service, 'utf8');
  if (name.length === 0) return Buffer.alloc(0);
  const key: number[] = [(1 << 3) | LENGTH_DELIMITED];
  writeVarint(key, BigInt(name.length));
  return Buffer.concat([Buffer.from(key), name]);
}

/**
 * The status in HealthCheckResponse bytes; throws RangeError for bytes that are not one, or a status
 * number health.proto does not define (grpc-js then fails the call with INTERNAL).
 */
export function decodeHealthCheckResponse(bytes: Uint8Array): { status: ServingStatus } {
  const reader = new WireReader(bytes, 'HealthCheckResponse');
  let value = 0;
  while (reader.more) {
    const { field, wireType } = reader.key();
    if (field === 1 && wireType === VARINT) value = reader.int32();
    else reader.skip(wireType);
  }
  const status = STATUSES[value];
  if (status === undefined) throw reader.error(`unknown ServingStatus ${value}`);
  return { status };
}

/** grpc.health.v1.Health/Check, as the client's transport calls it. */
export const HEALTH_CHECK: UnaryMethod<{ service: string }, { status: ServingStatus }> = {
  path: '/grpc.health.v1.Health/Check',
  requestSerialize: encodeHealthCheckRequest,
  responseDeserialize: decodeHealthCheckResponse,
};
