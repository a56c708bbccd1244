import { SnowflakeError, RefusalError } from './core/errors';

export type { ErrorCode } from '@snowflake-id/client/contract';
// The errors the pure core throws live with it; every service error is importable from here.
export {
  ClockMovedBackwardsError,
  ClockSkewError,
  InvalidIdError,
  InvalidLayoutError,
  RefusalError,
  SnowflakeError,
  TimeOverflowError,
} from './core/errors';

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

/** Request bytes that do not parse as the method's request message. */
export class MalformedRequestError extends SnowflakeError {
  constructor(detail: string) {
    super('MALFORMED_REQUEST', `request message could not be decoded: ${detail}`);
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
