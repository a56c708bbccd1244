import { Metadata, status } from '@grpc/grpc-js';
import {
  ERROR_CODE_METADATA_KEY,
  ERROR_DOMAIN,
  STATUS_DETAILS_METADATA_KEY,
  encodeRichStatus,
} from './grpc/error-details';

/**
 * Stable machine-readable error codes. Never renamed: logs, alerts and clients match on them.
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

/** Base class of every error this service raises on purpose; `code` is stable, `message` is for humans. */
export class SnowflakeError extends Error {
  /** The stable code; see {@link ErrorCode}. */
  readonly code: ErrorCode;
  /**
   * Machine-readable facts about this error (sent as `google.rpc.ErrorInfo.metadata`), e.g. the allowed
   * range; lowerCamelCase keys, decimal strings for numbers. Empty when the code says it all.
   */
  readonly facts: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, facts: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'SnowflakeError';
    this.code = code;
    this.facts = facts;
  }
}

/**
 * The service cannot guarantee uniqueness right now and refuses to issue IDs (gRPC UNAVAILABLE, health
 * NOT_SERVING) until the condition clears.
 */
export class RefusalError extends SnowflakeError {}

/** A bit layout, epoch or time unit that cannot describe valid IDs (raised at boot). */
export class InvalidLayoutError extends SnowflakeError {
  constructor(message: string) {
    super('INVALID_LAYOUT', message);
  }
}

/** An environment variable or flag with a value outside its allowed range (raised at boot). */
export class InvalidConfigError extends SnowflakeError {
  constructor(message: string) {
    super('INVALID_CONFIG', message);
  }
}

/** BatchIds `count` outside 1…max_batch_size; facts `count`, `min` (1) and `max` (max_batch_size). */
export class BatchSizeError extends SnowflakeError {
  constructor(count: number, maxBatchSize: number) {
    super(
      'BATCH_SIZE_OUT_OF_RANGE',
      `count must be between 1 and ${maxBatchSize} (max_batch_size) inclusive; got ${count}`,
      { count: String(count), min: '1', max: String(maxBatchSize) },
    );
  }
}

/** An ID that cannot have been issued under any layout (sign bit set); facts as the caller gives them. */
export class InvalidIdError extends SnowflakeError {
  constructor(message: string, facts: Readonly<Record<string, string>> = {}) {
    super('INVALID_ID', message, facts);
  }
}

/** Request bytes that do not parse as the method's request message. */
export class MalformedRequestError extends SnowflakeError {
  constructor(detail: string) {
    super('MALFORMED_REQUEST', `request message could not be decoded: ${detail}`);
  }
}

/**
 * The clock is further behind the last issued timestamp than the configured bound allows waiting for;
 * facts `behindMs` and `maxWaitMs`.
 */
export class ClockMovedBackwardsError extends RefusalError {
  /** How far behind the last issued timestamp the clock is, in ms. */
  readonly behindMs: number;

  constructor(behindMs: number, maxWaitMs: number) {
    super(
      'CLOCK_MOVED_BACKWARDS',
      `clock is ${behindMs} ms behind the last issued timestamp, more than the ${maxWaitMs} ms ` +
        `(SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS) this server waits out; refusing to issue IDs until it catches up`,
      { behindMs: String(behindMs), maxWaitMs: String(maxWaitMs) },
    );
    this.behindMs = behindMs;
  }
}

/** The timestamp field cannot represent the current time: the layout's lifetime is over. */
export class TimeOverflowError extends RefusalError {
  constructor(message: string) {
    super('TIME_OVERFLOW', message);
  }
}

/** The server is draining and issues no more IDs. */
export class ShuttingDownError extends RefusalError {
  constructor() {
    super('SHUTTING_DOWN', 'server is shutting down; retry on another instance');
  }
}

/** The caller cancelled (or its deadline passed) while its IDs were being assembled. */
export class CancelledError extends SnowflakeError {
  constructor() {
    super('CANCELLED', 'call cancelled while waiting for the next tick');
  }
}

/**
 * The wall clock disagrees with the monotonic ID time base by more than SNOWFLAKE_MAX_CLOCK_SKEW_MS;
 * facts as the caller gives them.
 */
export class ClockSkewError extends RefusalError {
  constructor(message: string, facts: Readonly<Record<string, string>> = {}) {
    super('CLOCK_SKEW', message, facts);
  }
}

/** The timestamp reservation could not be persisted, so IDs past it cannot be issued. */
export class ReservationUnavailableError extends RefusalError {
  constructor(message: string) {
    super('RESERVATION_UNAVAILABLE', message);
  }
}

/** The service is still starting (e.g. waiting for the clock to pass the persisted reservation). */
export class StartingError extends RefusalError {
  constructor(message: string) {
    super('STARTING', message);
  }
}

/** The state file is unreadable, corrupt, or was written for another layout or node (raised at boot). */
export class StateFileError extends SnowflakeError {
  constructor(message: string) {
    super('STATE_FILE_INVALID', message);
  }
}

/** Another live process holds the state directory's lock (raised at boot). */
export class StateDirLockedError extends SnowflakeError {
  constructor(message: string) {
    super('STATE_DIR_LOCKED', message);
  }
}

/**
 * SNOWFLAKE_STATE_DIR cannot hold the state: on a pseudo-filesystem, not a directory, not writable,
 * read-only, full, or without file-lock support (raised at boot).
 */
export class StateDirError extends SnowflakeError {
  constructor(message: string, cause?: unknown) {
    super('STATE_DIR_UNUSABLE', message);
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * A BatchIds refused before any ID was issued because the responses its connection (or all connections
 * together) has queued, unread by the client, already fill the configured budget.
 */
export class ResponseBacklogFullError extends SnowflakeError {
  constructor(message: string) {
    super('RESPONSE_BACKLOG_FULL', message);
  }
}

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
    encodeRichStatus({
      code,
      message: details,
      errorInfo: { reason, domain: ERROR_DOMAIN, metadata: known ? err.facts : {} },
    }),
  );
  return { code, details, metadata };
}

/** Every worker ID of the datacenter is held by another live instance, so no worker ID can be claimed. */
export class WorkerIdsExhaustedError extends SnowflakeError {
  constructor(message: string) {
    super('WORKER_IDS_EXHAUSTED', message);
  }
}

/** The worker-ID lease is gone (expired, revoked or its key taken over): this node ID may not be used. */
export class WorkerLeaseLostError extends RefusalError {
  constructor(message: string) {
    super('WORKER_LEASE_LOST', message);
  }
}

/** The coordinator (etcd) could not be reached in time, or answered with data this service cannot use. */
export class CoordinationError extends RefusalError {
  constructor(message: string, cause?: unknown) {
    super('COORDINATION_FAILED', message);
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * The coordinator holds data this service cannot use (e.g. a reservation key that is not decimal Unix ms
 * or lies beyond the layout's time range): unlike an unreachable etcd, waiting does not fix it.
 */
export class CoordinationDataError extends CoordinationError {}

/**
 * The coordinator stayed unreachable (no answer, connection refused) for a claim's whole retry window:
 * unlike the other {@link CoordinationError}s, waiting longer may fix it. Message and cause are the last
 * attempt's.
 */
export class CoordinatorUnreachableError extends CoordinationError {}
