import { status } from '@grpc/grpc-js';

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
  | 'WORKER_IDS_EXHAUSTED'
  | 'WORKER_LEASE_LOST'
  | 'COORDINATION_FAILED'
  | 'RESPONSE_BACKLOG_FULL';

/** Base class of every error this service raises on purpose; `code` is stable, `message` is for humans. */
export class SnowflakeError extends Error {
  /** The stable code; see {@link ErrorCode}. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SnowflakeError';
    this.code = code;
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

/** BatchIds `count` outside 1…max_batch_size. */
export class BatchSizeError extends SnowflakeError {
  constructor(count: number, maxBatchSize: number) {
    super(
      'BATCH_SIZE_OUT_OF_RANGE',
      `count must be between 1 and ${maxBatchSize} (max_batch_size) inclusive; got ${count}`,
    );
  }
}

/** An ID that cannot have been issued under any layout (sign bit set). */
export class InvalidIdError extends SnowflakeError {
  constructor(message: string) {
    super('INVALID_ID', message);
  }
}

/** Request bytes that do not parse as the method's request message. */
export class MalformedRequestError extends SnowflakeError {
  constructor(detail: string) {
    super('MALFORMED_REQUEST', `request message could not be decoded: ${detail}`);
  }
}

/** The clock is further behind the last issued timestamp than the configured bound allows waiting for. */
export class ClockMovedBackwardsError extends RefusalError {
  /** How far behind the last issued timestamp the clock is, in ms. */
  readonly behindMs: number;

  constructor(behindMs: number, maxWaitMs: number) {
    super(
      'CLOCK_MOVED_BACKWARDS',
      `clock is ${behindMs} ms behind the last issued timestamp, more than the ${maxWaitMs} ms ` +
        `(SNOWFLAKE_MAX_CLOCK_BACKWARDS_MS) this server waits out; refusing to issue IDs until it catches up`,
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

/** The wall clock disagrees with the monotonic ID time base by more than SNOWFLAKE_MAX_CLOCK_SKEW_MS. */
export class ClockSkewError extends RefusalError {
  constructor(message: string) {
    super('CLOCK_SKEW', message);
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
  WORKER_IDS_EXHAUSTED: status.UNAVAILABLE,
  WORKER_LEASE_LOST: status.UNAVAILABLE,
  COORDINATION_FAILED: status.UNAVAILABLE,
  RESPONSE_BACKLOG_FULL: status.RESOURCE_EXHAUSTED,
};

/** A gRPC status code and message for the wire. */
export interface GrpcStatus {
  /** The gRPC status code. */
  code: status;
  /** Human-readable details, prefixed with the stable error code. */
  details: string;
}

/**
 * The one mapping from any thrown value to a gRPC status: {@link SnowflakeError}s keep their meaning,
 * anything else is a bug and becomes INTERNAL without leaking its message.
 */
export function toGrpcStatus(err: unknown): GrpcStatus {
  if (err instanceof SnowflakeError) {
    return { code: GRPC_STATUS[err.code], details: `${err.code}: ${err.message}` };
  }
  return { code: status.INTERNAL, details: 'INTERNAL: unexpected server error (logged)' };
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
