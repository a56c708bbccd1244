import { Metadata, status } from '@grpc/grpc-js';
import {
  encodeRichStatus,
  ERROR_CODE_METADATA_KEY,
  ERROR_DOMAIN,
  STATUS_DETAILS_METADATA_KEY,
  type ErrorCode,
} from '@snowflake-id/client/contract';
import { SnowflakeError } from '../errors';

const GRPC_STATUS: Record<ErrorCode, status> = {
  INVALID_LAYOUT: status.FAILED_PRECONDITION,
  INVALID_CONFIG: status.FAILED_PRECONDITION,
  BATCH_SIZE_OUT_OF_RANGE: status.INVALID_ARGUMENT,
  INVALID_ID: status.INVALID_ARGUMENT,
  MALFORMED_REQUEST: status.INVALID_ARGUMENT,
  CLOCK_MOVED_BACKWARDS: status.UNAVAILABLE,
  TIME_OVERFLOW: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
  CANCELLED: status.CANCELLED,
  CLOCK_SKEW: status.UNAVAILABLE,
  RESERVATION_UNAVAILABLE: status.UNAVAILABLE,
  STARTING: status.UNAVAILABLE,
  STATE_FILE_INVALID: status.FAILED_PRECONDITION,
  STATE_DIR_LOCKED: status.FAILED_PRECONDITION,
  STATE_DIR_UNUSABLE: status.FAILED_PRECONDITION,
  WORKER_IDS_EXHAUSTED: status.UNAVAILABLE,
  WORKER_LEASE_LOST: status.UNAVAILABLE,
  COORDINATION_FAILED: status.UNAVAILABLE,
  RESPONSE_BACKLOG_FULL: status.RESOURCE_EXHAUSTED,
};

/** A gRPC error status for the wire. */
export interface GrpcStatus {
  /** The gRPC status code. */
  code: status;
  /** Human-readable details, prefixed with the stable error code. */
  details: string;
  /**
   * Trailing metadata: the stable code as `snowflake-error-code`, and `grpc-status-details-bin`, a
   * `google.rpc.Status` (same code and message) with one `google.rpc.ErrorInfo` (reason = the stable
   * code, domain `snowflake.v1`, metadata = the error's facts).
   */
  metadata: Metadata;
}

/**
 * The one mapping from any thrown value to a gRPC status: {@link SnowflakeError}s keep their meaning,
 * anything else is a bug and becomes INTERNAL (reason `INTERNAL`) without leaking its message.
 */
export function toGrpcStatus(err: unknown): GrpcStatus {
  const known = err instanceof SnowflakeError;
  const reason = known ? err.code : 'INTERNAL';
  const code = known ? GRPC_STATUS[err.code] : status.INTERNAL;
  const details = `${reason}: ${known ? err.message : 'unexpected server error (logged)'}`;
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, reason);
  metadata.set(
    STATUS_DETAILS_METADATA_KEY,
    Buffer.from(
      encodeRichStatus({
        code,
        message: details,
        errorInfo: { reason, domain: ERROR_DOMAIN, metadata: known ? err.facts : {} },
      }),
    ),
  );
  return { code, details, metadata };
}
