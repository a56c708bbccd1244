import { status, type ServiceError } from '@grpc/grpc-js';
import { ERROR_CODE_METADATA_KEY } from '../grpc/id-generator-service';

/**
 * Stable machine-readable codes of {@link IdClientError}. Never renamed: callers match on them.
 *
 * - `ALL_SERVERS_UNAVAILABLE`: every attempt failed with UNAVAILABLE (connection refused or unreachable,
 *   or the server refuses to issue IDs), RESOURCE_EXHAUSTED `RESPONSE_BACKLOG_FULL` (the server holds too
 *   many unread answers) or timed out, until the attempts or the call deadline ran out.
 * - `DEADLINE_EXCEEDED`: as above, but every attempt timed out (no server refused: they hang).
 * - `INVALID_ARGUMENT`: the request broke a documented limit, checked locally or by the server
 *   (`serverCode` then says which, e.g. `BATCH_SIZE_OUT_OF_RANGE`); never retried.
 * - `SERVER_ERROR`: any other gRPC status (INTERNAL, UNIMPLEMENTED, …); not retried.
 * - `INVALID_RESPONSE`: the server answered with something the contract rules out (wrong ID count, bad number).
 * - `CLIENT_CLOSED`: `close()` was called before or during the call.
 * - `INVALID_OPTIONS`: `createIdClient` was given an option outside its documented range.
 */
export type ClientErrorCode =
  | 'ALL_SERVERS_UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'INVALID_ARGUMENT'
  | 'SERVER_ERROR'
  | 'INVALID_RESPONSE'
  | 'CLIENT_CLOSED'
  | 'INVALID_OPTIONS';

/** One failed RPC attempt, as recorded in {@link IdClientError.attempts}. */
export interface AttemptFailure {
  /** The `host:port` the attempt went to. */
  readonly address: string;
  /** The gRPC status of the attempt (UNAVAILABLE for connection failures). */
  readonly grpcCode: status;
  /** The status details (server message or grpc-js connection error). */
  readonly details: string;
  /** The server's stable error code (trailing metadata `snowflake-error-code`), when it sent one. */
  readonly serverCode: string | undefined;
}

/** Optional fields of an {@link IdClientError}. */
export interface IdClientErrorDetails {
  /** gRPC status that ended the call, when a server answered. */
  readonly grpcCode?: status;
  /** The server's stable error code, when it sent one. */
  readonly serverCode?: string;
  /** Every failed attempt of the call, oldest first; empty when no RPC was made. */
  readonly attempts?: readonly AttemptFailure[];
}

/** Every error the client rejects with; `code` is stable, `message` is for humans. */
export class IdClientError extends Error {
  /** The stable code; see {@link ClientErrorCode}. */
  readonly code: ClientErrorCode;
  /** gRPC status that ended the call, when a server answered. */
  readonly grpcCode: status | undefined;
  /** The server's stable error code (e.g. `BATCH_SIZE_OUT_OF_RANGE`), when it sent one. */
  readonly serverCode: string | undefined;
  /** Every failed attempt of the call, oldest first; empty when no RPC was made. */
  readonly attempts: readonly AttemptFailure[];

  constructor(code: ClientErrorCode, message: string, details: IdClientErrorDetails = {}) {
    super(message);
    this.name = 'IdClientError';
    this.code = code;
    this.grpcCode = details.grpcCode;
    this.serverCode = details.serverCode;
    this.attempts = details.attempts ?? [];
  }
}

/** The {@link AttemptFailure} for a grpc-js error (anything else counts as UNAVAILABLE: it never reached a server). */
export function attemptFailure(address: string, err: unknown): AttemptFailure {
  if (isServiceError(err)) {
    const serverCode = err.metadata.get(ERROR_CODE_METADATA_KEY)[0];
    return {
      address,
      grpcCode: err.code,
      details: err.details,
      serverCode: typeof serverCode === 'string' ? serverCode : undefined,
    };
  }
  return {
    address,
    grpcCode: status.UNAVAILABLE,
    details: err instanceof Error ? err.message : String(err),
    serverCode: undefined,
  };
}

/** The name of a gRPC status code, e.g. `UNAVAILABLE` (the `grpc_code` label convention). */
export function statusName(code: status): string {
  // A code newer than this grpc-js has no name in its enum.
  return (status as unknown as Record<number, string | undefined>)[code] ?? String(code);
}

/** The error for a failure that must not be retried (INVALID_ARGUMENT or an unexpected status). */
export function terminalError(failure: AttemptFailure, attempts: readonly AttemptFailure[]): IdClientError {
  const code: ClientErrorCode =
    failure.grpcCode === status.INVALID_ARGUMENT ? 'INVALID_ARGUMENT' : 'SERVER_ERROR';
  return new IdClientError(
    code,
    `${failure.address} answered ${statusName(failure.grpcCode)}: ${failure.details}`,
    { grpcCode: failure.grpcCode, serverCode: failure.serverCode, attempts },
  );
}

function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === 'number' &&
    typeof (err as Partial<ServiceError>).details === 'string' &&
    (err as Partial<ServiceError>).metadata !== undefined
  );
}
