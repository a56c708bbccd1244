/**
 * Stable machine-readable error codes of the service. Never renamed: logs, alerts and clients match on
 * them. Sent on the wire as the `reason` of a `google.rpc.ErrorInfo` and in {@link ERROR_CODE_METADATA_KEY}.
 */
export type ErrorCode =
  | 'INVALID_LAYOUT'
  | 'INVALID_CONFIG'
  | 'BATCH_SIZE_OUT_OF_RANGE'
  | 'INVALID_ID'
  | 'MALFORMED_REQUEST'
  | 'CLOCK_MOVED_BACKWARDS'
  | 'TIME_OVERFLOW'
  | 'SHUTTING_DOWN'
  | 'CANCELLED'
  | 'CLOCK_SKEW'
  | 'RESERVATION_UNAVAILABLE'
  | 'STARTING'
  | 'STATE_FILE_INVALID'
  | 'STATE_DIR_LOCKED'
  | 'STATE_DIR_UNUSABLE'
  | 'WORKER_IDS_EXHAUSTED'
  | 'WORKER_LEASE_LOST'
  | 'COORDINATION_FAILED'
  | 'RESPONSE_BACKLOG_FULL';

/**
 * `google.rpc.ErrorInfo.domain` of every error the service sends: its `reason`s are the {@link ErrorCode}s
 * of the `snowflake.v1` contract (e.g. `BATCH_SIZE_OUT_OF_RANGE`).
 */
export const ERROR_DOMAIN = 'snowflake.v1';

/**
 * Trailing-metadata key carrying the stable error code (e.g. BATCH_SIZE_OUT_OF_RANGE) on every error;
 * kept for clients that predate {@link STATUS_DETAILS_METADATA_KEY}.
 */
export const ERROR_CODE_METADATA_KEY = 'snowflake-error-code';

/** Trailing-metadata key of the serialized `google.rpc.Status` (gRPC's rich error model). */
export const STATUS_DETAILS_METADATA_KEY = 'grpc-status-details-bin';
